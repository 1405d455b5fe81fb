"""Training a project's model: the Train page's use-case, without widgets.

``run_training(project, plan, feed, progress, cancel)`` is a plain function for a Job: it writes
the project's annotations as a YOLO dataset into the run's folder, records the run (with a
digest of the annotation state it used), trains with the engine in a child process
(training_process.py: the window never waits on it), stores every epoch as it ends
and closes the run as completed, cancelled or failed (with the reason). Engine events and the
studio's own notes go into a :class:`TrainingFeed`, a thread-safe queue the page drains on its
redraw clock: the training thread never waits on the GUI, and the GUI never gets a signal per
step.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import distinct, func, select

from engine.cancel import CancelToken
from engine.config import validate_settings
from engine.errors import Cancelled, EngineError, ModelConfigError, SettingsError
from engine.events import EpochEnd
from engine.tasks import all_tasks, find_task
from engine.train.auto_optimizer import OptimizerChoice, resolve_optimizer

from ..state.models import Annotation, Image, Run
from .job_progress import ProgressReporter
from .projects import Project
from .runs import (
    RunInfo,
    finish_run,
    list_runs,
    record_epoch,
    runs_folder,
    start_run,
)
from .training_process import train_in_child

log = logging.getLogger(__name__)

SCALES = ("n", "s", "m", "l", "x")
# What each task declares (engine/tasks/), by task name.
TASK_SUFFIX = {task.name: task.suffix for task in all_tasks()}
ANNOTATION_KIND = {task.name: task.annotation_kind for task in all_tasks()}
PRIMARY_METRIC = {task.name: task.key_metric for task in all_tasks()}
"""The metric a task's plots show first (and mark the best epoch of): its key metric."""
METRIC_COLUMNS = {task.name: task.metric_columns for task in all_tasks()}
"""The metrics an epoch's line in the run log shows."""
DATASET_FOLDER = "dataset"
EPOCH_SECONDS = "time/epoch"
"""Stored with each epoch's metrics: how long the epoch took (for later runs' estimates)."""
IS_BEST = "best/is_best"
"""Stored (1.0) with the epochs that were the best so far when they ended: the last one is the
epoch best.pt holds (the trainer's fitness, which no single metric column shows)."""


def epoch_record(event: EpochEnd) -> dict[str, float]:
    """What the database and the page keep of an epoch: its metrics, time and best flag."""
    record = {**dict(event.metrics), EPOCH_SECONDS: float(event.seconds)}
    if event.is_best:
        record[IS_BEST] = 1.0
    return record

Progress = Callable[[int, int, str], None]


class TrainingError(EngineError):
    """Training could not start or stopped on a problem the user can fix (the message says how)."""


# -- what the page offers --------------------------------------------------------------------


def model_source(task: str, scale: str) -> str:
    """The model yaml of a new ``task`` model at ``scale``: ``yolov8s-seg.yaml``."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    return f"yolov8{scale}{TASK_SUFFIX[task]}.yaml"


@dataclass(frozen=True)
class Device:
    """A device a run can use: ``value`` for the engine's ``device=``, ``label`` for people."""

    value: str
    label: str


def list_devices() -> list[Device]:
    """The CPU, each CUDA GPU (and all of them together when there are several: one training
    process per GPU) and Apple MPS, as torch sees them now (imports torch: slow once)."""
    import torch

    devices = [Device("cpu", "CPU")]
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        for index in range(count):
            devices.append(Device(str(index), f"GPU {index}: {torch.cuda.get_device_name(index)}"))
        if count >= 2:
            devices.append(Device(",".join(map(str, range(count))), f"All GPUs ({count})"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append(Device("mps", "Apple GPU (MPS)"))
    return devices


def gpu_indices(value: str) -> list[int] | None:
    """The GPUs a device value of several names (``"0,2"`` -> [0, 2]); None for one device or
    anything else (torch-free: the form reads it before torch has loaded)."""
    parts = [part.strip() for part in str(value).split(",")]
    if len(parts) < 2 or not all(part.isdigit() for part in parts):
        return None
    return [int(part) for part in parts]


def gpu_count(value: str) -> int:
    """How many GPUs a device value trains on (1 for one GPU, the CPU or MPS)."""
    return len(gpu_indices(value) or [value])


def resumable(run: RunInfo) -> bool:
    """A cancelled or failed run whose ``last.pt`` is on disk."""
    return run.status in ("cancelled", "failed") and run.last.is_file()


# -- the dataset ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetCheck:
    """How much of the project can be trained on: images, labelled ones, classes without any."""

    images: int
    labelled_images: int
    empty_classes: tuple[str, ...] = ()


def _live_annotations(task: str):
    return (select(Annotation)
            .join(Image, Annotation.image_id == Image.id)
            .where(Image.deleted_at.is_(None), Annotation.deleted_at.is_(None),
                   Annotation.draft.is_(False), Annotation.kind == ANNOTATION_KIND[task]))


def check_dataset(project: Project) -> DatasetCheck:
    """Count live images, labelled ones and the classes no image has."""
    task = project.task
    live = _live_annotations(task).subquery()
    with project.database.session() as session:
        images = session.scalar(select(func.count(Image.id)).where(Image.deleted_at.is_(None)))
        labelled = session.scalar(select(func.count(distinct(live.c.image_id))))
        used = set(session.scalars(select(live.c.class_index).distinct()).all())
    empty = tuple(info.name for info in project.classes() if info.index not in used)
    return DatasetCheck(int(images or 0), int(labelled or 0), empty)


@dataclass(frozen=True)
class TrainingData:
    """What a new run would train on: the images of the train split the dataset export writes
    (for classify, those with a class; for the others every image, unlabelled ones being
    backgrounds), how many of them are labelled, and the classes the trainer will see."""

    train_images: int
    labelled_train_images: int
    num_classes: int


def training_data(project: Project) -> TrainingData:
    """Count what :func:`run_training` would train on now (one query per figure)."""
    task = project.task
    train = func.coalesce(Image.split, "train") == "train"
    live = _live_annotations(task).where(train).subquery()
    with project.database.session() as session:
        images = session.scalar(select(func.count(Image.id))
                                .where(Image.deleted_at.is_(None), train))
        labelled = session.scalar(select(func.count(distinct(live.c.image_id))))
        used = set(session.scalars(select(live.c.class_index).distinct()).all())
    class_count = len(project.classes())
    if task == "classify":  # one folder per class with train images; one image, one class
        used = {index for index in used if 0 <= index < class_count}
        return TrainingData(int(labelled or 0), int(labelled or 0), len(used))
    return TrainingData(int(images or 0), int(labelled or 0), class_count)


def planned_optimizer(plan: TrainPlan, data: TrainingData) -> OptimizerChoice | None:
    """The optimizer and initial learning rate ``plan`` will train with on ``data`` (the
    engine's own rule for ``optimizer=auto``), or None while the settings are not valid."""
    try:
        settings = validate_settings({**dict(plan.overrides), "epochs": plan.epochs,
                                      "batch": plan.batch}, source="the run settings")
    except SettingsError:
        return None
    images = data.train_images
    if settings.fraction < 1.0:  # as the task hooks cut the train split
        images = max(1, round(images * settings.fraction))
    return resolve_optimizer(settings, train_images=max(images, 1),
                             batch=plan.batch, num_classes=max(data.num_classes, 1))


def dataset_state(project: Project) -> str:
    """A digest of the annotation state a run trains on: the live, accepted annotations' ids and
    ``updated_at``, and the live images' ids, splits and background marks (a split change or a
    background mark changes the data too: a marked image trains as a negative)."""
    digest = hashlib.sha1(usedforsecurity=False)
    with project.database.session() as session:
        for image_id, split, background in session.execute(
                select(Image.id, Image.split, Image.background).where(Image.deleted_at.is_(None))
                .order_by(Image.id)):
            mark = "b" if background else ""
            digest.update(f"i{image_id}:{split or 'train'}{mark};".encode())
        for annotation_id, updated in session.execute(
                select(Annotation.id, Annotation.updated_at)
                .join(Image, Annotation.image_id == Image.id)
                .where(Image.deleted_at.is_(None), Annotation.deleted_at.is_(None),
                       Annotation.draft.is_(False)).order_by(Annotation.id)):
            digest.update(f"a{annotation_id}:{updated.isoformat() if updated else ''};".encode())
    return digest.hexdigest()


def next_run_name(project: Project, stem: str = "train") -> str:
    """``train``, then ``train2``, ``train3`` … : a name no run and no folder under runs/ has."""
    taken = {run.name for run in list_runs(project)}
    folder = runs_folder(project)
    name, number = stem, 1
    while name in taken or (folder / name).exists():
        number += 1
        name = f"{stem}{number}"
    return name


# -- what the page hears ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunCreated:
    """The run is recorded in the database (its id) and will write to ``folder``."""

    run_id: int
    name: str
    folder: Path
    resumed: bool = False


@dataclass(frozen=True)
class Note:
    """A line for the page's log: ``info``, ``warning`` or ``error``."""

    level: Literal["info", "warning", "error"]
    text: str


@dataclass(frozen=True)
class RunEnded:
    """The run is closed in the database with ``status`` (and ``message`` for failures)."""

    run_id: int
    status: str
    message: str = ""


class TrainingFeed:
    """Events from the training thread to the page: ``put`` from any thread, ``drain`` on the
    GUI's clock. Appending and draining are O(1) per event and never block."""

    def __init__(self) -> None:
        self._events: deque[Any] = deque()

    def put(self, event: Any) -> None:
        self._events.append(event)

    def drain(self) -> list[Any]:
        """Every event put since the last drain, oldest first."""
        events = []
        while self._events:
            events.append(self._events.popleft())
        return events


# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainPlan:
    """What the page asks for. ``model`` is a model yaml or a checkpoint path; ``overrides`` are
    the engine settings that differ from their defaults (already validated by the page).
    ``resume_run_id`` continues that run from its ``last.pt`` instead."""

    model: str = "yolov8n-seg.yaml"
    epochs: int = 30
    imgsz: int = 320
    batch: int = 16
    device: str = "cpu"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    resume_run_id: int | None = None
    isolated: bool = True  # train in a child process (training_process.py); tests may not

    def settings(self) -> dict[str, Any]:
        """The run's settings as the database keeps them."""
        return {"model": self.model, "epochs": self.epochs, "imgsz": self.imgsz,
                "batch": self.batch, "device": self.device, **dict(self.overrides)}


def run_training(project: Project, plan: TrainPlan, feed: TrainingFeed, progress: Progress,
                 cancel: CancelToken) -> RunEnded:
    """Train as ``plan`` says (a Job's work function); returns how the run ended. A failure is
    recorded, put in ``feed`` and raised as ``TrainingError`` with a message for the user."""
    if plan.resume_run_id is not None:
        run = next((r for r in list_runs(project) if r.id == plan.resume_run_id), None)
        if run is None:
            raise TrainingError(f"run {plan.resume_run_id} is not in this project any more")
        _reopen_run(project, run.id)
        feed.put(RunCreated(run.id, run.name, run.folder, resumed=True))
        return _recorded(project, run.id, feed, progress, cancel,
                         lambda reporter: _resume(run, plan, reporter, cancel))
    name = next_run_name(project)
    folder = runs_folder(project) / name
    run_id = start_run(project, name=name, folder=folder, model=plan.model,
                       settings=plan.settings(), dataset_state=dataset_state(project))
    feed.put(RunCreated(run_id, name, folder))
    return _recorded(project, run_id, feed, progress, cancel,
                     lambda reporter: _fresh(project, plan, folder, feed, reporter, cancel))


def _recorded(project: Project, run_id: int, feed: TrainingFeed, progress: Progress,
              cancel: CancelToken, body: Callable[[Callable[[Any], None]], Any]) -> RunEnded:
    """Run ``body`` with a reporter that feeds the page and stores epochs; close the run."""

    def store_and_feed(event: Any) -> None:
        if isinstance(event, EpochEnd):  # stored first: the page may read it back at once
            record_epoch(project, run_id, event.epoch, epoch_record(event))
        feed.put(event)

    reporter = ProgressReporter(progress, mode="train", forward=store_and_feed)
    try:
        status = body(reporter).status
        ended = RunEnded(run_id, status, "stopped on request" if status == "cancelled" else "")
    except Cancelled:
        ended = RunEnded(run_id, "cancelled", "stopped on request")
    except BaseException as exc:
        message = failure_message(exc)
        _close(project, RunEnded(run_id, "failed", message), feed)
        raise TrainingError(message) from exc
    _close(project, ended, feed)
    return ended


def _close(project: Project, ended: RunEnded, feed: TrainingFeed) -> None:
    try:
        finish_run(project, ended.run_id, ended.status, ended.message or None)
    except Exception:  # noqa: BLE001 - e.g. the disk is full: the page still hears the end
        log.exception("could not record the end of run %s", ended.run_id)
    feed.put(ended)


def failure_message(exc: BaseException) -> str:
    """What went wrong, in words the page can show (a full disk says what to do)."""
    if isinstance(exc, EngineError):  # the engine's DiskFullError already says what was kept
        return str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or "No space left" in str(exc):
        return ("The disk is full; training stopped. The checkpoint of the last finished epoch "
                "(weights/last.pt) is kept: free some space, then Resume the run. "
                f"({exc})")
    return f"{type(exc).__name__}: {exc}"


def _fresh(project: Project, plan: TrainPlan, folder: Path, feed: TrainingFeed,
           reporter: Callable[[Any], None], cancel: CancelToken):
    """Check the data, device and model, write the dataset, and train a new run."""
    from engine.devices import parse_devices, select_device

    from .dataset_export import YAML_NAME, export_yolo

    task = project.task
    check = check_dataset(project)
    if check.labelled_images == 0:
        raise TrainingError(
            f"no labelled images ({check.images} images, none with a "
            f"{ANNOTATION_KIND[task]} label). Label some on the Annotate page, or import a "
            "labelled dataset, then start again")
    if check.empty_classes:
        feed.put(Note("warning", "no examples of " + ", ".join(check.empty_classes)
                      + ": the model cannot learn these classes"))
    try:
        if len(parse_devices(plan.device)) <= 1:  # several GPUs: one process each picks one
            select_device(plan.device)
    except EngineError as exc:
        raise TrainingError(f"the device {plan.device!r} is not available now ({exc.message}). "
                            "Choose another device and start again") from exc
    build = _build_arguments(project, plan.model)
    if not build or not plan.isolated:  # a checkpoint: its task is checked here
        model = _model(project, plan.model, build)
    feed.put(Note("info", f"writing the dataset ({check.labelled_images} labelled images)"))
    summary = export_yolo(project, folder / DATASET_FOLDER, cancel=cancel)
    for problem in summary.problems:
        level = "warning" if problem.get("severity") == "warning" else "error"
        feed.put(Note(level, f"{problem.get('path')}: {problem.get('reason')}"))
    data = summary.path if task == "classify" else summary.path / YAML_NAME
    settings = {**dict(plan.overrides), "data": str(data), "epochs": plan.epochs,
                "imgsz": plan.imgsz, "batch": plan.batch, "device": plan.device,
                "project": str(folder.parent), "name": folder.name, "exist_ok": True}
    if plan.isolated:
        return train_in_child({"model": plan.model, "build": build, "settings": settings},
                              reporter, cancel)
    return model.train(progress=reporter, cancel=cancel, **settings)


def _build_arguments(project: Project, source: str) -> dict[str, Any]:
    """What a new model from yaml is built with (sized for the project); {} for a checkpoint."""
    if not source.endswith((".yaml", ".yml")):
        return {}
    schema = project.keypoint_schema()
    return {"num_classes": max(len(project.classes()), 1),
            "keypoint_shape": None if schema is None else [len(schema.names), schema.dims]}


def _model(project: Project, source: str, build: Mapping[str, Any]):
    """The model to train: a new one from yaml built with ``build`` (``_build_arguments``) or
    a checkpoint of the project's task."""
    from engine import YOLO

    task = project.task
    if build:
        return YOLO(source, **build)
    path = Path(source)
    if not path.is_file():
        raise TrainingError(f"the checkpoint {path} is not there any more; choose another")
    try:
        model = YOLO(path)
    except EngineError as exc:
        raise TrainingError(f"{path.name} cannot be loaded as a checkpoint ({exc})") from exc
    if model.task != task:
        raise ModelConfigError(
            f"is a {model.task} model, but this project trains {task} models. Choose a {task} "
            "checkpoint (or start from a new model)", path=path)
    return model


def _resume(run: RunInfo, plan: TrainPlan, reporter: Callable[[Any], None],
            cancel: CancelToken):
    from engine import YOLO

    if not run.last.is_file():
        raise TrainingError(f"run {run.name} has no weights/last.pt to resume from; start a new "
                            "run instead")
    if plan.isolated:
        return train_in_child({"model": str(run.last), "resume": True,
                               "settings": {"device": plan.device}}, reporter, cancel)
    return YOLO(run.last).train(resume=True, device=plan.device, progress=reporter,
                                cancel=cancel)


def _reopen_run(project: Project, run_id: int) -> None:
    """Mark a run running again for its resume (runs.py has no call for this yet)."""
    with project.database.session() as session:
        run = session.get(Run, run_id)
        if run is not None:
            run.status, run.message, run.finished_at = "running", None, None


# -- how long a run will take -------------------------------------------------------------------

# Training cost of each scale relative to n (the YOLOv8 detection models' GFLOPs, 8.7 to 257.8
# at 640 px: the other tasks' ratios are close).
SCALE_COST = {"n": 1.0, "s": 3.3, "m": 9.1, "l": 19.0, "x": 29.6}
ROUGH_SECONDS_PER_PIXEL = 5.0e-6
"""Seconds per train image per epoch per pixel of imgsz² on 2 CPU cores for a task the engine
does not know; each task declares its own (``Task.train_seconds_per_pixel``, from the demos). A
rough start that the project's first run replaces."""
STARTUP_SECONDS = 7.0
"""Writing the dataset, starting the training process and the final validation (measured:
4-7 s for the demos), added to the epochs' time."""
MEASURED_RUNS = 5  # the newest runs an estimate reads


@dataclass(frozen=True)
class DurationEstimate:
    """About how long a run takes: ``seconds``, and ``basis``, what the figure rests on."""

    seconds: float
    basis: str
    measured: bool

    @property
    def text(self) -> str:
        """``about 1 min 40 s (estimate from 2 earlier runs of this project)``."""
        return f"{describe_duration(self.seconds)} ({self.basis})"


def describe_duration(seconds: float) -> str:
    """``about 40 s``, ``about 1 min 40 s``, ``about 2 h 10 min`` (rounded as an estimate)."""
    if seconds < 60:
        return f"about {max(5, round(seconds / 5) * 5)} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds / 10) * 10, 60)
        return f"about {minutes} min" + (f" {rest} s" if rest else "")
    hours, rest = divmod(round(seconds / 600) * 10, 60)
    return f"about {hours} h" + (f" {rest} min" if rest else "")


def model_scale(model: str) -> str | None:
    """The scale letter of ``yolov8s-seg.yaml`` / ``…/yolov8m-pose.pt``; None when unknown."""
    match = re.search(r"yolov8([nsmlx])", Path(model).name)
    return match.group(1) if match else None


def measured_costs(project: Project, runs: list[RunInfo],
                   known: dict[int, float | None] | None = None) -> list[float]:
    """The speed of the project's newest runs that can be measured, as seconds per (epoch ·
    train image · imgsz² · scale cost): for :func:`estimate_duration`. It reads the database
    and the runs' dataset folders, so a caller may pass ``known``: the figures of finished
    runs are kept there and not read again."""
    from .runs import run_epochs

    known = {} if known is None else known
    costs = []
    for run in runs[:MEASURED_RUNS]:
        if run.id in known:
            cost = known[run.id]
        else:
            cost = _run_cost(run, run_epochs(project, run.id)) if run.epochs_done else None
            if run.status != "running":
                known[run.id] = cost
        if cost is not None:
            costs.append(cost)
    return costs


def estimate_duration(task: str, plan: TrainPlan, data: TrainingData,
                      costs: list[float]) -> DurationEstimate:
    """How long ``plan`` takes on ``data``: at the median measured speed of the project's
    earlier runs (``costs``: :func:`measured_costs`) when there are any, else at a rough
    per-image cost of the model's scale on this machine."""
    scale = model_scale(plan.model) or "n"
    work = plan.epochs * max(data.train_images, 1) * plan.imgsz ** 2 * SCALE_COST[scale]
    if costs:
        ordered = sorted(costs)
        runs_text = "1 earlier run" if len(costs) == 1 else f"{len(costs)} earlier runs"
        return DurationEstimate(STARTUP_SECONDS + work * ordered[len(ordered) // 2],
                                f"estimate from {runs_text} of this project", True)
    cpus = os.cpu_count() or 2
    known = find_task(task)
    per_pixel = known.train_seconds_per_pixel if known is not None else ROUGH_SECONDS_PER_PIXEL
    rough = per_pixel * 2 / min(cpus, 16)
    if plan.device not in ("cpu", ""):
        rough /= 20 * gpu_count(plan.device)  # very rough, the first run measures it
    return DurationEstimate(STARTUP_SECONDS + work * rough,
                            f"rough estimate for yolov8{scale} on this machine", False)


def _run_cost(run: RunInfo, epochs: list[tuple[int, dict[str, float]]]) -> float | None:
    """Seconds per (epoch · train image · imgsz² · scale cost) of an earlier run, or None."""
    timed = [m[EPOCH_SECONDS] for _e, m in epochs if EPOCH_SECONDS in m]
    if timed:
        seconds, count = float(sum(timed)), len(timed)
    elif run.status == "completed" and run.finished_at is not None and epochs:
        seconds = (run.finished_at - run.started_at).total_seconds()  # set-up included
        count = len(epochs)
    else:
        return None
    images = _train_images_of(run.folder / DATASET_FOLDER)
    imgsz = run.settings.get("imgsz")
    if not images or not isinstance(imgsz, int) or seconds <= 0:
        return None
    scale = model_scale(str(run.model)) or "n"
    return seconds / (count * images * imgsz ** 2 * SCALE_COST[scale])


def _train_images_of(dataset: Path) -> int:
    """Images the run trained on: ``images/train/*`` (detection family) or ``train/*/*``."""
    folder = dataset / "images" / "train"
    if not folder.is_dir():
        folder = dataset / "train"
    if not folder.is_dir():
        return 0
    return sum(1 for path in folder.rglob("*") if path.is_file())
