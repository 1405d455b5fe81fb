"""TorchScript export: ``torch.jit.trace``, metadata as the ``config.txt`` extra file."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..backends.torchscript_backend import quiet_jit
from ..events import Reporter, Warning
from ..formats.export_layouts import TORCHSCRIPT_CONFIG_FILE
from ..formats.export_metadata import metadata_to_json
from ..utils.atomic import atomic_writer
from .base import ExportOptions

log = logging.getLogger(__name__)


class TorchScriptExporter:
    """``format='torchscript'`` -> ``<stem>.torchscript``, loadable with ``torch.jit.load``."""

    format = "torchscript"
    name = "TorchScript"
    suffix = ".torchscript"
    arguments = frozenset({"imgsz", "batch", "optimize"})
    requirements: tuple[str, ...] = ()

    extra = ""

    def available(self) -> bool:
        return True

    def runtime_missing(self) -> str:
        return ""

    def export(
        self,
        model: nn.Module,
        example: torch.Tensor,
        target: Path,
        *,
        options: ExportOptions,
        metadata: Mapping[str, Any],
        output_shapes: tuple[tuple[int, ...], ...],
        progress: Reporter,
    ) -> Path:
        with quiet_jit():
            traced = torch.jit.trace(model, example, strict=False)
            if options.optimize:
                traced = _optimize(traced, example, progress)
            extra_files = {TORCHSCRIPT_CONFIG_FILE: metadata_to_json(metadata)}
            with atomic_writer(target) as handle:
                torch.jit.save(traced, handle, _extra_files=extra_files)
        return target


def _optimize(
    traced: torch.jit.ScriptModule, example: torch.Tensor, progress: Reporter
) -> torch.jit.ScriptModule:
    """Mobile optimisation (CPU, XNNPACK); skipped with a warning where it cannot run."""
    reason = None
    if example.device.type != "cpu":
        reason = "it applies to CPU models only; export on the CPU to use it"
    elif not _xnnpack_enabled():
        reason = "this torch build has no XNNPACK, which mobile optimisation needs"
    if reason:
        message = f"optimize=True skipped: {reason}"
        log.warning(message)
        progress(Warning(message))
        return traced
    from torch.utils.mobile_optimizer import optimize_for_mobile

    return optimize_for_mobile(traced)


def _xnnpack_enabled() -> bool:
    import torch.backends.xnnpack

    return bool(torch.backends.xnnpack.enabled)
