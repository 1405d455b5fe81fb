"""The demo projects `make run` opens: generated on first use (nothing to download), one per
task, small enough to train in about a minute on a laptop CPU.

Each is a project folder under the studio's data folder (``YOLO_STUDIO_DATA_DIR`` moves it)
with the generated dataset beside it, imported through the same importer a user's dataset goes
through; the images are copied into the project.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from engine.cancel import NEVER, CancelToken
from engine.data.figure_samples import make_figures_dataset
from engine.data.shape_samples import make_shapes_dataset
from engine.utils.cache_dirs import data_folder

from ..errors import ProjectLocked
from .keypoint_schemas import KeypointSchema
from .projects import create_project, open_project
from .starting_weights import (
    default_candidate,
    list_candidates,
    remembered_choice,
)
from .training import TrainPlan

# The demos are the studio's own, so their settings stay here, keyed by task name.
DEMO_TASKS = ("segment", "pose", "classify")
COLOURS = {"red": (40, 40, 220), "green": (60, 180, 60), "blue": (200, 90, 30)}  # BGR
TRAIN_DEFAULTS = {  # what the Train page offers first: about a minute on a laptop CPU
    "segment": {"epochs": 10, "imgsz": 160, "batch": 16},
    "pose": {"epochs": 10, "imgsz": 160, "batch": 16},
    "classify": {"epochs": 10, "imgsz": 64, "batch": 16},
}
# Version 2: the segment and pose demos start from the bundled weights (resources/weights/);
# an older demo project gets the new suggestions when it is next opened.
DEMO_VERSION = 2


def suggested_plan(project) -> TrainPlan:
    """The run the Train page suggests for ``project``: its suggested epochs, image size and
    batch, from the starting weights the page picks by default (the bundled weights for the
    segment and pose demos)."""
    defaults = dict((project.settings().options or {}).get("train_defaults", {}))
    names = [c.name for c in project.classes()]
    start = default_candidate(list_candidates(project, "n"), names, remembered_choice(project))
    return TrainPlan(model=start.model, epochs=int(defaults.get("epochs", 30)),
                     imgsz=int(defaults.get("imgsz", 320)), batch=int(defaults.get("batch", 16)))


def demo_project(task: str = "segment", *, root: Path | None = None,
                 progress: Callable[[int, int, str], None] | None = None,
                 cancel: CancelToken = NEVER) -> Path:
    """The folder of the demo project for ``task``, made on first use."""
    if task not in DEMO_TASKS:
        raise ValueError(f"no demo project for {task!r}; there is one for {', '.join(DEMO_TASKS)}")
    folder = (root or data_folder()) / f"demo-{task}"
    if (folder / "project.db").is_file():
        _refresh_suggestions(folder, task)
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    # built in a scratch folder, then renamed: an interrupted first run leaves no half project
    scratch = Path(tempfile.mkdtemp(prefix=f".demo-{task}-", dir=folder.parent))
    try:
        _build(task, scratch, progress or (lambda *_: None), cancel)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(scratch, folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


def _build(task: str, folder: Path, progress, cancel: CancelToken) -> None:
    from .importers import import_dataset

    source = folder.parent / f".{folder.name}-source"
    shutil.rmtree(source, ignore_errors=True)
    try:
        if task == "segment":
            data = make_shapes_dataset(source, size=256, train=48, val=16)
            kwargs = {}
        elif task == "pose":
            data = make_figures_dataset(source, size=256, train=48, val=16)
            kwargs = {"keypoints": _figure_schema(data)}
        else:
            data = _colour_folder(source)
            kwargs = {}
        project = create_project(folder, name=f"Demo ({task})", task=task, **kwargs)
        try:
            import_dataset(project, data, copy=True, progress=progress, cancel=cancel)
            project.update_options(train_defaults=TRAIN_DEFAULTS[task], demo_version=DEMO_VERSION)
        finally:
            project.close()
    finally:
        shutil.rmtree(source, ignore_errors=True)


def _refresh_suggestions(folder: Path, task: str) -> None:
    """A demo made by an older version gets this version's suggested settings. A demo open
    right now (here or in another studio) is left as it is: whoever opens it next meets the
    lock and says so, or finds it open already."""
    try:
        project = open_project(folder)
    except ProjectLocked:
        return
    try:
        if (project.settings().options or {}).get("demo_version", 1) < DEMO_VERSION:
            project.update_options(train_defaults=TRAIN_DEFAULTS[task],
                                   demo_version=DEMO_VERSION)
    finally:
        project.close()


def _figure_schema(yaml_path: Path) -> KeypointSchema:
    import yaml

    spec = yaml.safe_load(yaml_path.read_text())
    return KeypointSchema.build(spec["kpt_names"], spec.get("skeleton", ()),
                                spec.get("flip_idx"), int(spec["kpt_shape"][1]))


def _colour_folder(root: Path, per_class: int = 24) -> Path:
    """Photos of coloured discs on noise: red, green, blue (classify)."""
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("val", per_class // 3)):
        for name, colour in COLOURS.items():
            target = root / split / name
            target.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                image = rng.integers(60, 200, (96, 96, 3), dtype=np.uint8)
                centre = tuple(int(v) for v in rng.integers(30, 66, 2))
                shade = np.clip(np.array(colour) + rng.integers(-30, 30, 3), 0, 255)
                cv2.circle(image, centre, int(rng.integers(16, 28)),
                           tuple(int(v) for v in shade), -1)
                cv2.imwrite(str(target / f"{name}_{index:03d}.jpg"), image)
    return root
