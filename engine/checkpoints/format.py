"""Our checkpoint: a plain dict of tensors, strings and numbers (``weights_only`` loadable).

Keys: ``format``, ``format_version``, ``engine_version``, ``date``, ``task``, ``model_yaml``,
``names``, ``state_dict``, ``train_args``, ``metrics``, ``epoch`` and whatever a trainer adds
(optimizer state, EMA, RNG states) in later formats.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import torch

from ..nn.model import TaskModel
from ..utils.atomic import atomic_write_with
from ..version import __version__

FORMAT_NAME = "yolo-studio-checkpoint"
FORMAT_VERSION = 1


def checkpoint_dict(
    model: TaskModel,
    *,
    train_args: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    epoch: int = -1,
    half: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything needed to rebuild ``model``, as plain data."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "engine_version": __version__,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "task": model.task,
        "model_yaml": _plain(model.yaml),
        "names": {int(k): str(v) for k, v in model.names.items()},
        "state_dict": state,
        "train_args": _plain(train_args or {}),
        "metrics": {str(k): float(v) for k, v in (metrics or {}).items()},
        "epoch": int(epoch),
        **({"keypoint_layout": _plain(model.keypoint_layout)} if model.keypoint_layout else {}),
        **(extra or {}),
    }


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` to ``path`` atomically (temp file, fsync, rename)."""
    target = Path(path)
    atomic_write_with(target, lambda handle: torch.save(checkpoint, handle))
    return target


def is_our_checkpoint(raw: Any) -> bool:
    return isinstance(raw, dict) and raw.get("format") == FORMAT_NAME


def _plain(value: Any) -> Any:
    """Deep-copy into types ``weights_only`` loading accepts (tuples become lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
