#!/usr/bin/env bash
# Debian packages the project runs better or at all with; run by `make` before the venv install.
# Installs what is missing where it can (root, or sudo without a password, and apt-get);
# elsewhere it names what to install and carries on: every package here is optional for now.
#   libtcmalloc-minimal4: the allocator `yolo` preloads for training (engine/process/allocator.py:
#                         peak memory 1.82 -> 1.45 GiB on the segment benchmark, same speed).
set -uo pipefail
OPTIONAL=(libtcmalloc-minimal4)
# What Qt needs to open a real window (xcb) on a fresh Debian; offscreen (the tests) needs none.
OPTIONAL+=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
           libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
           libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 fonts-dejavu-core)
# The tests that start the real `yolo-studio` window: an X server without a screen (Xvfb) and
# xdotool to send it real key presses.
OPTIONAL+=(xvfb xauth xdotool)
# Node.js runs TF.js exports (engine/backends/tfjs_backend.py); only where no `node` is on PATH.
command -v node >/dev/null 2>&1 || OPTIONAL+=(nodejs npm)

missing=()
for package in "${OPTIONAL[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "note: not a Debian-like system; for lower training memory install tcmalloc (gperftools)" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "note: optional packages not installed (needs root): sudo apt-get install ${missing[*]}" >&2
    exit 0
fi
echo "installing optional system packages: ${missing[*]}"
if ! "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
    "${as_root[@]}" apt-get update -qq >/dev/null 2>&1
    "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
        echo "note: could not install ${missing[*]}: the studio may not open a window" \
            "(the tests run offscreen) and training uses the C library's malloc" >&2
fi
exit 0
