"""Evaluations kept on disk, so the Evaluate page opens on a result instead of an empty page.

Two kinds of file, both plain JSON (no pickle), written atomically:

* ``<run folder>/final_validation.json``: the engine writes it at the end of training (best.pt
  validated once more, ``engine.val.validation_record``). It has the metrics, the engine's
  confusion matrix and the PR curves, but not the images behind each cell.
* ``<project>/evaluations/latest.json``: the last evaluation the Evaluate page ran, in full
  (its images too), written here when the job ends.

``latest_saved`` picks the newest of them (the latest run's final validation, or a later
evaluation), which is what the page shows when it opens or when a run ends.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import EngineError
from engine.utils.atomic import atomic_writer
from engine.val.detection_metrics import BOX, MASK, POSE
from engine.val.validation_record import (
    RECORD_NAME,
    ValidationRecordError,
    read_validation_record,
)

from .evaluation import EvaluationResult, ImageOutcome, PrCurves, classify_columns
from .projects import Project
from .runs import RunInfo, list_runs

FORMAT = "yolo-studio-evaluation"
VERSION = 1
FINAL_VALIDATION = "final validation of training"
EVALUATED = "evaluated"
_PART_TITLES = {**{part.name: part.title for part in (BOX, MASK, POSE)}, "classes": "Classes"}
_MEASURES = (("mAP50-95", "mAP50-95"), ("mAP50", "mAP50"), ("P", "precision"),
             ("R", "recall"))


class EvaluationFileError(EngineError):
    """A saved evaluation that is missing, cut short or not one of ours."""


@dataclass(frozen=True)
class SavedEvaluation:
    """A file the page can show: where it is, what made it, and when it was written (ns)."""

    path: Path
    source: str  # FINAL_VALIDATION or EVALUATED
    modified: int
    run: RunInfo | None = None


def evaluations_folder(project: Project) -> Path:
    """Where the Evaluate page keeps its last evaluation (not a cache: it is kept)."""
    return project.folder / "evaluations"


def latest_evaluation_path(project: Project) -> Path:
    """The file of the last evaluation the page ran."""
    return evaluations_folder(project) / "latest.json"


# -- writing and reading the page's own evaluations ----------------------------------------------


def _plain(value: Any) -> Any:
    """JSON values of numpy scalars and arrays; a float that is not finite becomes null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(float(value)) else None
    return value


def result_document(result: EvaluationResult) -> dict[str, Any]:
    """``result`` as a JSON document (everything the page shows, the images included)."""
    return _plain({
        "format": FORMAT, "version": VERSION, "task": result.task,
        "model_path": result.model_path, "names": result.names, "columns": result.columns,
        "overall": result.overall, "per_class": result.per_class,
        "confusion": result.confusion, "warnings": result.warnings, "seconds": result.seconds,
        "source": result.source or EVALUATED, "run_name": result.run_name,
        "made_at": result.made_at or datetime.now(UTC).isoformat(timespec="seconds"),
        "note": result.note,
        "curves": {part: {"recall": c.recall, "precision": c.precision, "classes": c.classes,
                          "ap50": c.ap50} for part, c in result.curves.items()},
        "outcomes": [{"image_id": o.image_id, "path": o.path, "truth": o.truth,
                      "predicted": o.predicted, "cells": o.cells, "boxes": o.boxes,
                      "top": o.top} for o in result.outcomes],
    })


def save_result(result: EvaluationResult, path: str | Path) -> Path:
    """Write ``result`` atomically as strict JSON; sets its ``made_at``."""
    document = result_document(result)
    result.made_at, result.source = document["made_at"], document["source"]
    target = Path(path)
    with atomic_writer(target) as handle:
        handle.write(json.dumps(document, allow_nan=False, separators=(",", ":")).encode())
    return target


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvaluationFileError(f"does not exist; press Evaluate to make {what} again",
                                  path=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvaluationFileError(f"cannot be read ({exc}); press Evaluate to make {what} "
                                  "again", path=path) from None
    if not isinstance(document, dict):
        raise EvaluationFileError(f"is not {what}; press Evaluate to make it again", path=path)
    return document


def _curves(document: dict[str, Any]) -> dict[str, PrCurves]:
    curves = {}
    for part, data in document.items():
        precision = np.array([[0.0 if v is None else v for v in row]
                              for row in data["precision"]], np.float64)
        recall = np.array([0.0 if v is None else v for v in data["recall"]], np.float64)
        curves[_PART_TITLES.get(part, part)] = PrCurves(
            recall, precision.reshape(-1, len(recall)), tuple(int(c) for c in data["classes"]),
            tuple(0.0 if v is None else float(v) for v in data["ap50"]))
    return curves


def load_result(path: str | Path) -> EvaluationResult:
    """Read a file ``save_result`` wrote; a missing or broken one raises
    ``EvaluationFileError`` naming it."""
    target = Path(path)
    document = _read_json(target, "the evaluation")
    if document.get("format") != FORMAT or document.get("version") != VERSION:
        raise EvaluationFileError("is not an evaluation this version of the studio wrote; "
                                  "press Evaluate to make it again", path=target)
    try:
        outcomes = [ImageOutcome(int(o["image_id"]), Path(o["path"]), tuple(o["truth"]),
                                 tuple(o["predicted"]), tuple(tuple(c) for c in o["cells"]),
                                 tuple(tuple(b) for b in o["boxes"]),
                                 tuple(tuple(t) for t in o["top"]))
                    for o in document["outcomes"]]
        return EvaluationResult(
            document["task"], Path(document["model_path"]), list(document["names"]),
            list(document["columns"]), dict(document["overall"]), list(document["per_class"]),
            np.asarray(document["confusion"], np.int64), _curves(document["curves"]), outcomes,
            list(document.get("warnings", [])), float(document.get("seconds", 0.0)),
            source=document["source"], run_name=document.get("run_name"),
            made_at=document["made_at"], note=document.get("note", ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise EvaluationFileError(f"is incomplete ({exc!r} is wrong or missing); press "
                                  "Evaluate to make it again", path=target) from None


# -- the engine's final validation ---------------------------------------------------------------


def _classify_tables(record: dict[str, Any], names: list[str]
                     ) -> tuple[list[str], dict[str, Any], list[dict[str, Any]]]:
    columns = classify_columns(len(names))
    overall = record["overall"]
    summary = {"Images": overall["images"], "Top-1": overall["top1"], "Top-5": overall["top5"]}
    rows = [{"index": index, "name": name, "Images": entry["images"], "Top-1": entry["top1"],
             "Top-5": entry["top5"]} for index, (name, entry)
            in enumerate(zip(names, record["per_class"], strict=True))]
    return columns, summary, rows


def _instance_tables(record: dict[str, Any], names: list[str]
                     ) -> tuple[list[str], dict[str, Any], list[dict[str, Any]]]:
    parts = list(record["curves"])  # box first, then seg or pose
    columns = ["Images", "Instances"]
    columns += [f"{_PART_TITLES[p]} {short}" for p in parts for short, _key in _MEASURES]
    overall = record["overall"]
    summary: dict[str, Any] = {"Images": overall["images"], "Instances": overall["instances"]}
    for part in parts:
        for short, key in _MEASURES:
            summary[f"{_PART_TITLES[part]} {short}"] = overall[part][key]
    rows = []
    for index, (name, entry) in enumerate(zip(names, record["per_class"], strict=True)):
        row: dict[str, Any] = {"index": index, "name": name, "Images": entry["images"],
                               "Instances": entry["instances"]}
        for part in parts:
            values = entry.get(part) or {}
            for short, key in _MEASURES:
                row[f"{_PART_TITLES[part]} {short}"] = values.get(key)
        rows.append(row)
    return columns, summary, rows


def result_from_record(path: str | Path, run_name: str | None = None) -> EvaluationResult:
    """The engine's ``final_validation.json`` as the page's result (no images behind the
    cells: the engine keeps only the counts). A missing or broken file raises
    ``EvaluationFileError`` naming it."""
    target = Path(path)
    try:
        record = read_validation_record(target)
    except ValidationRecordError as exc:
        raise EvaluationFileError(f"{exc.message.split(';')[0]}; press Evaluate to score the "
                                  "run's model again", path=target) from None
    try:
        names = [str(n) for n in record["names"]]
        make = _classify_tables if record["task"] == "classify" else _instance_tables
        columns, overall, per_class = make(record, names)
        confusion = np.asarray(record["confusion_matrix"], np.int64)
        checkpoint = target.parent / (record.get("checkpoint") or "weights/best.pt")
        note = ""
        if "confusion" in record:
            note = (f"objects paired class-blind at IoU {record['confusion']['iou']:g}, "
                    f"confidence above {record['confusion']['conf']:g}")
        epoch = record.get("epoch")
        return EvaluationResult(
            record["task"], checkpoint, names, columns, overall, per_class, confusion,
            _curves(record["curves"]), [], source=FINAL_VALIDATION, run_name=run_name,
            made_at=str(record.get("made_at") or ""), note=note,
            epoch=None if epoch is None else int(epoch))
    except (KeyError, TypeError, ValueError) as exc:
        raise EvaluationFileError(f"is incomplete ({exc!r} is wrong or missing); press "
                                  "Evaluate to score the run's model again",
                                  path=target) from None


# -- which one to show ----------------------------------------------------------------------------


def _modified(path: Path) -> int:
    """The file's time of last writing (ns): both kinds are written once, when made, so this
    orders them without reading them (a page's result can list thousands of images)."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def latest_saved(project: Project) -> SavedEvaluation | None:
    """The newest of: the latest finished run's final validation, the page's last evaluation."""
    candidates: list[SavedEvaluation] = []
    for run in list_runs(project):  # newest first
        record = run.folder / RECORD_NAME
        if run.status != "running" and record.is_file():
            candidates.append(SavedEvaluation(record, FINAL_VALIDATION, _modified(record), run))
            break
    mine = latest_evaluation_path(project)
    if mine.is_file():
        candidates.append(SavedEvaluation(mine, EVALUATED, _modified(mine)))
    if not candidates:
        return None
    return max(candidates, key=lambda saved: saved.modified)


def load_saved(saved: SavedEvaluation) -> EvaluationResult:
    """Read ``saved`` (either kind) as the page's result."""
    if saved.source == FINAL_VALIDATION:
        return result_from_record(saved.path, saved.run.name if saved.run else None)
    return load_result(saved.path)
