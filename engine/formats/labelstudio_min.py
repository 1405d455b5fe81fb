"""Label Studio's "JSON-MIN" export told apart from a task list and turned into the JSON
export's tasks: each record flattened to its data keys plus one list of region values per
control tag, the records of one task id merged. JSON-MIN has no result ids and no
``parentID``, and a single choice is a bare string; the reader warns of that."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .labelstudio_regions import LABEL_KEYS

__all__ = ["is_json_min", "tasks_from_min"]

_MIN_META = frozenset({"id", "annotator", "annotation_id", "created_at", "updated_at",
                       "lead_time", "agreement", "history"})
_MIN_MARKS = _MIN_META - {"id", "agreement", "history"}
"""Keys only a JSON-MIN record has (a task file for import has ``id`` and data only)."""


def is_json_min(tasks: list[dict[str, Any]]) -> bool:
    """Whether ``tasks`` (JSON objects without ``data`` or ``annotations``) are JSON-MIN
    records: a key only JSON-MIN writes, or a list of region values."""
    return any(_MIN_MARKS & t.keys() or any(_min_regions(k, v) for k, v in t.items())
               for t in tasks)


def tasks_from_min(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON-MIN records (one per annotation) as JSON tasks, records of one task id merged."""
    tasks: dict[str, dict[str, Any]] = {}
    for index, record in enumerate(records):
        key = repr(record.get("id", f"item {index}"))
        task = tasks.setdefault(key, {"id": record.get("id", index), "data": {},
                                      "annotations": []})
        result = []
        for name, value in record.items():
            regions = _min_regions(name, value)
            if regions is None:
                if name not in _MIN_META:
                    task["data"].setdefault(name, value)
                continue
            result.extend(regions)
        if record.get("annotation_id") is not None or result:
            task["annotations"].append({"id": record.get("annotation_id"), "result": result,
                                        "created_at": record.get("created_at"),
                                        "updated_at": record.get("updated_at")})
    return list(tasks.values())


def _min_regions(name: str, value: Any) -> list[dict[str, Any]] | None:
    """One JSON-MIN control tag's region values as results, or None for task data."""
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        return None
    types = [_min_type(v) for v in value]
    if any(t is None for t in types):
        return None
    return [{"id": f"{name}[{i}]", "type": t, "from_name": name, "value": v,
             "original_width": v.get("original_width"),
             "original_height": v.get("original_height")}
            for i, (t, v) in enumerate(zip(types, value, strict=True))]


def _min_type(value: Mapping[str, Any]) -> str | None:
    """The result type of a JSON-MIN region value, told by its keys."""
    for key in (*LABEL_KEYS, "choices", "ellipselabels"):
        if key in value:
            return key
    if "rle" in value:
        return "brush"
    if "points" in value:
        return "polygon"
    if {"x", "y", "width", "height"} <= value.keys():
        return "rectangle"
    return "keypoint" if {"x", "y"} <= value.keys() else None
