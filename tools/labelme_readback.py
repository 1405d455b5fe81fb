"""Load every labelme JSON of a folder with labelme's own loader and print its shapes.

A check of ``engine.formats.labelme_labelset_write.write_labelme_folder`` against the tool itself,
not a test: labelme is GPL-3.0 and pulls in Qt, so it is never a dependency of this project.
Run it with a Python that has labelme installed, outside the project's virtualenv:

    python3 -m venv /tmp/labelme-venv && /tmp/labelme-venv/bin/pip install labelme
    /tmp/labelme-venv/bin/python tools/labelme_readback.py FOLDER

labelme's loader opens the image each JSON names (or its embedded ``imageData``) and checks its
size against ``imageWidth`` / ``imageHeight``, so the images must sit beside the JSON files.
It prints one block per file and exits 1 when any file fails to load.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections import Counter
from pathlib import Path


def _label_file_class():
    """labelme's LabelFile: ``labelme.LabelFile`` in 6.x, ``labelme.label_file`` before."""
    try:
        from labelme import LabelFile
    except ImportError:
        from labelme.label_file import LabelFile
    return LabelFile


def _attribute(loaded, new: str, old: str):
    # labelme 6 renamed imagePath / imageData and warns on the old names
    return getattr(loaded, new) if hasattr(loaded, new) else getattr(loaded, old)


def describe(path: Path, label_file) -> list[str]:
    """Lines saying what labelme read from ``path``."""
    from PIL import Image

    loaded = label_file(str(path))
    image_path = _attribute(loaded, "image_path", "imagePath")
    image_data = _attribute(loaded, "image_data", "imageData")
    with Image.open(io.BytesIO(image_data)) as image:
        size = f"{image.width}x{image.height}"
    flags = [name for name, on in (loaded.flags or {}).items() if on]
    lines = [f"{path.name}: imagePath={image_path} image={size} flags_true={flags} "
             f"shapes={len(loaded.shapes)}"]
    for index, shape in enumerate(loaded.shapes):
        mask = shape.get("mask")
        extra = "" if mask is None else f" mask={mask.shape[1]}x{mask.shape[0]}:{int(mask.sum())}px"
        lines.append(f"  shape {index}: {shape['shape_type']} label={shape['label']!r} "
                     f"points={len(shape['points'])} group_id={shape['group_id']}{extra}")
    kinds = Counter(shape["shape_type"] for shape in loaded.shapes)
    lines.append("  types: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder of labelme JSON files (searched below)")
    args = parser.parse_args(argv)
    label_file = _label_file_class()
    failed = 0
    files = sorted(args.folder.rglob("*.json"))
    for path in files:
        try:
            print("\n".join(describe(path, label_file)))
        except Exception as exc:  # noqa: BLE001 - report every file, whatever labelme raised
            failed += 1
            print(f"{path.name}: NOT LOADED: {type(exc).__name__}: {exc}")
    print(f"{len(files) - failed} of {len(files)} files loaded by labelme")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
