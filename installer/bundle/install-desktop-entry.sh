#!/usr/bin/env sh
# Adds YOLO Studio to the desktop's application menu, for this user: the .desktop file (with
# this folder's yolo-studio as its command) and the icon, under ~/.local/share. Run it from the
# unpacked bundle; run it again after moving the folder. Nothing is written elsewhere.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
mkdir -p "$data/applications" "$data/icons/hicolor/256x256/apps"
cp "$here/_internal/yolo-studio.png" "$data/icons/hicolor/256x256/apps/yolo-studio.png"
sed "s|^Exec=yolo-studio|Exec=\"$here/yolo-studio\"|" "$here/_internal/yolo-studio.desktop" \
    > "$data/applications/yolo-studio.desktop"
echo "YOLO Studio added to the application menu ($data/applications/yolo-studio.desktop)"
