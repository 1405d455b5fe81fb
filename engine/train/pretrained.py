"""``pretrained=weights.pt``: start a run from another model's matching tensors."""

from __future__ import annotations

from pathlib import Path

from ..checkpoints import read_weights
from ..checkpoints.loading import cast_like
from ..events import Reporter, Warning
from ..nn.model import TaskModel
from ..weights import resolve_weights


def transfer_pretrained(model: TaskModel, source: str | Path, progress: Reporter) -> int:
    """Copy tensors matching by name and shape from ``source`` into ``model``; returns count."""
    path = resolve_weights(source, progress=progress)
    weights = read_weights(path)
    target = model.state_dict()
    matched = {
        k: v for k, v in weights.state_dict.items() if k in target and v.shape == target[k].shape
    }
    model.load_state_dict(cast_like(matched, target), strict=False)
    progress(Warning(f"transferred {len(matched)}/{len(target)} tensors from {source}", None))
    return len(matched)
