"""The demo projects: what the Train page suggests, and bundled weights that already know the
demos' shapes and figures (issue 17: the demos trained to mAP 0 from scratch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import YOLO
from engine.checkpoints.loading import read_weights
from studio.services.demo import (
    DEMO_VERSION,
    TRAIN_DEFAULTS,
    demo_project,
    suggested_plan,
)
from studio.services.projects import open_project
from studio.services.starting_weights import shipped_weights


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("demos")


@pytest.mark.parametrize("task", ["segment", "pose"])
def test_the_demo_starts_from_the_bundled_weights(demos: Path, task: str) -> None:
    weights = shipped_weights(task)
    assert weights is not None, f"resources/weights/demo-{task}.pt is missing"
    loaded = read_weights(weights)
    assert loaded.metadata["task"] == task
    assert loaded.metadata["provenance"]["made_by"] == "tools/demo_weights.py"
    assert weights.stat().st_size < 8 * 1024 * 1024  # fp16, no training state
    project = open_project(demo_project(task, root=demos))
    try:
        plan = suggested_plan(project)
    finally:
        project.close()
    assert Path(plan.model) == weights
    assert (plan.epochs, plan.imgsz, plan.batch) == tuple(
        TRAIN_DEFAULTS[task][k] for k in ("epochs", "imgsz", "batch"))


@pytest.mark.parametrize(("task", "second"), [("segment", "seg"), ("pose", "pose")])
def test_the_bundled_weights_find_the_demos_objects(demos: Path, task: str, second: str) -> None:
    """Scored on the demo's own val split, which they never saw: box and mask/pose mAP50 over
    0.5 before any fine-tuning (they were trained on another seed of the same generator)."""
    from studio.services.dataset_export import YAML_NAME, export_yolo

    project = open_project(demo_project(task, root=demos))
    try:
        data = export_yolo(project, demos / f"{task}-export").path / YAML_NAME
        imgsz = TRAIN_DEFAULTS[task]["imgsz"]
    finally:
        project.close()
    metrics = YOLO(shipped_weights(task)).val(data=str(data), imgsz=imgsz, plots=False,
                                           verbose=False, batch=16)
    assert metrics.box.map50 >= 0.5
    assert getattr(metrics, second).map50 >= 0.5


def test_the_classify_demo_trains_from_scratch(demos: Path) -> None:
    project = open_project(demo_project("classify", root=demos))
    try:
        assert suggested_plan(project).model == "yolov8n-cls.yaml"
    finally:
        project.close()


def test_an_older_demo_gets_the_new_suggestions(demos: Path) -> None:
    folder = demo_project("classify", root=demos / "old")
    project = open_project(folder)
    project.update_options(train_defaults={"epochs": 99}, demo_version=1)
    project.close()
    demo_project("classify", root=demos / "old")
    project = open_project(folder)
    try:
        options = project.settings().options
    finally:
        project.close()
    assert options["demo_version"] == DEMO_VERSION
    assert options["train_defaults"] == TRAIN_DEFAULTS["classify"]


def test_asking_for_a_demo_that_is_open_gives_its_folder_and_leaves_it_open(demos: Path) -> None:
    folder = demo_project("classify", root=demos / "open")
    project = open_project(folder)  # the window holds it
    try:
        assert demo_project("classify", root=demos / "open") == folder  # no lock error
        assert project.settings() is not None  # still usable by its holder
    finally:
        project.close()
