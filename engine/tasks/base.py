"""``Task``: everything the rest of the code asks about one task, in one value.

A task module (classify.py, segment.py, pose.py, detect.py) builds one ``Task`` and registers it
(registry.py). The engine's lower packages (train, val, predict, export) never look a task up:
the facade, the CLI, the benchmark and the studio hand them the piece they need (training
hooks, a val runner, prediction steps, a parity rule, sample images).

Importing this package imports no torch: the pieces that need it are built on first use, by the
small functions each task module passes in (their imports run when they are called).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..events import Reporter
    from ..export.parity import ParityRule
    from ..export.samples import SampleRule
    from ..predict.task_steps import DetectOptions
    from ..train.task import TaskHooks

ValRunner = Callable[..., tuple[Any, Path | None]]
"""``runner(forward, names, settings, imgsz, *, device, progress, cancel)`` -> (Validation,
the run's folder or None): the ``val`` run of a task (engine/val/)."""

Forward = Callable[[Any], Any]
"""A callable from a batch of images to what a model or an export outputs."""


@dataclass(frozen=True)
class Task:
    """One task: its names, its defaults, what it is judged by, and its pieces.

    Fields that are data:

    - ``name``: the word in ``yolo segment train``, ``runs/segment/`` and a checkpoint's task;
    - ``title``: the task in a sentence ("segmentation");
    - ``suffix``: its model names' suffix, ``yolov8n-seg.yaml`` (``-pose-p6`` is another
      packaged layout of the pose task);
    - ``imgsz``: the image size used when neither the caller nor the checkpoint gives one;
    - ``key_metric``: the results.csv column the task is judged by (the studio plots it first,
      the benchmark reports it); ``metric_label`` names it in tables;
    - ``metric_columns``: the results.csv columns a one-line summary of an epoch shows (the
      studio's run log);
    - ``fitness``: what training maximises to pick best.pt, from one row of metrics (the same
      number the task's validation gives as ``Validation.fitness``);
    - ``annotation_kind``: the kind of studio annotation that trains it ("polygon");
    - ``pretrained_on``: the dataset the official weights were trained on, and its number of
      classes (``("COCO", 80)``);
    - ``train_seconds_per_pixel``: roughly what training its n model costs on 2 CPU cores, in
      seconds per train image per epoch per pixel of imgsz² (validation included): the
      studio's duration estimate before a project has a run of its own to measure (the
      demos' epochs through the studio's run_training, benchmarks/demo_learns.py, on an idle
      2-core machine);
    - ``any_imgsz``: its models take any image size (a classifier pools globally); otherwise an
      export rounds the sides up to multiples of the model's largest stride.

    Fields that are pieces, built when called (each function imports what it needs):

    - ``hooks(progress)``: the training hooks (engine/train/task.py ``TaskHooks``);
    - ``validate``: the ``val`` run (``ValRunner``);
    - ``val_forward(run)``: wraps a model's or an export's forward into the one its validation
      takes;
    - ``steps(backend, imgsz, options)``: prediction's pre- and post-processing, which make the
      task's ``Results``;
    - ``parity()``: the export check's rule for comparing decisions;
    - ``samples()``: how the dataset's validation images are found and prepared for int8
      calibration and the export check;
    - ``sample_data(folder)``: writes a small generated dataset and returns what ``data=`` takes
      (tests, demos and benchmarks).
    """

    name: str
    title: str
    suffix: str
    imgsz: int
    key_metric: str
    metric_label: str
    metric_columns: tuple[str, ...]
    fitness: Callable[[Mapping[str, float]], float]
    annotation_kind: str
    pretrained_on: tuple[str, int]
    train_seconds_per_pixel: float
    hooks: Callable[[Reporter], TaskHooks]
    validate: ValRunner
    val_forward: Callable[[Forward], Forward]
    steps: Callable[[Any, int, DetectOptions], Any]
    parity: Callable[[], ParityRule]
    samples: Callable[[], SampleRule]
    sample_data: Callable[[Path], Path]
    any_imgsz: bool = False

    def model_name(self, scale: str = "n", extension: str = ".yaml") -> str:
        """The packaged model of this task at ``scale``: ``yolov8s-seg.yaml``."""
        return f"yolov8{scale}{self.suffix}{extension}"


def raw_forward(run: Forward) -> Forward:
    """The detection family's validation takes the outputs as they come."""
    return run


def detections_rule() -> ParityRule:
    """The detection family's parity rule: the same detections after non-max suppression."""
    from ..export.parity import DETECTIONS

    return DETECTIONS


def map_fitness(*columns: str) -> Callable[[Mapping[str, float]], float]:
    """Fitness as the sum of mAP50-95 columns (box, and mask or pose): what the detection
    family's validation gives."""

    def fitness(metrics: Mapping[str, float]) -> float:
        return float(sum(metrics[column] for column in columns))

    return fitness
