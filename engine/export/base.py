"""The export protocol, the registry of formats, and the metadata every export carries.

An exporter turns a prepared model (eval mode, fused, heads in export mode) into one file or
folder. It says which ``export_model`` arguments it honours, whether the packages it needs are
installed, and writes its result atomically. New formats register one object in
``EXPORT_FORMATS``; nothing else changes.

Metadata is written with the reference's keys (``names``, ``task``, ``stride``, ``imgsz``,
``batch``, ``kpt_shape``, ``args`` ...), so an export carries what is needed to run it. Formats
that store strings only (ONNX ``metadata_props``, CoreML) hold every non-string value as a
Python literal, as the reference does, so each tool loads the other's exports; ``read_metadata``
also accepts JSON and YAML flow syntax.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
import yaml
from torch import nn

from ..errors import ExportError
from ..events import Reporter

AUTHOR = "YOLO Studio"
DEFAULT_OPSET = 17
REQUIRED_KEYS = ("task", "names", "stride", "imgsz")
# Keys whose values are structured (JSON-encoded in string-only metadata stores).
_STRUCTURED_KEYS = frozenset(
    {"names", "stride", "imgsz", "batch", "kpt_shape", "keypoint_layout", "args", "dynamic",
     "half"}
)


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


def modules_available(*modules: str) -> bool:
    """True when every named top-level module can be imported (without importing it)."""
    return all(importlib.util.find_spec(name) is not None for name in modules)


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


# --- metadata -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportMetadata:
    """What an exported file says about itself, parsed and checked."""

    task: str
    names: dict[int, str]
    stride: int
    imgsz: tuple[int, int]
    batch: int | None
    dynamic: bool = False
    half: bool = False
    extras: Mapping[str, Any] = field(default_factory=dict)


def metadata_to_strings(metadata: Mapping[str, Any]) -> dict[str, str]:
    """String values for stores that hold strings only (ONNX, CoreML): Python literals, as the
    reference writes them, for all but plain strings, so its loader (``ast.literal_eval``) reads
    our exports and ours reads its."""
    return {
        str(key): value if isinstance(value, str) else repr(_literal(value))
        for key, value in metadata.items()
    }


METADATA_FILE = "metadata.yaml"
"""Written inside (or beside) every export whose own format cannot hold our metadata."""


def write_metadata_yaml(folder: Path, metadata: Mapping[str, Any]) -> Path:
    """``folder/metadata.yaml`` with ``metadata`` (plain YAML, keys in the reference's order)."""
    path = Path(folder) / METADATA_FILE
    text = yaml.safe_dump(_jsonable(dict(metadata)), sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def read_metadata_yaml(folder: Path) -> ExportMetadata:
    """Parse ``folder/metadata.yaml``; a missing or broken file says what to do."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        raise ExportError(
            f"has no {METADATA_FILE}, which says the model's task, classes and image size. "
            "Export the model again with YOLO Studio (or copy the file back beside the model)",
            path=folder,
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ExportError(f"cannot be parsed ({exc}); export the model again", path=path) from exc
    if not isinstance(raw, dict):
        raise ExportError("must be a mapping of keys to values", path=path)
    return read_metadata(raw, path)


def metadata_to_json(metadata: Mapping[str, Any]) -> str:
    """One JSON document (TorchScript's ``config.txt``)."""
    return json.dumps(_jsonable(dict(metadata)))


def read_metadata(raw: Mapping[str, Any], source: str | Path) -> ExportMetadata:
    """Parse metadata read from an export; a missing or bad key names the file and the key."""
    values = {key: _decode(key, value, source) for key, value in raw.items()}
    for key in REQUIRED_KEYS:
        if key not in values or values[key] in (None, ""):
            raise ExportError(
                f"has no '{key}' in its metadata, so it was not exported by YOLO Studio (or "
                "by a YOLOv8 exporter). Export the model again with YOLO Studio.",
                path=source,
                key=key,
            )
    args = values.get("args") if isinstance(values.get("args"), dict) else {}
    dynamic = bool(values.get("dynamic", args.get("dynamic", False)))
    half = bool(values.get("half", args.get("half", False)))
    batch = values.get("batch")
    known = {*REQUIRED_KEYS, "batch", "dynamic", "half"}
    return ExportMetadata(
        task=_check(str, values["task"], "task", source),
        names=_parse_names(values["names"], source),
        stride=int(max(_as_list(values["stride"], "stride", source))),
        imgsz=_parse_imgsz(values["imgsz"], source),
        batch=None if dynamic or batch is None else _positive_int(batch, "batch", source),
        dynamic=dynamic,
        half=half,
        extras={k: v for k, v in values.items() if k not in known},
    )


def _decode(key: str, value: Any, source: str | Path) -> Any:
    """A structured value stored as a string: a Python literal (ours and the reference's), else
    JSON or YAML (earlier exports of ours wrote JSON)."""
    if key not in _STRUCTURED_KEYS or not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ExportError(
            f"metadata value {value[:80]!r} cannot be parsed ({exc}); export the model again",
            path=source,
            key=key,
        ) from exc


def _parse_names(value: Any, source: str | Path) -> dict[int, str]:
    if isinstance(value, list):
        value = dict(enumerate(value))
    if not isinstance(value, dict) or not value:
        raise ExportError(
            'metadata must map class indices to names, e.g. {"0": "cat"}',
            path=source,
            key="names",
        )
    try:
        return {int(k): str(v) for k, v in value.items()}
    except (TypeError, ValueError) as exc:
        raise ExportError(
            f"class indices must be whole numbers ({exc})", path=source, key="names"
        ) from exc


def _parse_imgsz(value: Any, source: str | Path) -> tuple[int, int]:
    sizes = [_positive_int(v, "imgsz", source) for v in _as_list(value, "imgsz", source)]
    if len(sizes) == 1:
        sizes *= 2
    if len(sizes) != 2:
        raise ExportError(f"must be [height, width], not {value!r}", path=source, key="imgsz")
    return sizes[0], sizes[1]


def _as_list(value: Any, key: str, source: str | Path) -> list[Any]:
    items = list(value) if isinstance(value, list | tuple) else [value]
    if not items:
        raise ExportError("is empty", path=source, key=key)
    return items


def _positive_int(value: Any, key: str, source: str | Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) < 1:
        raise ExportError(f"must be a whole number >= 1, not {value!r}", path=source, key=key)
    return int(value)


def _check(kind: type, value: Any, key: str, source: str | Path) -> Any:
    if not isinstance(value, kind):
        raise ExportError(f"must be a {kind.__name__}, not {value!r}", path=source, key=key)
    return value


def _plain(value: Any, *, string_keys: bool) -> Any:
    """Plain values: tuples become lists, tensors and paths plain; mapping keys become strings
    (JSON) or keep an int/str type (Python literals, where class indices stay ints)."""
    if isinstance(value, Mapping):
        keep = (int, str) if not string_keys else (str,)
        return {
            k if isinstance(k, keep) else str(k): _plain(v, string_keys=string_keys)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_plain(v, string_keys=string_keys) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def _jsonable(value: Any) -> Any:
    """Plain JSON types (see :func:`_plain`)."""
    return _plain(value, string_keys=True)


def _literal(value: Any) -> Any:
    """Plain Python values whose ``repr`` ``ast.literal_eval`` reads back (see :func:`_plain`)."""
    return _plain(value, string_keys=False)
