"""A validation pass as a plain JSON file: the run's final validation of ``best.pt`` is kept in
the run folder (``final_validation.json``) so that a reader (the studio's Evaluate page, a
script) shows its tables, confusion matrix and PR curves without validating again.

The file holds only JSON values (no pickle): the task, the class names, the overall figures,
one entry per class, the confusion matrix (rows true, columns predicted; detection tasks add a
background row and column) and the precision-recall curves of each scored part (``box``,
``seg``, ``pose``; ``classes`` for a classifier, one class against the rest). Floats that are
not finite are written as ``null``.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EngineError
from ..utils.atomic import atomic_writer

RECORD_NAME = "final_validation.json"
FORMAT = "yolo-validation"
VERSION = 1
_DIGITS = 6


class ValidationRecordError(EngineError):
    """A validation record that is missing, unreadable or not one of ours."""


def _number(value: Any) -> float | None:
    number = float(value)
    return round(number, _DIGITS) if math.isfinite(number) else None


def _numbers(values: Any) -> list:
    array = np.asarray(values, dtype=np.float64)
    return [_numbers(row) for row in array] if array.ndim > 1 else [_number(v) for v in array]


def _curve(recall: Any, precision: Any, classes: Any, ap50: Any) -> dict[str, Any]:
    return {"recall": _numbers(recall), "precision": _numbers(precision),
            "classes": [int(c) for c in classes], "ap50": _numbers(ap50)}


def _classify_part(details: Any) -> dict[str, Any]:
    accuracy, top5, counts = (details.per_class_accuracy, details.per_class_top5,
                              details.class_counts)
    per_class = [{"images": counts[name], "top1": _number(accuracy[name]),
                  "top5": _number(top5[name])} for name in details.names.values()]
    return {"overall": {"images": details.seen, "top1": _number(details.top1),
                        "top5": _number(details.top5)},
            "per_class": per_class,
            "confusion_matrix": details.confusion_matrix.tolist(),
            "curves": {"classes": _curve(*details.pr_curves())}}


def _instance_part(details: Any) -> dict[str, Any]:
    document = details.to_dict()
    overall: dict[str, Any] = {"images": details.seen, "instances": document["instances"]}
    curves = {}
    for part, metric in details.parts.items():
        overall[part] = dict(zip(("precision", "recall", "mAP50", "mAP50-95"),
                                 map(_number, metric.mean_results()), strict=True))
        _x_label, recall, precision, _y_label = metric.curves()["PR"]
        curves[part] = _curve(recall, precision, metric.ap_class_index, metric.ap50)
    per_class = [document["per_class"][name] for name in details.names.values()]
    matrix = details.confusion_matrix
    return {"overall": overall, "per_class": per_class,
            "confusion_matrix": matrix.matrix.tolist(),
            "confusion": {"iou": matrix.iou_threshold, "conf": matrix.conf_threshold},
            "curves": curves}


def validation_record(details: Any, task: str, *, checkpoint: str | Path | None = None,
                      epoch: int | None = None) -> dict[str, Any]:
    """The JSON document of one validation pass; ``details`` is the task's metrics object
    (``ClassifyMetrics``, ``DetectionMetrics``, ``SegmentMetrics`` or ``PoseMetrics``)."""
    body = _classify_part(details) if task == "classify" else _instance_part(details)
    return {"format": FORMAT, "version": VERSION, "task": task,
            "names": list(details.names.values()),
            "checkpoint": None if checkpoint is None else str(checkpoint),
            "epoch": epoch, "fitness": _number(details.fitness),
            "made_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "speed": {k: _number(v) for k, v in details.speed.items()}, **body}


def write_validation_record(path: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` atomically as strict JSON (a kill leaves the old file or none)."""
    target = Path(path)
    text = json.dumps(record, allow_nan=False, separators=(",", ":"))
    with atomic_writer(target) as handle:
        handle.write(text.encode())
    return target


def read_validation_record(path: str | Path) -> dict[str, Any]:
    """Read a record back; a missing, cut or foreign file raises ``ValidationRecordError``
    naming the file and what to do."""
    target = Path(path)
    try:
        document = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationRecordError("does not exist; validate the model again to make it",
                                    path=target) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationRecordError(f"cannot be read ({exc}); validate the model again to "
                                    "write it anew", path=target) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValidationRecordError("is not a validation record of this program; validate "
                                    "the model again to write it anew", path=target)
    if document.get("version") != VERSION:
        raise ValidationRecordError(f"is version {document.get('version')} of the record, this "
                                    f"program reads version {VERSION}; validate the model again",
                                    path=target)
    missing = [key for key in ("task", "names", "overall", "per_class", "confusion_matrix",
                               "curves") if key not in document]
    if missing:
        raise ValidationRecordError(f"lacks {', '.join(missing)}; validate the model again to "
                                    "write it anew", path=target)
    return document
