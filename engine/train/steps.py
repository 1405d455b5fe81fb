"""The pieces of a training step: batches onto the device, the optimizer step with clipping
and EMA, running loss means, and the NaN guard."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import EngineError
from .setup import Setup

MAX_GRAD_NORM = 10.0
# Steps with a non-finite loss are skipped; this many in a row stop the run.
MAX_NONFINITE_STEPS = 10


class TrainingDiverged(EngineError):  # noqa: N818 - the name says what happened
    """The loss stayed NaN/inf; no checkpoint was written from the broken weights."""


def to_device(batch: dict, setup: Setup) -> dict:
    """``batch``'s tensors on the run's device; images in its memory format."""
    out = {
        k: v.to(setup.device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }
    out["img"] = out["img"].contiguous(memory_format=setup.memory_format)
    return out


def optimizer_step(setup: Setup) -> bool:
    """Unscale, clip, step, zero the (kept) gradients, then update the EMA.

    Returns False when mixed precision skipped the step: the scaler found inf/NaN gradients
    and lowered its scale (under DDP the gradients, so the skips, are the same on every rank).
    """
    scaler = setup.scaler
    before = scaler.get_scale() if scaler.is_enabled() else None
    scaler.unscale_(setup.optimizer)
    torch.nn.utils.clip_grad_norm_(setup.model.parameters(), max_norm=MAX_GRAD_NORM)
    scaler.step(setup.optimizer)
    scaler.update()
    setup.optimizer.zero_grad(set_to_none=False)
    setup.ema.update(setup.model)
    return before is None or scaler.get_scale() >= before


def skip_step(setup: Setup, loss: torch.Tensor, *, epoch: int, step: int, nonfinite: int,
              save_dir: Path | None, warn: Callable[[str], None]) -> None:
    """Skip step ``step`` of ``epoch`` (0-based), whose loss is not finite: say so and drop its
    gradients. ``nonfinite`` counts such steps in a row, this one included; the run stops at
    MAX_NONFINITE_STEPS."""
    warn(f"epoch {epoch + 1} step {step + 1}: the loss is {loss.item()}; the step was skipped")
    setup.optimizer.zero_grad(set_to_none=False)
    if nonfinite >= MAX_NONFINITE_STEPS:
        raise TrainingDiverged(
            f"the loss was not finite in {nonfinite} steps of epoch {epoch + 1}; "
            "training stopped with the last good checkpoint kept. Lower lr0, "
            "check the labels, or set amp=False",
            path=save_dir,
        )


def check_finite_weights(model: torch.nn.Module, epoch: int, save_dir: Path | None) -> None:
    """Refuse to save weights that became NaN/inf in ``epoch`` (0-based)."""
    if not all(
        torch.isfinite(p).all() for p in model.state_dict().values() if p.is_floating_point()
    ):
        raise TrainingDiverged(
            f"the weights became NaN/inf in epoch {epoch + 1}; the last good checkpoint "
            "was kept. Lower lr0 or set amp=False",
            path=save_dir,
        )


class LossMeter:
    """Running means of an epoch's loss items, and the images per second since last asked."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.total: torch.Tensor | None = None
        self.count = 0
        self._window_start, self._window_images = time.perf_counter(), 0

    def add(self, items: torch.Tensor, images: int) -> None:
        items = items.detach()
        self.total = items if self.total is None else self.total + items
        self.count += 1
        self._window_images += images

    def means(self) -> dict[str, float]:
        """Each loss's mean over the steps so far, by name ({} before the first)."""
        if self.total is None:
            return {}
        values = (self.total / max(self.count, 1)).float().cpu().reshape(-1).tolist()
        return dict(zip(self.names, values, strict=False))

    def rate(self) -> float:
        """Images per second since the last call (or the start)."""
        now = time.perf_counter()
        rate = self._window_images / max(now - self._window_start, 1e-9)
        self._window_start, self._window_images = now, 0
        return rate
