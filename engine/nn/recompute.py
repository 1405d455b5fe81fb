"""Activation recomputation for training: a layer keeps only its inputs, and backward runs it
again to get what it needs.

For the cheap, high-resolution layers (the stem at strides 2 and 4 hold a quarter of a
yolov8n-seg step's saved activations for ~6% of its arithmetic) this trades a little time for
memory. The second run must not count the batch twice: batch norms keep their running
statistics and batch counter as the first run left them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


@contextlib.contextmanager
def _statistics_frozen(module: nn.Module) -> Iterator[None]:
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d) and m.training]
    kept = [(m.momentum, m.num_batches_tracked.clone()) for m in norms]
    for norm in norms:
        norm.momentum = 0.0  # running = 1·running + 0·batch: unchanged
    try:
        yield
    finally:
        for norm, (momentum, count) in zip(norms, kept, strict=True):
            norm.momentum = momentum
            norm.num_batches_tracked.copy_(count)


def recomputed(module: nn.Module, *inputs):
    """``module(*inputs)``, keeping only the inputs for backward when training with
    gradients on; a plain call otherwise."""
    if not (module.training and torch.is_grad_enabled()):
        return module(*inputs)
    return checkpoint(
        module,
        *inputs,
        use_reentrant=False,
        context_fn=lambda: (contextlib.nullcontext(), _statistics_frozen(module)),
    )
