#!/usr/bin/env bash
# Installs the npm packages of the Node.js runner that runs TF.js exports
# (engine/backends/tfjs_runner, pinned by its package-lock.json). Without Node.js the rest of the
# project works and TF.js exports are still written; running them says what is missing.
set -uo pipefail
RUNNER="$(dirname "$0")/../engine/backends/tfjs_runner"
if ! command -v npm >/dev/null 2>&1; then
    echo "note: npm not found; install Node.js 18 or newer to run TF.js exports" >&2
    exit 0
fi
npm ci --prefix "$RUNNER" --no-audit --no-fund --loglevel=error ||
    echo "note: could not install the TF.js runner's npm packages; TF.js exports will not run" >&2
exit 0
