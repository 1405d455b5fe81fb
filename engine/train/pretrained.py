"""``pretrained=weights.pt``: start a run from another model's matching tensors."""

from __future__ import annotations

from pathlib import Path

from ..checkpoints import read_weights, transfer_matching
from ..events import Reporter, Warning
from ..nn.model import TaskModel
from ..weights import resolve_weights


def transfer_pretrained(model: TaskModel, source: str | Path, progress: Reporter) -> int:
    """Copy tensors matching by name and shape from ``source`` into ``model``; returns count."""
    path = resolve_weights(source, progress=progress)
    total = len(model.state_dict())
    matched = transfer_matching(model, read_weights(path).state_dict)
    progress(Warning(f"transferred {len(matched)}/{total} tensors from {source}", None))
    return len(matched)
