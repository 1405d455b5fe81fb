"""``yolo convert`` through the installed console script, as a user runs it: labelme's own
example becomes a dataset that ``yolo segment train`` trains on; a bad zip is one message."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

from PIL import Image

from .test_yolo_console import ok, yolo

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _labelme_example(folder: Path) -> Path:
    """labelme's VOC instance-segmentation JSONs with blank photos of their size."""
    folder.mkdir(parents=True)
    for name in ("2011_000003", "2011_000006", "2011_000025"):
        shutil.copy(FIXTURES / "labelme" / f"{name}.json", folder)
        size = json.loads((folder / f"{name}.json").read_text())
        Image.new("RGB", (size["imageWidth"], size["imageHeight"]), (120, 90, 60)).save(
            folder / f"{name}.jpg")
    return folder


def test_convert_a_labelme_folder_then_train_on_it(tmp_path):
    source = _labelme_example(tmp_path / "data_annotated")
    out = ok(yolo("convert", f"source={source}", "output=voc-yolo", cwd=tmp_path))
    assert "format labelme (2011_000003.json: JSON with shapes); task segment (12 of 12 " \
           "objects are outlines)" in out
    assert "3 images: 12 objects read, 12 written, 0 skipped" in out
    assert "__ignore__" in out
    data = tmp_path / "voc-yolo" / "data.yaml"
    trained = ok(yolo("segment", "train", "model=yolov8n-seg.yaml", f"data={data}", "epochs=1",
                      "imgsz=64", "batch=4", "workers=0", "seed=0", cwd=tmp_path))
    assert "weights: " in trained


def test_a_zip_slip_archive_is_refused_with_one_message(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("annotations.xml", "<annotations/>")
        zipped.writestr("../../outside.txt", "x")
    done = yolo("convert", f"source={archive}", "output=out", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "outside.txt" in done.stderr and str(archive) in done.stderr
    assert not (tmp_path.parent / "outside.txt").exists() and not (tmp_path / "out").exists()
