"""Split management: put images in train / val / test by hand or at random by ratios.

Each call is one transaction (all images move or none) and one ``executemany`` statement, so
10,000 images move in well under a second. A random split is reproducible: the same seed, the
same images and the same ratios give the same assignment on any machine.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from ..state.database import Database
from ..state.models import SPLITS, Image


@dataclass(frozen=True)
class SplitRatios:
    """Shares of train, val and test (any non-negative numbers; normalised to their sum)."""

    train: float = 0.8
    val: float = 0.1
    test: float = 0.1

    def __post_init__(self) -> None:
        if min(self.train, self.val, self.test) < 0 or self.train + self.val + self.test <= 0:
            raise ValueError("split ratios must be non-negative and not all zero")

    def counts(self, total: int) -> dict[str, int]:
        """How many of ``total`` images go to each split (largest remainders round up, so the
        counts always add up to ``total``)."""
        shares = (self.train, self.val, self.test)
        scale = total / sum(shares)
        exact = [share * scale for share in shares]
        counts = [int(x) for x in exact]
        order = sorted(range(3), key=lambda i: (exact[i] - counts[i], shares[i]), reverse=True)
        for i in order[: total - sum(counts)]:
            counts[i] += 1
        return dict(zip(SPLITS, counts, strict=True))


def _check_split(split: str | None) -> None:
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)} or None")


def assign_split(database: Database, image_ids: Sequence[int], split: str | None) -> int:
    """Put ``image_ids`` in ``split`` (``None``: in no split); returns how many changed."""
    _check_split(split)
    ids = sorted(set(int(i) for i in image_ids))
    if not ids:
        return 0
    with database.session() as session:
        return _write_splits(session, {i: split for i in ids})


_IMAGES = Image.__table__
_SET_SPLIT = (update(_IMAGES).where(_IMAGES.c.id == bindparam("image_id"))
              .values(split=bindparam("new_split")))


def _write_splits(session: Session, plan: dict[int, str | None]) -> int:
    """One ``executemany`` UPDATE; returns the rows changed (unknown ids change nothing)."""
    if not plan:
        return 0
    rows = [{"image_id": i, "new_split": s} for i, s in plan.items()]
    result = session.connection().execute(_SET_SPLIT, rows)
    return max(int(result.rowcount), 0)


def plan_random_split(image_ids: Sequence[int], ratios: SplitRatios,
                      seed: int) -> dict[int, str]:
    """The split of each image: ``image_ids`` sorted, shuffled by ``random.Random(seed)``,
    then cut by ``ratios`` (pure: a test can check it without a database)."""
    ids = sorted(set(int(i) for i in image_ids))
    random.Random(seed).shuffle(ids)
    plan: dict[int, str] = {}
    start = 0
    for split, count in ratios.counts(len(ids)).items():
        for image_id in ids[start:start + count]:
            plan[image_id] = split
        start += count
    return plan


def random_split(database: Database, ratios: SplitRatios, seed: int, *,
                 image_ids: Sequence[int] | None = None,
                 only_unassigned: bool = False) -> dict[str, int]:
    """Split images at random by ``ratios`` with ``seed``: every image of the project (trash
    excluded), or ``image_ids``, or (``only_unassigned``) those in no split yet. Returns the
    images per split."""
    with database.session() as session:
        statement = select(Image.id).where(Image.deleted_at.is_(None))
        if only_unassigned:
            statement = statement.where(Image.split.is_(None))
        candidates = list(session.scalars(statement))
        if image_ids is not None:  # a set, not SQL IN: a selection may exceed SQLite's limit
            wanted = set(int(i) for i in image_ids)
            candidates = [i for i in candidates if i in wanted]
        plan = plan_random_split(candidates, ratios, seed)
        _write_splits(session, dict(plan))
    counts = dict.fromkeys(SPLITS, 0)
    for split in plan.values():
        counts[split] += 1
    return counts
