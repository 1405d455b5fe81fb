"""Starting a run: pick the task's hooks, load pretrained weights, or pick up a resumed run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..cancel import NEVER, CancelToken
from ..checkpoints import load_model
from ..config import Settings, validate_settings
from ..errors import CheckpointError, EngineError
from ..events import Reporter, ignore
from ..nn.model import TaskModel
from ..version import __version__
from .task import TaskHooks
from .trainer import Trainer, TrainResult

# Settings a resumed run may change; everything else comes from the interrupted run.
RESUME_OVERRIDABLE = ("device", "workers", "cache", "batch", "plots", "verbose")


def task_hooks(task: str, progress: Reporter = ignore, source: Path | None = None) -> TaskHooks:
    if task == "classify":
        from .classify import ClassifyTask

        return ClassifyTask(progress)
    if task == "segment":
        from .segment import SegmentTask

        return SegmentTask(progress)
    if task == "pose":
        from .pose import PoseTask

        return PoseTask(progress)
    raise EngineError(
        f"training {task} models is not available in engine {__version__} yet; "
        "classification, segmentation and pose are",
        path=source,
        key=None if source else "model",
    )


def resume_source(settings: Settings, checkpoint: Path | None) -> Path:
    """The last.pt to resume: ``resume=path``, or the model's own checkpoint."""
    if isinstance(settings.resume, str) and settings.resume not in ("True", "true"):
        return Path(settings.resume)
    if checkpoint is None:
        raise CheckpointError(
            "resume=True needs the interrupted run's checkpoint: pass model=runs/<task>/train/"
            "weights/last.pt (or resume=that path)",
            key="resume",
        )
    return checkpoint


def start_training(
    model: TaskModel,
    settings: Settings,
    *,
    checkpoint: Path | None = None,
    progress: Reporter = ignore,
    cancel: CancelToken = NEVER,
) -> TrainResult:
    """Train ``model`` with ``settings`` (or resume the run ``checkpoint`` belongs to)."""
    if settings.resume:
        return _resume(settings, checkpoint, progress, cancel)
    hooks = task_hooks(model.task, progress, checkpoint)
    fresh = checkpoint is None  # a new model from yaml: rebuilt after seeding
    return Trainer(hooks, model, settings, progress=progress, cancel=cancel, fresh=fresh).train()


def _resume(
    settings: Settings, checkpoint: Path | None, progress: Reporter, cancel: CancelToken
) -> TrainResult:
    source = resume_source(settings, checkpoint)
    model, weights = load_model(source)
    state: dict[str, Any] = weights.metadata
    if "train_state" not in state:
        raise CheckpointError(
            "has nothing to resume: its run finished (or it is not a last.pt). Start a new run "
            "with model=<this file> to train further",
            path=source,
        )
    saved = dict(state.get("train_args") or {})
    overrides = {
        k: getattr(settings, k) for k in RESUME_OVERRIDABLE if k in settings.model_fields_set
    }
    for key in ("save_dir",):
        saved.pop(key, None)
    merged = validate_settings(
        {**saved, **overrides, "resume": False, "mode": "train"}, source=str(source)
    )
    save_dir = source.parent.parent
    hooks = task_hooks(model.task, progress, source)
    trainer = Trainer(
        hooks,
        model.train(),
        merged,
        progress=progress,
        cancel=cancel,
        resume_state=state,
        save_dir=save_dir,
    )
    return trainer.train()
