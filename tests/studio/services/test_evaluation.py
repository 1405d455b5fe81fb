"""The evaluation service: which val image the engine's per-image confusion cells belong to,
PR curves from probabilities, and a whole evaluation of a tiny classify project (the matrix of
segment and pose is the engine's: test_evaluation_engine_matrix.py)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.errors import ModelConfigError
from engine.export.decisive import make_decisive
from engine.nn import build_model
from engine.val.detection_confusion import ImageMatches
from studio.services.evaluation import (
    ImageOutcome,
    check_model,
    classify_pr_curves,
    engine_cells,
    evaluate,
)
from studio.services.importers import import_dataset


def test_engine_cells_find_each_image_by_its_hard_link_or_its_unique_name(tmp_path):
    project_files, exported = tmp_path / "images", tmp_path / "export"
    project_files.mkdir()
    exported.mkdir()
    images = []
    for image_id, name in ((1, "a.png"), (2, "b.png"), (3, "c.png"), (4, "c.png")):
        folder = project_files / str(image_id)
        folder.mkdir()
        (folder / name).write_bytes(bytes([image_id]))
        images.append((image_id, folder / name, ()))
    os.link(images[0][1], exported / "a-1.png")  # linked under another name: the same file
    (exported / "b.png").write_bytes(b"copy")  # a copy: found by its name, the only b.png
    (exported / "c.png").write_bytes(b"copy")  # two project images are called c.png: neither
    matches = [ImageMatches(str(exported / "a-1.png"), ((0, 0),)),
               ImageMatches(str(exported / "b.png"), ((1, 2), (2, 1))),
               ImageMatches(str(exported / "c.png"), ((0, 2),)),
               ImageMatches(None, ((1, 1),))]
    assert engine_cells(matches, images) == {1: ((0, 0),), 2: ((1, 2), (2, 1))}


def test_classify_pr_curves_of_a_perfect_and_a_poor_ranking():
    outcomes = [ImageOutcome(i, Path(f"{i}.jpg"), (t,), (t,), ((t, t),))
                for i, t in enumerate([0, 0, 1, 1])]
    probs = [np.array(p) for p in ([0.9, 0.1], [0.6, 0.05], [0.8, 0.9], [0.3, 0.7])]
    curves = classify_pr_curves(outcomes, probs, 2)
    assert curves.classes == (0, 1)
    assert curves.precision.shape == (2, len(curves.recall))
    assert curves.ap50[1] == pytest.approx(1.0)  # both class-1 images rank first
    assert curves.ap50[0] < 1.0  # a class-1 image ranks between the class-0 ones
    assert curves.mean.shape == curves.recall.shape


def test_check_model_refuses_another_task_or_class_count():
    with pytest.raises(ModelConfigError, match="is a classify model, but this is a segment"):
        check_model("classify", 2, "segment", 2, Path("m.pt"))
    with pytest.raises(ModelConfigError, match="predicts 3 classes, but the project has 2"):
        check_model("segment", 3, "segment", 2, Path("m.pt"))


def _classify_folder(root: Path) -> Path:
    for split, count in (("train", 2), ("val", 3)):
        for index, (name, colour) in enumerate((("red", (0, 0, 255)), ("blue", (255, 0, 0)))):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                image = np.full((40, 48, 3), colour, np.uint8)
                image[k * 5:k * 5 + 8, :8] = 128 + 40 * index
                cv2.imwrite(str(folder / f"{name}_{k}.png"), image)
    return root


def test_evaluate_a_classify_project(make_project, tmp_path):
    project = make_project("classify", classes=())
    import_dataset(project, _classify_folder(tmp_path / "colours"))
    names = [c.name for c in project.classes()]
    model = build_model("yolov8n-cls.yaml", num_classes=len(names))
    model.names = dict(enumerate(names))
    make_decisive(model)
    path = save_checkpoint(tmp_path / "best.pt", checkpoint_dict(model, train_args={"imgsz": 32}))
    seen = []
    result = evaluate(project, path, progress=lambda *args: seen.append(args))
    # two classes: no Top-5 column (top-5 of 2 classes is always 1)
    assert result.task == "classify" and result.columns == ["Images", "Top-1"]
    assert result.overall["Images"] == 6
    assert result.confusion.shape == (2, 2) and result.confusion.sum() == 6
    assert not result.has_background
    top1 = np.trace(result.confusion) / 6
    assert result.overall["Top-1"] == pytest.approx(top1)  # val and the outcomes agree
    for (row, column), count in np.ndenumerate(result.confusion):
        assert len(result.images_in_cell(row, column)) == count
    assert seen  # progress was reported
