"""The weights a new run starts from: what the Train page offers, found without a network call.

For a project's task and a scale, the candidates are, in this order: the official YOLOv8
weights of the task (COCO for segment and pose, ImageNet for classify), present in the weights
cache or still to download; the studio's own demo weights shipped in ``resources/weights``;
the project's earlier runs with a checkpoint; files the user chose before (remembered in the
project's options); and a model from scratch. Class counts need not match: the engine gives a
pretrained model a new head for the project's classes and keeps every layer that fits.

Listing the shipped weights reads their checkpoints (and imports torch), and checking a chosen
file reads it: both belong on a worker thread (:func:`saved_candidates`,
:func:`check_weights_file`); :func:`official_candidate` and :func:`scratch_candidate` only
look at the disk's directory and are cheap.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.cancel import NEVER, CancelToken
from engine.errors import EngineError, WeightsDownloadError
from engine.events import DownloadProgress
from engine.tasks import get_task
from engine.weights import WeightsOfflineError, official_url, resolve_weights, weights_cache_dir

from ..state.models import KEYPOINTS, annotation_kind
from .projects import Project
from .runs import list_runs
from .training import SCALES, TASK_SUFFIX, model_source

Kind = Literal["official", "bundled", "run", "file", "scratch"]
Progress = Callable[[int, int, str], None]

_PACKAGED = Path(__file__).resolve().parents[1] / "resources" / "weights"  # a wheel's (setup.py)
BUNDLED_FOLDER = (_PACKAGED if _PACKAGED.is_dir()
                  else Path(__file__).resolve().parents[2] / "resources" / "weights")
"""Where the studio's own starting weights ship (``demo-{task}.pt``, tools/demo_weights.py)."""
OPTIONS_KEY = "starting_weights"
"""The project option that remembers chosen files (``files``) and the last choice (``chosen``)."""
_GENERATED_SETS = {"make_shapes_dataset": "shapes", "make_figures_dataset": "stick figures"}
_REMEMBERED_FILES = 10


@dataclass(frozen=True)
class Candidate:
    """One starting point. ``model`` is what a run gets (a checkpoint path or a yaml name);
    ``present`` is False for official weights still to download (then ``url`` says from where
    and ``path`` where they will go)."""

    kind: Kind
    label: str
    model: str
    path: Path | None = None
    present: bool = True
    url: str = ""
    detail: str = ""
    class_names: tuple[str, ...] = ()

    @property
    def pretrained(self) -> bool:
        return self.kind != "scratch"


@dataclass(frozen=True)
class WeightsCheck:
    """What reading a weights file found: its task and classes, or ``message`` (why it cannot
    be used, naming the file; empty when it can)."""

    path: Path
    message: str = ""
    task: str = ""
    class_names: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    scale: str = ""

    @property
    def ok(self) -> bool:
        return not self.message


@dataclass(frozen=True)
class DownloadResult:
    """A finished download (``path``, ``verified`` when its SHA-256 was checked), or why not:
    ``offline`` (the file name, where to get it, where to put it) or ``failed`` (a wrong
    checksum, a cut download: the engine's message). Nothing is kept when it failed."""

    path: Path | None
    verified: bool = False
    offline: str = ""
    failed: str = ""

    @property
    def problem(self) -> str:
        return self.offline or self.failed


# -- the candidates ---------------------------------------------------------------------------


def official_name(task: str, scale: str) -> str:
    """``yolov8s-seg.pt``: the official weights of ``task`` at ``scale``."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    return f"yolov8{scale}{TASK_SUFFIX[task]}.pt"


def official_candidate(task: str, scale: str, cache_dir: Path | None = None) -> Candidate:
    """The official weights of ``task`` at ``scale``: present when in the weights cache."""
    name = official_name(task, scale)
    path = (cache_dir or weights_cache_dir()) / name
    dataset, classes = get_task(task).pretrained_on
    present = path.is_file()
    label = f"{name} · official, {dataset}" + ("" if present else " · not downloaded")
    detail = (f"The official YOLOv8 weights, pretrained on {dataset} ({classes} classes). "
              + (f"In {path.parent}." if present else
                 f"Not on this machine: Download fetches it from {official_url(name)}."))
    return Candidate("official", label, str(path) if present else name, path, present,
                     official_url(name), detail)


def scratch_candidate(task: str, scale: str) -> Candidate:
    """A new model with random weights (``yolov8s-seg.yaml``)."""
    yaml_name = model_source(task, scale)
    return Candidate("scratch", f"From scratch · {yaml_name}", yaml_name,
                     detail="Random weights: the model learns only from this project's images, "
                            "which takes many more images and epochs than starting pretrained.")


def bundled_candidates(task: str, folder: Path = BUNDLED_FOLDER) -> list[Candidate]:
    """The studio's demo weights for ``task`` shipped in ``folder`` (reads them: slow)."""
    path = shipped_weights(task, folder)
    if path is None:
        return []
    stat = path.stat()
    check = _check_shipped(str(path), task, stat.st_mtime_ns, stat.st_size)
    if not check.ok:  # a damaged shipped file is left out, not offered
        return []
    provenance = check.metadata.get("provenance")
    provenance = provenance if isinstance(provenance, Mapping) else {}
    subject = _GENERATED_SETS.get(str(provenance.get("generator", "")), path.stem)
    detail = f"Made by the studio for its {task} demo."
    if provenance:
        epochs = provenance.get("stop_after") or provenance.get("epochs", "?")
        detail = (f"Trained by {provenance.get('made_by', 'the studio')} on "
                  f"{provenance.get('images', '?')} generated images of {subject} "
                  f"({epochs} epochs at {provenance.get('imgsz', '?')} px, "
                  f"seed {provenance.get('seed', '?')}).")
    scale = f" · {check.scale}" if check.scale else ""
    return [Candidate("bundled", f"Demo weights ({subject}){scale}", str(path), path,
                      detail=f"{detail} Classes: {', '.join(check.class_names)}.",
                      class_names=check.class_names)]


@functools.lru_cache(maxsize=8)
def _check_shipped(path: str, task: str, _mtime_ns: int, _size: int) -> WeightsCheck:
    """Read once per file version: the list is made again after every run (0.5 s a read)."""
    return check_weights_file(path, task)


def run_candidates(project: Project) -> list[Candidate]:
    """The project's runs that have a checkpoint, newest first."""
    found = []
    for run in list_runs(project):
        path = run.checkpoint()
        if path is not None:
            found.append(Candidate("run", f"Run {run.name} · {path.name} · {run.status}",
                                   str(path), path, detail=f"{run.label}. {path}"))
    return found


def remembered_files(project: Project) -> list[Path]:
    """Files chosen before in this project, newest first (whether or not still there)."""
    stored = (project.settings().options or {}).get(OPTIONS_KEY) or {}
    files = stored.get("files") if isinstance(stored, Mapping) else None
    return [Path(p) for p in files if isinstance(p, str)] if isinstance(files, list) else []


def remember_file(project: Project, path: Path) -> None:
    """Remember a file the user chose (it is listed from now on) and make it the choice."""
    files = [str(path)] + [str(p) for p in remembered_files(project) if p != path]
    remember_choice(project, str(path), files=files[:_REMEMBERED_FILES])


def remember_choice(project: Project, model: str, *, files: Sequence[str] | None = None) -> None:
    """Store the user's choice (``model``), so that it is the default next time."""
    stored = (project.settings().options or {}).get(OPTIONS_KEY) or {}
    stored = dict(stored) if isinstance(stored, Mapping) else {}
    stored["chosen"] = model
    if files is not None:
        stored["files"] = list(files)
    project.update_options(**{OPTIONS_KEY: stored})


def remembered_choice(project: Project) -> str:
    stored = (project.settings().options or {}).get(OPTIONS_KEY) or {}
    chosen = stored.get("chosen") if isinstance(stored, Mapping) else None
    return chosen if isinstance(chosen, str) else ""


def file_candidates(project: Project) -> list[Candidate]:
    """The remembered files that are still there (they were checked when chosen)."""
    return [Candidate("file", f"{path.name} · {path.parent}", str(path), path,
                      detail=f"A file you chose: {path}")
            for path in remembered_files(project) if path.is_file()]


def shipped_weights(task: str, folder: Path = BUNDLED_FOLDER) -> Path | None:
    """The studio's weights file for ``task`` when it ships one (a stat, no read)."""
    path = folder / f"demo-{task}.pt"
    return path if path.is_file() else None


def combine(bundled: Iterable[Candidate], local: Iterable[Candidate]) -> list[Candidate]:
    """Shipped weights, then runs and files, each file once (a file chosen by hand that is
    also a shipped file or a run's checkpoint is listed as that)."""
    found: list[Candidate] = []
    for candidate in (*bundled, *local):
        if all(c.model != candidate.model for c in found):
            found.append(candidate)
    return found


def saved_candidates(project: Project, bundled_folder: Path = BUNDLED_FOLDER) -> list[Candidate]:
    """Everything but the official weights and scratch: shipped, runs, chosen files (slow:
    the shipped file is read)."""
    return combine(bundled_candidates(project.task, bundled_folder),
                   run_candidates(project) + file_candidates(project))


def arrange(task: str, scale: str, saved: Iterable[Candidate],
            cache_dir: Path | None = None) -> list[Candidate]:
    """The full list for ``scale``: official, then ``saved``, then from scratch."""
    return [official_candidate(task, scale, cache_dir), *saved, scratch_candidate(task, scale)]


def list_candidates(project: Project, scale: str, *, cache_dir: Path | None = None,
                    bundled_folder: Path = BUNDLED_FOLDER) -> list[Candidate]:
    """Every starting point for ``project`` at ``scale``, without any network call."""
    return arrange(project.task, scale, saved_candidates(project, bundled_folder), cache_dir)


def default_candidate(candidates: Sequence[Candidate], class_names: Sequence[str],
                      chosen: str = "") -> Candidate:
    """What a new run starts from unless the user says otherwise.

    The user's last choice when it is still offered; else shipped weights made for exactly
    these classes (the demos: trained on the same kind of images); else the official weights
    when present; else shipped weights of other classes; else from scratch. Pretrained whenever
    something pretrained is on disk.
    """
    usable = [c for c in candidates if c.present]
    names = tuple(class_names)
    rules = (
        lambda c: bool(chosen) and c.model == chosen,
        lambda c: c.kind == "bundled" and c.class_names == names,
        lambda c: c.kind == "official",
        lambda c: c.kind == "bundled",
    )
    for rule in rules:
        match = next((c for c in usable if rule(c)), None)
        if match is not None:
            return match
    return next(c for c in candidates if c.kind == "scratch")


def transfer_note(candidate: Candidate, task: str, class_names: Sequence[str]) -> str:
    """One sentence under the choice: what the engine does with the project's classes."""
    count = len(class_names)
    classes = "1 class" if count == 1 else f"{count} classes"
    if candidate.kind == "scratch":
        return candidate.detail
    if candidate.kind == "official":
        dataset, theirs = get_task(task).pretrained_on
        keypoints = " (and for its keypoints, when they differ from COCO's 17)" if (
            annotation_kind(task) == KEYPOINTS) else ""
        return (f"Pretrained on {dataset} ({theirs} classes). Training gives the model a new "
                f"head for this project's {classes}{keypoints} and keeps every layer that "
                "fits.")
    if candidate.class_names and candidate.class_names == tuple(class_names):
        return f"{candidate.detail} Same classes as this project: the whole model is reused."
    if candidate.class_names:
        return (f"{candidate.detail} Its classes differ from this project's {classes}: "
                "training makes a new head for them and keeps every layer that fits.")
    return (f"{candidate.detail} If its classes differ from this project's {classes}, training "
            "makes a new head for them and keeps every layer that fits.")


# -- reading a file, downloading -------------------------------------------------------------


def check_weights_file(path: str | Path, task: str) -> WeightsCheck:
    """Read ``path`` with the engine's checkpoint reader; never raises. A corrupt file, one the
    engine refuses, or one of another task gives a message naming the file."""
    from engine.checkpoints import load_model

    source = Path(path)
    try:
        model, weights = load_model(source)
    except EngineError as exc:
        return WeightsCheck(source, f"{source.name}: {exc.message}")
    except Exception as exc:  # noqa: BLE001 - a damaged file must not crash the page
        return WeightsCheck(source, f"{source.name}: cannot be read as a checkpoint "
                                    f"({type(exc).__name__}: {exc}); it may be damaged. "
                                    "Choose another file")
    names = tuple(model.names[i] for i in sorted(model.names))
    if model.task != task:
        return WeightsCheck(source, f"{source.name}: is a {model.task} model, but this project "
                                    f"trains {task} models. Choose a {task} checkpoint",
                            model.task, names)
    scale = model.yaml.get("scale") if isinstance(model.yaml, Mapping) else None
    return WeightsCheck(source, "", model.task, names, dict(weights.metadata),
                        str(scale) if scale in SCALES else "")


def download_official(candidate: Candidate, progress: Progress = lambda *_: None,
                      cancel: CancelToken = NEVER) -> DownloadResult:
    """Fetch official weights into the weights cache through the engine (progress in bytes,
    cancellable: a cancel leaves nothing behind). A failed download gives a result with the
    message (shown beside the choice, so no error dialog is needed for it)."""
    name = Path(candidate.model).name
    verified: list[bool] = []

    def report(event: object) -> None:
        if isinstance(event, DownloadProgress):  # the job's name already says which file
            size = f" of {event.total / 1e6:.1f}" if event.total else ""
            progress(event.done, event.total or 0, f"{event.done / 1e6:.1f}{size} MB")
            if event.finished:
                verified.append(bool(event.verified))

    try:
        path = resolve_weights(name, progress=report, cancel=cancel)
    except WeightsOfflineError as exc:
        return DownloadResult(None, offline=offline_message(name, exc.url or candidate.url,
                                                            exc.folder or weights_cache_dir()))
    except WeightsDownloadError as exc:
        return DownloadResult(None, failed=str(exc))
    return DownloadResult(path, verified=bool(verified and verified[-1]))


def offline_message(name: str, url: str, folder: Path) -> str:
    """The one message for weights that cannot be downloaded here."""
    return (f"{name} could not be downloaded: this computer cannot reach {url}. "
            f"Download it on a computer with internet access and put it in {folder}, "
            "or choose the file here.")
