#!/usr/bin/env bash
# `make test-bundle`: the Linux desktop bundle as a user runs it (tests/installer/test_bundle.py):
# under Xvfb, it opens the demo project, trains one epoch in its training child process,
# exports ONNX and quits; its Python is its own; without a display it says so in one line.
# Builds the bundle first when dist/ has none (installer/bundle/build.sh, 10-12 minutes on 2
# cores); the checks take 2-4 minutes. Needs Xvfb (Debian's xvfb, installed here when root).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
program=dist/yolo-studio-linux-$(uname -m)/yolo-studio

if ! command -v Xvfb >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y -qq xvfb >/dev/null || { apt-get update -qq && apt-get install -y -qq xvfb >/dev/null; }
    else
        echo "test-bundle needs Xvfb: sudo apt-get install xvfb"; exit 1
    fi
fi
if [ ! -x "$program" ]; then
    echo "No bundle in dist/ yet: building it (installer/bundle/build.sh)"
    bash installer/bundle/build.sh
fi
# -s prints the self-test's steps and times; `-o addopts=` drops the suite's 'not full_matrix' filter
# and its 30 slowest durations, which mean nothing for one file.
"$PY" -m pytest tests/installer/test_bundle.py -p no:cacheprovider -o addopts="-ra" \
    --timeout 1200 -v -s
