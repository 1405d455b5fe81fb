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
from dataclasses import dataclass, field, fields
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


def _option(default: Any) -> Any:
    """A format option: an ``export_model`` keyword, and a Settings key of the same name and
    default (tests/engine/export/test_export_options.py holds the two equal)."""
    return field(default=default, metadata={"option": True})


@dataclass(frozen=True)
class ExportOptions:
    """What an export is made with, checked: what an exporter may honour.

    The fields made with ``_option`` are the format options, declared here once: their names
    and defaults are ``EXPORT_OPTIONS``. The facade reads them from Settings (``option_values``),
    ``export_model`` takes them as keywords (``given_options``) and checks them into this value
    for one format (``check_options``). A new option is a field here plus the exporters that
    honour it (their ``arguments``).
    """

    imgsz: tuple[int, int]
    batch: int = 1
    half: bool = _option(False)
    dynamic: bool = _option(False)
    simplify: bool = _option(True)
    opset: int | None = _option(None)
    """The ONNX opset; None (not given) is ``DEFAULT_OPSET``, set here so exporters read a
    number."""
    optimize: bool = _option(False)
    int8: bool = _option(False)
    nms: bool = _option(False)
    keras: bool = _option(False)
    workspace: float | None = _option(None)
    calibration: tuple[torch.Tensor, ...] = field(default=(), repr=False, compare=False)
    """Images (``[C, H, W]`` in 0..1 at ``imgsz``) for int8 calibration, from ``data=``."""

    def __post_init__(self) -> None:
        if self.opset is None:
            object.__setattr__(self, "opset", DEFAULT_OPSET)  # frozen: set once, here

    @property
    def precision(self) -> str:
        """``int8``, ``fp16`` or ``fp32``: what the export stores its weights as."""
        return "int8" if self.int8 else "fp16" if self.half else "fp32"

    def honoured(self, arguments: frozenset[str]) -> dict[str, Any]:
        """The options an exporter with these ``arguments`` uses, for the metadata's ``args``."""
        values = {"imgsz": list(self.imgsz), "batch": self.batch}
        values.update((name, getattr(self, name)) for name in EXPORT_OPTIONS)
        return {k: v for k, v in values.items() if k in arguments or k == "batch"}


EXPORT_OPTIONS: dict[str, Any] = {
    f.name: f.default for f in fields(ExportOptions) if f.metadata.get("option")
}
"""Each format option (an ``_option`` field of ExportOptions) and its default when not given,
in ExportOptions' order (which is the order unused ones are refused in)."""


def option_values(settings: Any) -> dict[str, Any]:
    """The format options of ``settings`` (a Settings, or anything with attributes of those
    names): what the facade hands ``export_model``."""
    return {name: getattr(settings, name) for name in EXPORT_OPTIONS}


def given_options(given: Mapping[str, Any]) -> dict[str, Any]:
    """Every format option: ``given`` over the defaults. An unknown name is a TypeError, as an
    unknown keyword argument is, listing the options."""
    unknown = sorted(set(given) - set(EXPORT_OPTIONS))
    if unknown:
        near = difflib.get_close_matches(unknown[0], EXPORT_OPTIONS, n=1, cutoff=0.6)
        hint = f"did you mean '{near[0]}'? " if near else ""
        raise TypeError(
            f"export_model() got an unexpected keyword argument '{unknown[0]}'; {hint}the "
            f"export options are imgsz, batch, {', '.join(EXPORT_OPTIONS)}"
        )
    return {**EXPORT_OPTIONS, **given}


def check_options(given: Mapping[str, Any], *, imgsz: tuple[int, int], batch: int,
                  honoured: frozenset[str]) -> ExportOptions:
    """The ExportOptions of ``given`` (every option: ``given_options``) for a format that
    honours ``honoured``: values checked, and each option it does not take at its default
    (``export_model`` refuses a changed one)."""
    opset, workspace = given["opset"], given["workspace"]
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ExportError(f"batch must be a whole number >= 1, not {batch!r}", key="batch")
    if opset is not None and (isinstance(opset, bool) or not isinstance(opset, int) or opset < 7):
        raise ExportError(
            f"opset must be an ONNX opset number (7 or more, {DEFAULT_OPSET} by default), "
            f"not {opset!r}",
            key="opset",
        )
    if workspace is not None and (
        isinstance(workspace, bool) or not isinstance(workspace, int | float) or workspace <= 0
    ):
        raise ExportError(
            f"workspace is TensorRT's memory limit in GiB (e.g. 4), not {workspace!r}",
            key="workspace",
        )
    values = {name: given[name] if name in honoured else default
              for name, default in EXPORT_OPTIONS.items()}
    for name, default in EXPORT_OPTIONS.items():
        if isinstance(default, bool):  # flags: any truthy value is True
            values[name] = bool(values[name])
    if values["workspace"] is not None:
        values["workspace"] = float(values["workspace"])
    values["half"] = values["half"] and not values["int8"]  # int8 weights are not also fp16
    return ExportOptions(imgsz=imgsz, batch=batch, **values)


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
