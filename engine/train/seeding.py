"""Seeding a run and saving / restoring every random generator it uses (for exact resume).

numpy's global generator is not among them: data sampling draws from generators seeded by
(seed, epoch, position), so it needs no state.
"""

from __future__ import annotations

import random
import sys
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    _deterministic_algorithms(deterministic)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.deterministic = deterministic
        torch.backends.cudnn.benchmark = not deterministic


def _deterministic_algorithms(on: bool) -> None:
    """What ``torch.use_deterministic_algorithms(on, warn_only=True)`` does, without its import
    of torch's compiler config (which loads ``torch._dynamo``: 1.2 s at every run's start on 2
    cores, for a flag that only a compiled model reads; a run never compiles). Written by hand
    because it makes starting faster; if torch changes its internals, the public call is used."""
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:
        torch.use_deterministic_algorithms(on, warn_only=True)
        return
    setter(on, warn_only=True)
    config = sys.modules.get("torch._inductor.config")  # loaded only if something compiled
    if config is not None:
        config.deterministic = on


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
