"""TorchScript export: ``torch.jit.trace``, metadata as the ``config.txt`` extra file."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..events import Reporter, Warning
from ..utils.atomic import atomic_writer
from .base import ExportOptions, metadata_to_json

log = logging.getLogger(__name__)

CONFIG_FILE = "config.txt"
"""The extra file inside a ``.torchscript`` archive that holds the export's metadata (JSON)."""


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
            extra_files = {CONFIG_FILE: metadata_to_json(metadata)}
            with atomic_writer(target) as handle:
                torch.jit.save(traced, handle, _extra_files=extra_files)
        return target


@contextlib.contextmanager
def quiet_jit() -> Iterator[None]:
    """Silence torch's notices around TorchScript calls.

    torch marks ``torch.jit`` deprecated (TorchScript still loads wherever torch runs, which is
    why the format is offered), and TracerWarnings flag shape arithmetic that traces fine.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


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
