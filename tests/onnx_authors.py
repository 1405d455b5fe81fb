"""An ONNX export made to look as if another tool wrote it (its metadata's author changed)."""

from __future__ import annotations

from pathlib import Path


def foreign_copy(export: Path, target: Path, author: str = "Another Tool") -> Path:
    """Copy ``export`` to ``target`` with ``author`` in its metadata; returns ``target``."""
    import onnx

    proto = onnx.load(str(export))
    for entry in proto.metadata_props:
        if entry.key == "author":
            entry.value = author
    onnx.save(proto, str(target))
    return target
