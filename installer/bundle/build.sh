#!/usr/bin/env bash
# `make bundle`: the Linux desktop bundle, a folder that starts YOLO Studio on a machine with no
# Python, dist/yolo-studio-linux-<arch>/, and its archive dist/yolo-studio-linux-<arch>.tar.gz.
# Frozen from .venv by PyInstaller (installer/bundle/yolo-studio.spec says why PyInstaller and
# what is left out). YOLO_BUNDLE_EXPORTERS="openvino coreml" puts those exporters back in.
# Prints the bundle's size, the archive's and the build time (10-12 minutes on 2 cores).
#
# No AppImage: appimagetool is in neither PyPI nor Debian's archive here (PyPI's appimage
# builders download it, and its runtime, at build time), so the archive is the download.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
arch=$(uname -m)
name=yolo-studio-linux-$arch
work=build/bundle
start=$(date +%s)

"$PY" -m pip install --quiet --constraint installer/constraints.txt \
    -r installer/bundle/requirements.txt
rm -rf "$work/dist" "dist/$name" "dist/$name.tar.gz"
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$work/dist" \
    --workpath "$work/work" installer/bundle/yolo-studio.spec
mkdir -p dist
mv "$work/dist/yolo-studio" "dist/$name"
cp installer/bundle/install-desktop-entry.sh "dist/$name/"
frozen=$(date +%s)
tar -C dist -czf "dist/$name.tar.gz" "$name"
end=$(date +%s)

echo "bundle:  dist/$name  $(du -sm "dist/$name" | cut -f1) MiB"
echo "archive: dist/$name.tar.gz  $(du -m "dist/$name.tar.gz" | cut -f1) MiB"
echo "build:   $((end - start)) s (freezing $((frozen - start)) s, archiving $((end - frozen)) s)"
