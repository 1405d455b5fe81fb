"""Starting a run: the task's hooks (from the caller), pretrained weights, or a resumed run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..cancel import NEVER, CancelToken
from ..checkpoints import LoadedWeights, load_model, read_weights, save_checkpoint
from ..checkpoints.loading import finished_checkpoint
from ..config import Settings, validate_settings
from ..errors import CheckpointError, EngineError
from ..events import Reporter, Warning, ignore
from ..nn.model import TaskModel
from ..runs.train_result import TrainResult
from . import distributed
from .task import TaskHooks
from .trainer import Trainer

# Settings a resumed run may change; everything else comes from the interrupted run.
RESUME_OVERRIDABLE = ("device", "workers", "cache", "batch", "plots", "verbose")


HooksFor = Callable[[str, Path | None], TaskHooks]
"""The training hooks of a model's task: ``hooks_for(task, checkpoint)`` (the checkpoint names
the file in the error for a task that cannot train). The caller looks the task up
(engine/tasks/); this package never does."""


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
    hooks_for: HooksFor,
    checkpoint: Path | None = None,
    progress: Reporter = ignore,
    cancel: CancelToken = NEVER,
) -> TrainResult:
    """Train ``model`` with ``settings`` (or resume the run ``checkpoint`` belongs to), with
    the hooks ``hooks_for`` gives for the model's task.

    Under torchrun (``WORLD_SIZE`` > 1 in the environment) this process is one rank of a
    distributed run: it joins the process group, trains its share, and rank 0 alone writes
    the run folder and reports (engine/train/distributed.py). Otherwise nothing changes.
    """
    if cancel is NEVER and distributed.from_env().active:
        cancel = CancelToken()  # SIGTERM from torchrun must be able to stop the run
    with distributed.session(settings.device, cancel) as dist:
        if settings.resume:
            return _resume(settings, checkpoint, hooks_for, progress, cancel, dist)
        hooks = hooks_for(model.task, checkpoint)
        fresh = checkpoint is None  # a new model from yaml: rebuilt after seeding
        return Trainer(hooks, model, settings, progress=progress, cancel=cancel, fresh=fresh,
                       dist=dist).train()


def _resume(
    settings: Settings,
    checkpoint: Path | None,
    hooks_for: HooksFor,
    progress: Reporter,
    cancel: CancelToken,
    dist: distributed.Dist = distributed.SINGLE,
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
    hooks = hooks_for(model.task, source)
    if dist.is_main:  # the others read the run folder, never write it
        repair_best(weights, save_dir / "weights" / "best.pt", progress)
    trainer = Trainer(
        hooks,
        model.train(),
        merged,
        progress=progress,
        cancel=cancel,
        resume_state=state,
        save_dir=save_dir,
        dist=dist,
    )
    return trainer.train()


def repair_best(weights: LoadedWeights, best: Path, progress: Reporter = ignore) -> None:
    """Make ``best`` (the run's best.pt) the epoch that ``weights`` (its last.pt) records as
    the best.

    last.pt is saved before best.pt, so a run killed between the two saves left a last.pt that
    records its own epoch as the best while best.pt still holds an earlier one (or does not
    exist yet). last.pt's weights are that epoch's EMA, which is what best.pt holds: it is
    rewritten from them. Any other disagreement cannot be repaired and is only reported.
    """
    train_state = weights.metadata.get("train_state") or {}
    recorded, epoch = train_state.get("best_epoch"), weights.metadata.get("epoch")
    if recorded is None:
        return
    held = _epoch_of(best)
    if held == recorded:
        return
    holds = (
        f"holds epoch {held + 1}"
        if held is not None
        else "cannot be read"
        if best.exists()
        else "does not exist"
    )
    if recorded != epoch:  # last.pt holds another epoch's weights: nothing to rebuild from
        progress(
            Warning(
                f"{holds} while last.pt records epoch {recorded + 1} as the best; left as it is",
                str(best),
            )
        )
        return
    save_checkpoint(best, finished_checkpoint(weights))
    progress(
        Warning(
            f"{holds} but last.pt records epoch {recorded + 1} as the best (the run was stopped "
            "between saving the two); rewritten from last.pt, which holds that epoch's weights",
            str(best),
        )
    )


def _epoch_of(checkpoint: Path) -> int | None:
    """The epoch a checkpoint of ours holds; None when it is missing or unreadable."""
    if not checkpoint.is_file():
        return None
    try:
        epoch = read_weights(checkpoint).metadata.get("epoch")
    except EngineError:
        return None
    return int(epoch) if isinstance(epoch, int) else None
