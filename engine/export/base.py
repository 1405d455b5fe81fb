"""The export protocol and the registry of formats.

An exporter turns a prepared model (eval mode, fused, heads in export mode) into one file or
folder. It says which ``export_model`` arguments it honours, whether the packages it needs are
installed, and writes its result atomically. New formats register one object in
``EXPORT_FORMATS``; nothing else changes. The metadata every export carries, and how each
store holds it, is ``engine.formats.export_metadata``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

# modules_available: exporters ask it whether their converters are installed, backends whether
# their runtimes are.
from ..backends.base import modules_available as modules_available
from ..errors import ExportError
from ..events import Reporter

DEFAULT_OPSET = 17


@dataclass(frozen=True)
class ExportOptions:
    """The ``export_model`` arguments, checked: what an exporter may honour."""

    imgsz: tuple[int, int]
    batch: int = 1
    half: bool = False
    dynamic: bool = False
    simplify: bool = True
    opset: int = DEFAULT_OPSET
    optimize: bool = False
    int8: bool = False
    nms: bool = False
    keras: bool = False
    workspace: float | None = None
    calibration: tuple[torch.Tensor, ...] = field(default=(), repr=False, compare=False)
    """Images (``[C, H, W]`` in 0..1 at ``imgsz``) for int8 calibration, from ``data=``."""

    @property
    def precision(self) -> str:
        """``int8``, ``fp16`` or ``fp32``: what the export stores its weights as."""
        return "int8" if self.int8 else "fp16" if self.half else "fp32"

    def honoured(self, arguments: frozenset[str]) -> dict[str, Any]:
        """The options an exporter with these ``arguments`` uses, for the metadata's ``args``."""
        values = {
            "imgsz": list(self.imgsz),
            "batch": self.batch,
            "half": self.half,
            "dynamic": self.dynamic,
            "simplify": self.simplify,
            "opset": self.opset,
            "optimize": self.optimize,
            "int8": self.int8,
            "nms": self.nms,
            "keras": self.keras,
            "workspace": self.workspace,
        }
        return {k: v for k, v in values.items() if k in arguments or k == "batch"}


@runtime_checkable
class Exporter(Protocol):
    """One export format. ``format`` is the ``format=`` argument, ``suffix`` the output's."""

    format: str
    name: str
    suffix: str
    arguments: frozenset[str]
    requirements: tuple[str, ...]

    def available(self) -> bool:
        """True when the packages this format needs can be imported."""
        ...

    def runtime_missing(self) -> str:
        """Why the export cannot be run here to check it (empty when it can)."""
        ...

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
        """Write the export of ``model`` (traced on ``example``) to ``target``; return it.

        ``output_shapes`` are the shapes the model gave for ``example`` (one per output).
        """
        ...


INPUT_NAME = "images"


def output_names(count: int) -> list[str]:
    """``output0``, ``output1`` ...: the reference's output names, which predictors expect."""
    return [f"output{i}" for i in range(count)]


EXPORT_FORMATS: dict[str, Exporter] = {}
"""``format=`` argument -> exporter. Filled by ``engine.export`` when it is imported."""


def register(exporter: Exporter) -> Exporter:
    """Add a format to ``EXPORT_FORMATS`` (its ``format`` name must be new)."""
    if exporter.format in EXPORT_FORMATS:
        raise ValueError(f"export format '{exporter.format}' is registered twice")
    EXPORT_FORMATS[exporter.format] = exporter
    return exporter


def get_exporter(format: str) -> Exporter:  # noqa: A002 - the reference's argument name
    """The exporter for ``format=``; an unknown name lists the valid ones and the nearest."""
    key = str(format).strip().lower().lstrip(".")
    if key in EXPORT_FORMATS:
        return EXPORT_FORMATS[key]
    valid = sorted(EXPORT_FORMATS)
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.4)
    hint = f"did you mean '{near[0]}'? " if near else ""
    raise ExportError(
        f"unknown export format '{format}'; {hint}valid formats: {', '.join(valid)}",
        key="format",
    )


def output_path(source: Path, exporter: Exporter) -> Path:
    """``runs/x/best.pt`` -> ``runs/x/best.onnx``: the export sits beside its checkpoint."""
    source = Path(source)
    return source.with_name(source.stem + exporter.suffix)
