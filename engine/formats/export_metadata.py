"""The metadata every export carries: what it says about itself (task, classes, stride, image
size, batch ...), written in each store an export format offers and read back from any of them.

Keys are the reference's (``names``, ``task``, ``stride``, ``imgsz``, ``batch``, ``kpt_shape``,
``args`` ...), so an export carries what is needed to run it. Stores that hold strings only
(ONNX ``metadata_props``, CoreML) hold every non-string value as a Python literal, as the
reference does, so each tool loads the other's exports; ``read_metadata`` also accepts JSON and
YAML flow syntax. Folder exports (OpenVINO, TF SavedModel, TF.js, Paddle, ncnn) carry
``metadata.yaml``; TorchScript a JSON extra file; a TensorRT engine a length-prefixed JSON
header (``engine_header`` / ``read_engine_file``).

Both the exporters (which write it) and the backends (which read it) use this module, so neither
imports the other. It imports no torch: a tensor value (only ever given by a caller that has
torch loaded) is recognised through ``sys.modules``.
"""

from __future__ import annotations

import ast
import json
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ExportError

AUTHOR = "YOLO Studio"
"""The ``author`` our exports carry (a backend warns once about an export by another tool)."""
REQUIRED_KEYS = ("task", "names", "stride", "imgsz")
# Keys whose values are structured (JSON-encoded in string-only metadata stores).
_STRUCTURED_KEYS = frozenset(
    {"names", "stride", "imgsz", "batch", "kpt_shape", "keypoint_layout", "args", "dynamic",
     "half"}
)

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
    text = yaml.safe_dump(jsonable(dict(metadata)), sort_keys=False, allow_unicode=True)
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
    return json.dumps(jsonable(dict(metadata)))


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
    torch = sys.modules.get("torch")  # a tensor exists only where torch is loaded
    if torch is not None and isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def jsonable(value: Any) -> Any:
    """Plain JSON types (see :func:`_plain`)."""
    return _plain(value, string_keys=True)


def _literal(value: Any) -> Any:
    """Plain Python values whose ``repr`` ``ast.literal_eval`` reads back (see :func:`_plain`)."""
    return _plain(value, string_keys=False)


def engine_header(metadata: Mapping[str, Any]) -> bytes:
    """What a TensorRT engine file starts with: a 4-byte little-endian length, then the
    metadata as JSON (the layout the reference's engines use, so each reads the other's)."""
    header = json.dumps(jsonable(dict(metadata))).encode("utf-8")
    return struct.pack("<I", len(header)) + header


def read_engine_file(path: Path) -> tuple[dict[str, Any], bytes]:
    """``(metadata, engine bytes)`` of an engine file that starts with ``engine_header``."""
    data = Path(path).read_bytes()
    if len(data) < 4:
        raise ExportError("is too short to be a TensorRT engine; export again", path=path)
    (length,) = struct.unpack("<I", data[:4])
    try:
        metadata = json.loads(data[4 : 4 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(
            "has no metadata header (an engine built by another tool?); export it with YOLO "
            "Studio",
            path=path,
        ) from exc
    return metadata, data[4 + length :]
