"""Optimizer, parameter groups and learning-rate schedule, after the reference recipe.

Three groups: biases (pg0, no decay), other weights (pg1, decay), norm weights (pg2, no
decay). What ``optimizer='auto'`` picks is decided in auto_optimizer.py (torch-free, so the
studio shows the same choice before a run).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import torch
from torch import nn

from ..errors import SettingsError
from .auto_optimizer import (  # noqa: F401 - the optimizer's public names, kept here too
    AUTO_SGD_ITERATIONS,
    OptimizerChoice,
    choose_optimizer,
    resolve_optimizer,
)

_ADAM_FAMILY = ("Adam", "Adamax", "AdamW", "NAdam", "RAdam")


def parameter_groups(model: nn.Module) -> tuple[list, list, list]:
    """(biases, decayed weights, norm-layer weights) among trainable parameters."""
    biases, weights, norms = [], [], []
    norm_types = tuple(v for k, v in nn.__dict__.items() if "Norm" in k and isinstance(v, type))
    for module in model.modules():
        for param_name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            if param_name == "bias":
                biases.append(param)
            elif isinstance(module, norm_types):
                norms.append(param)
            else:
                weights.append(param)
    return biases, weights, norms


def build_optimizer(
    model: nn.Module, choice: OptimizerChoice, weight_decay: float
) -> torch.optim.Optimizer:
    """The optimizer with groups pg0 (biases), pg1 (weights, decayed), pg2 (norm weights)."""
    biases, weights, norms = parameter_groups(model)
    name, lr, momentum = choice.name, choice.lr, choice.momentum
    if name in _ADAM_FAMILY:
        cls = getattr(torch.optim, name)
        optimizer = eager(cls)(
            biases, lr=lr, betas=(momentum, 0.999), weight_decay=0.0, **_fused(cls, model)
        )
    elif name == "RMSProp":
        optimizer = eager(torch.optim.RMSprop)(biases, lr=lr, momentum=momentum)
    elif name == "SGD":
        optimizer = eager(torch.optim.SGD)(
            biases, lr=lr, momentum=momentum, nesterov=True, **_fused(torch.optim.SGD, model)
        )
    else:
        raise SettingsError(
            f"unknown optimizer {name!r}; use auto, SGD, Adam, Adamax, AdamW, NAdam, RAdam "
            "or RMSProp",
            key="optimizer",
        )
    optimizer.add_param_group({"params": weights, "weight_decay": weight_decay})
    optimizer.add_param_group({"params": norms, "weight_decay": 0.0})
    return optimizer


_EAGER_METHODS = ("step", "zero_grad", "add_param_group", "state_dict", "load_state_dict")


def eager(cls: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """``cls`` without the wrappers torch puts on its methods for its compiler.

    Written by hand because it makes every run start faster: torch wraps an optimizer's
    ``step``, ``zero_grad``, ``add_param_group`` and ``state_dict`` so that the first call
    imports ``torch._dynamo`` (1.2 s on 2 cores), which a run that never compiles does not
    need. The subclass calls the same undecorated functions (``__wrapped__``), ``step`` under
    ``no_grad`` as the wrapper does, so the numbers are bit-identical; a method torch did not
    wrap is left as it is. State dicts are the plain optimizer's (checkpoints and resume are
    unchanged).
    """
    attributes = {}
    for method in _EAGER_METHODS:
        inner = getattr(getattr(cls, method), "__wrapped__", None)
        if inner is None:
            continue
        if method == "step":
            attributes[method] = _step_without_grad(inner)
        else:
            attributes[method] = inner
    return type(cls.__name__, (cls,), {"__module__": __name__, **attributes})


def _step_without_grad(inner: Callable) -> Callable:
    def step(self, closure=None):
        with torch.no_grad():  # what torch's wrapper does (its ``differentiable`` is False)
            return inner(self, closure)

    return step


def _fused(cls: type[torch.optim.Optimizer], model: nn.Module) -> dict[str, bool]:
    """``fused=True`` where torch has a fused kernel for ``cls`` on the model's device.

    One kernel for all parameters instead of a loop of small ops: measured on 2 CPU cores for
    yolov8n-cls, an AdamW step takes 0.8 ms instead of 5.1 ms and SGD 0.35 instead of 1.25
    (a training step is ~35 ms at batch 64, 32 px).
    """
    devices = {p.device.type for p in model.parameters()}
    dtypes = {p.dtype for p in model.parameters()}
    supported = "fused" in inspect.signature(cls.__init__).parameters
    on_fused_device = devices <= {"cpu"} or devices <= {"cuda"}
    floating = all(dtype.is_floating_point for dtype in dtypes)
    return {"fused": True} if supported and on_fused_device and floating else {}


def lr_factor(epochs: int, lrf: float, cosine: bool) -> Callable[[int], float]:
    """Multiplier of the initial lr at each epoch: linear to ``lrf``, or a cosine one-cycle."""
    if cosine:
        return lambda e: ((1 - math.cos(e * math.pi / epochs)) / 2) * (lrf - 1) + 1
    return lambda e: max(1 - e / epochs, 0) * (1.0 - lrf) + lrf


def warmup_steps(warmup_epochs: float, epochs: int, steps_per_epoch: int) -> int:
    """Optimizer steps of warm-up, or -1 for none: ``warmup_epochs`` of batches, capped so the
    last epoch always trains at its scheduled rate (the reference's 8.4 rule; its older releases
    stretched warm-up to at least 100 batches, which on a 200-image set ramps for 8 of 30
    epochs)."""
    span = min(warmup_epochs, max(epochs - 1, 0))
    return round(span * steps_per_epoch) if span > 0 else -1


def interpolate(x: float, xp: tuple[float, float], fp: tuple[float, float]) -> float:
    if x <= xp[0]:
        return fp[0]
    if x >= xp[1]:
        return fp[1]
    return fp[0] + (fp[1] - fp[0]) * (x - xp[0]) / (xp[1] - xp[0])
