"""What ``optimizer='auto'`` resolves to, without torch: the trainer and the studio's Train page
call the same function, so the learning rate a page shows is the one a run uses.

``auto`` picks SGD (lr 0.01, momentum 0.9) for long runs (more than 10,000 optimizer
iterations, counted as the reference does: ``ceil(images / max(batch, nbs)) · epochs``) and
AdamW with ``lr = 0.002 · 5 / (4 + classes)`` (momentum 0.9) otherwise; ``lr0`` and
``momentum`` are then ignored. A named optimizer keeps ``lr0`` and ``momentum``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

AUTO_SGD_ITERATIONS = 10_000


@dataclass(frozen=True)
class OptimizerChoice:
    """The optimizer a run uses: its name, initial lr and momentum; ``auto`` when chosen by
    ``optimizer='auto'`` (the warm-up bias lr is then 0)."""

    name: str
    lr: float
    momentum: float
    auto: bool


def choose_optimizer(
    name: str, lr0: float, momentum: float, *, iterations: int, num_classes: int
) -> OptimizerChoice:
    """Resolve ``optimizer='auto'`` into a name, learning rate and momentum."""
    if name != "auto":
        return OptimizerChoice(name, lr0, momentum, auto=False)
    if iterations > AUTO_SGD_ITERATIONS:
        return OptimizerChoice("SGD", 0.01, 0.9, auto=True)
    return OptimizerChoice("AdamW", round(0.002 * 5 / (4 + num_classes), 6), 0.9, auto=True)


def auto_iterations(train_images: int, batch: int, nbs: int, epochs: int) -> int:
    """Optimizer iterations as ``auto`` counts them (gradients accumulate to ``nbs`` images)."""
    return math.ceil(train_images / max(batch, nbs)) * epochs


def resolve_optimizer(
    settings: Any, *, train_images: int, batch: int, num_classes: int
) -> OptimizerChoice:
    """The optimizer a run with ``settings`` (its ``optimizer``, ``lr0``, ``momentum``,
    ``nbs``, ``epochs``) uses on ``train_images`` images at ``batch`` with ``num_classes``
    classes. The trainer calls this; so does anything that shows the choice before a run."""
    iterations = auto_iterations(train_images, batch, int(settings.nbs), int(settings.epochs))
    return choose_optimizer(
        settings.optimizer,
        float(settings.lr0),
        float(settings.momentum),
        iterations=iterations,
        num_classes=num_classes,
    )
