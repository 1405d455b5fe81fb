"""The label checker on a project: its live annotations as the engine's pixel records, the
check (``engine.assist.checker``) run as a job's work, and the findings the user dismissed.

A finding's ``image`` is the image's id and its ``instances`` are annotation ids. Dismissals are
kept in the project (its options, ``label_check_dismissed``: no new table), keyed by the kind,
the image and the annotations, so the same finding stays dismissed on the next check and a
finding about other annotations of that image still shows. Nothing here changes an annotation.
A model's drafts (not accepted yet) are not labels and are not checked.

With a trained model (a run's checkpoint, or any model of the project's task), every live image
is predicted at a low confidence threshold (:data:`MODEL_CONF`, so that what the model only half
sees still scores) and the checker compares labels and predictions by box IoU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np
from sqlalchemy import select

from engine.assist.checker import (
    Finding,
    LabelInstance,
    Prediction,
    check_labels,
    instance_from_normalised,
)
from engine.cancel import CancelToken

from ..state import Annotation, Database, Image
from ..state.models import CLASS
from .projects import Project

DISMISSED_OPTION = "label_check_dismissed"
MODEL_CONF = 0.01
"""Predictions kept for the comparison: low, so that a label the model sees weakly is not
reported as unseen (a label is "doubted" below 0.05)."""
MODEL_IOU = 0.7
KIND_TITLES = {
    "swap": "Left/right swap",
    "duplicate": "Duplicate",
    "tiny": "Tiny polygon",
    "self_intersecting": "Self-intersecting polygon",
    "outside": "Keypoints outside the box",
    "unlabelled": "Object without a label",
    "doubted": "Label the model doubts",
    "shifted": "Label off its object",
    "other_class": "Class the model disputes",
}
"""What the view calls each kind of finding."""


@dataclass(frozen=True)
class LabelCheck:
    """A check's outcome: the findings not dismissed, surest first, the file name of each
    image they name, and how many labels were checked."""

    findings: list[Finding]
    image_names: dict[int, str]
    labels: int


def load_instances(database: Database, keypoint_dims: int = 3) -> list[LabelInstance]:
    """Every live, accepted annotation of a live image, in pixels (ids as the records' ids,
    numbered as the Annotate page's instance list numbers them)."""
    query = (
        select(Annotation, Image.width, Image.height)
        .join(Image, Annotation.image_id == Image.id)
        .where(
            Annotation.deleted_at.is_(None),
            Image.deleted_at.is_(None),
            Annotation.kind != CLASS,
        )
        .order_by(Annotation.image_id, Annotation.position, Annotation.id)
    )
    records, image, number = [], None, 0
    with database.session() as session:
        for row, width, height in session.execute(query):
            number = number + 1 if row.image_id == image else 1
            image = row.image_id
            if not row.draft:  # a draft waits for review: listed, numbered, not yet checked
                records.append(_record(row, (width, height), keypoint_dims, number))
    return records


def _record(row: Annotation, size: tuple[int, int], dims: int, number: int) -> LabelInstance:
    polygon = np.asarray(row.polygon, np.float64).reshape(-1, 2) if row.polygon else None
    keypoints = np.asarray(row.keypoints, np.float64).reshape(-1, dims) if row.keypoints else None
    return instance_from_normalised(row.image_id, row.id, row.class_index, size,
                                    box_xywh=row.box or None, polygon=polygon,
                                    keypoints=keypoints, number=number)


def dismissal_key(finding: Finding) -> str:
    """What identifies a finding across checks: kind, image and annotation ids."""
    instances = ",".join(str(i) for i in sorted(finding.instances))
    return f"{finding.kind}:{finding.image}:{instances or finding.message}"


def dismissed_keys(project: Project) -> set[str]:
    """The keys of the findings the user dismissed in this project."""
    return set((project.settings().options or {}).get(DISMISSED_OPTION, []))


def dismiss(project: Project, findings: list[Finding]) -> None:
    """Remember ``findings`` as dismissed (kept in the project)."""
    keys = dismissed_keys(project) | {dismissal_key(f) for f in findings}
    project.update_options(**{DISMISSED_OPTION: sorted(keys)})


def image_names(database: Database, image_ids) -> dict[int, str]:
    """The file name of each image of ``image_ids``."""
    with database.session() as session:
        rows = session.execute(select(Image.id, Image.path).where(Image.id.in_(list(image_ids))))
        return {image_id: PurePath(path).name for image_id, path in rows}


def model_predictions(project: Project, model_path: str | Path, progress, cancel: CancelToken
                      ) -> dict[int, list[Prediction]]:
    """The model's predictions on every live image, in pixels and project classes (off the
    GUI thread); ``ModelMismatch`` for a model of another task or with more classes."""
    # imported here, on the job's thread: they load torch, which the window need not wait for
    from .predictions import check_task, open_model
    from .prelabel import class_map

    model, info = open_model(model_path)
    check_task(info, project.task)
    mapping = class_map(info.names, project.classes())
    with project.database.session() as session:
        images = session.execute(select(Image.id, Image.path).where(
            Image.deleted_at.is_(None), Image.problem.is_(None)).order_by(Image.id)).all()
    predictions: dict[int, list[Prediction]] = {}
    for done, (image_id, stored) in enumerate(images):
        cancel.raise_if_cancelled()
        path = project.resolve(stored)
        results = model.predict(str(path), conf=MODEL_CONF, iou=MODEL_IOU, imgsz=info.imgsz,
                                progress=lambda _event: None, cancel=cancel)
        predictions[image_id] = [p for result in results
                                 for p in _predictions(image_id, result, mapping)]
        progress(done + 1, len(images), f"The model looks at {path.name}")
    return predictions


def _predictions(image_id: int, result: Any, mapping: dict[int, int]) -> list[Prediction]:
    if result.boxes is None:
        return []
    data = result.boxes.data
    rows = data.detach().cpu().numpy() if hasattr(data, "detach") else np.asarray(data)
    return [Prediction(image_id, mapping[int(row[5])], float(row[4]), row[:4].astype(np.float64))
            for row in rows if int(row[5]) in mapping]


def forget_dismissals(project: Project) -> int:
    """Show every dismissed finding again on the next check; returns how many were hidden."""
    count = len(dismissed_keys(project))
    project.update_options(**{DISMISSED_OPTION: []})
    return count


def check_project(project: Project, model_path: str | Path | None = None
                  ) -> Callable[[Callable, CancelToken], LabelCheck]:
    """A job's work: check the project's labels, against ``model_path``'s predictions when
    given (see :class:`LabelCheck`)."""
    database = project.database

    def work(progress, cancel: CancelToken) -> LabelCheck:
        progress(0, 3, "Reading the annotations")
        schema = project.keypoint_schema()
        dims = schema.dims if schema else 3
        instances = load_instances(database, dims)
        cancel.raise_if_cancelled()
        predictions = None
        if model_path is not None:
            predictions = model_predictions(project, model_path, progress, cancel)
        progress(1, 3, f"Checking {len(instances):,} labels")
        flip_idx = schema.flip_idx if schema and schema.flip_idx else None
        names = schema.names if schema else None
        findings = check_labels(instances, flip_idx=flip_idx, predictions=predictions,
                                joint_names=names,
                                class_names={c.index: c.name for c in project.classes()})
        progress(2, 3, "Leaving out dismissed findings")
        hidden = dismissed_keys(project)
        findings = [f for f in findings if dismissal_key(f) not in hidden]
        return LabelCheck(findings, image_names(database, {f.image for f in findings}),
                          len(instances))

    return work
