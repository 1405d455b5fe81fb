"""Each image's annotation status for the Annotate page's image list, go-to and "next
unlabelled": its file name, how many labels and drafts it has, whether it is reviewed and
whether it is marked as background (checked: no objects).

One grouped query for the whole project (milliseconds for 10,000 images); images in the trash
and annotations in the trash are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select

from ..state import Annotation, Database, Image

LABELLED, UNLABELLED, DRAFTS, BACKGROUND = "labelled", "unlabelled", "drafts", "background"


@dataclass(frozen=True)
class ImageStatus:
    """What the image list shows of one image."""

    id: int
    file_name: str
    labels: int = 0  # accepted annotations
    drafts: int = 0  # a model's, not accepted yet
    reviewed: bool = False
    background: bool = False  # marked as having no objects (a labelled negative)

    @property
    def state(self) -> str:
        """``labelled``, ``background``, ``drafts`` (drafts only) or ``unlabelled``."""
        if self.labels:
            return LABELLED
        if self.background:
            return BACKGROUND
        return DRAFTS if self.drafts else UNLABELLED

    @property
    def needs_labels(self) -> bool:
        """No accepted label and not background: what "next unlabelled" looks for (drafts
        are a model's proposals, not labels yet)."""
        return not self.labels and not self.background


def file_name(path: str) -> str:
    """The part of a stored path after its last ``/`` or ``\\``."""
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def image_statuses(database: Database) -> list[ImageStatus]:
    """Every image not in the trash, in id order (the Annotate page's order)."""
    live = Annotation.deleted_at.is_(None)
    labels = (select(Annotation.image_id,
                     func.sum(case((Annotation.draft.is_(False), 1), else_=0)).label("labels"),
                     func.sum(case((Annotation.draft.is_(True), 1), else_=0)).label("drafts"))
              .where(live).group_by(Annotation.image_id).subquery())
    query = (select(Image.id, Image.path, Image.reviewed, Image.background, labels.c.labels,
                    labels.c.drafts)
             .outerjoin(labels, labels.c.image_id == Image.id)
             .where(Image.deleted_at.is_(None)).order_by(Image.id))
    with database.session() as session:
        rows = session.execute(query).all()
    return [ImageStatus(int(image_id), file_name(path), int(labels or 0), int(drafts or 0),
                        bool(reviewed), bool(background))
            for image_id, path, reviewed, background, labels, drafts in rows]
