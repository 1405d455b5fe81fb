"""The label checker on a project: its live annotations as the engine's pixel records, the
check (``engine.assist.checker``) run as a job's work, and the findings the user dismissed.

A finding's ``image`` is the image's id and its ``instances`` are annotation ids. Dismissals are
kept in the project (its options, ``label_check_dismissed``: no new table), keyed by the kind,
the image and the annotations, so the same finding stays dismissed on the next check and a
finding about other annotations of that image still shows. Nothing here changes an annotation.
A model's drafts (not accepted yet) are not labels and are not checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np
from sqlalchemy import select

from engine.assist.checker import Finding, LabelInstance, check_labels, instance_from_normalised
from engine.cancel import CancelToken

from ..state import Annotation, Database, Image
from ..state.models import CLASS
from .projects import Project

DISMISSED_OPTION = "label_check_dismissed"
KIND_TITLES = {
    "swap": "Left/right swap",
    "duplicate": "Duplicate",
    "tiny": "Tiny polygon",
    "self_intersecting": "Self-intersecting polygon",
    "outside": "Keypoints outside the box",
    "unlabelled": "Object without a label",
    "doubted": "Label the model doubts",
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
    """Every live, accepted annotation of a live image, in pixels (ids as the records' ids)."""
    query = (
        select(Annotation, Image.width, Image.height)
        .join(Image, Annotation.image_id == Image.id)
        .where(
            Annotation.deleted_at.is_(None),
            Image.deleted_at.is_(None),
            Annotation.draft.is_(False),
            Annotation.kind != CLASS,
        )
        .order_by(Annotation.image_id, Annotation.position, Annotation.id)
    )
    with database.session() as session:
        return [_record(row, (width, height), keypoint_dims) for row, width, height
                in session.execute(query)]


def _record(row: Annotation, size: tuple[int, int], dims: int) -> LabelInstance:
    polygon = np.asarray(row.polygon, np.float64).reshape(-1, 2) if row.polygon else None
    keypoints = np.asarray(row.keypoints, np.float64).reshape(-1, dims) if row.keypoints else None
    return instance_from_normalised(row.image_id, row.id, row.class_index, size,
                                    box_xywh=row.box or None, polygon=polygon,
                                    keypoints=keypoints)


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


def check_project(project: Project) -> Callable[[Callable, CancelToken], LabelCheck]:
    """A job's work: check the project's labels (see :class:`LabelCheck`)."""
    database = project.database

    def work(progress, cancel: CancelToken) -> LabelCheck:
        progress(0, 3, "Reading the annotations")
        schema = project.keypoint_schema()
        dims = schema.dims if schema else 3
        instances = load_instances(database, dims)
        cancel.raise_if_cancelled()
        progress(1, 3, f"Checking {len(instances):,} labels")
        flip_idx = schema.flip_idx if schema and schema.flip_idx else None
        names = schema.names if schema else None
        findings = check_labels(instances, flip_idx=flip_idx, joint_names=names)
        progress(2, 3, "Leaving out dismissed findings")
        hidden = dismissed_keys(project)
        findings = [f for f in findings if dismissal_key(f) not in hidden]
        return LabelCheck(findings, image_names(database, {f.image for f in findings}),
                          len(instances))

    return work
