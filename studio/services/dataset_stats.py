"""Dataset statistics for the Datasets page: labels per class, labels per image, image sizes.

A handful of ``GROUP BY`` queries (no row is loaded into Python), so it takes tens of
milliseconds on 10,000+ images; the page still runs it off the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..state.models import SPLITS, Annotation, Image
from .image_queries import UNASSIGNED, is_background, live_annotation, split_counts, trash_count


@dataclass(frozen=True)
class SizeSummary:
    """Image sizes: the smallest, median and largest width and height, and the commonest."""

    min_width: int = 0
    min_height: int = 0
    median_width: float = 0.0
    median_height: float = 0.0
    max_width: int = 0
    max_height: int = 0
    common: tuple[tuple[int, int, int], ...] = ()  # (width, height, images), commonest first

    @property
    def uniform(self) -> bool:
        """True when every image has the same size."""
        return len(self.common) == 1


@dataclass(frozen=True)
class DatasetStats:
    """A project's figures (trash and draft labels left out).

    ``class_instances``: labels per class index; ``class_images``: images holding the class;
    ``class_splits``: labels per class index and split (``UNASSIGNED`` for none);
    ``instances_per_image``: how many images have 0, 1, 2, ... labels; ``background``: images
    marked as having no objects (labelled negatives); ``trash``: images in the trash (not
    counted anywhere else).
    """

    images: int = 0
    labelled: int = 0
    with_issues: int = 0
    background: int = 0
    trash: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    class_instances: dict[int, int] = field(default_factory=dict)
    class_images: dict[int, int] = field(default_factory=dict)
    class_splits: dict[int, dict[str, int]] = field(default_factory=dict)
    instances_per_image: dict[int, int] = field(default_factory=dict)
    sizes: SizeSummary = field(default_factory=SizeSummary)

    @property
    def unlabelled(self) -> int:
        """Images with no label that are not marked as background (not used in training)."""
        return self.images - self.labelled - self.background

    @property
    def instances(self) -> int:
        return sum(self.class_instances.values())


def compute_stats(session: Session) -> DatasetStats:
    """The figures of the project behind ``session``."""
    live_image = Image.deleted_at.is_(None)
    images = int(session.scalar(select(func.count(Image.id)).where(live_image)) or 0)
    with_issues = int(session.scalar(
        select(func.count(Image.id)).where(live_image, Image.problem.is_not(None))) or 0)
    background = int(session.scalar(
        select(func.count(Image.id)).where(live_image, is_background())) or 0)

    per_class = (select(Annotation.class_index, Image.split, func.count(Annotation.id),
                        func.count(func.distinct(Annotation.image_id)))
                 .join(Image, Image.id == Annotation.image_id)
                 .where(live_image, *live_annotation())
                 .group_by(Annotation.class_index, Image.split))
    class_instances: dict[int, int] = {}
    class_splits: dict[int, dict[str, int]] = {}
    for index, split, count, _images in session.execute(per_class):
        class_instances[index] = class_instances.get(index, 0) + int(count)
        by_split = class_splits.setdefault(index, dict.fromkeys((*SPLITS, UNASSIGNED), 0))
        by_split[split or UNASSIGNED] += int(count)
    class_images = {
        int(index): int(count) for index, count in session.execute(
            select(Annotation.class_index, func.count(func.distinct(Annotation.image_id)))
            .join(Image, Image.id == Annotation.image_id)
            .where(live_image, *live_annotation()).group_by(Annotation.class_index))
    }

    counts = (select(Annotation.image_id, func.count(Annotation.id).label("n"))
              .join(Image, Image.id == Annotation.image_id)
              .where(live_image, *live_annotation()).group_by(Annotation.image_id).subquery())
    histogram = {int(n): int(k) for n, k in session.execute(
        select(counts.c.n, func.count()).group_by(counts.c.n))}
    labelled = sum(histogram.values())
    if images - labelled:
        histogram[0] = images - labelled

    return DatasetStats(
        images=images, labelled=labelled, with_issues=with_issues, background=background,
        trash=trash_count(session), splits=split_counts(session),
        class_instances=dict(sorted(class_instances.items())),
        class_images=dict(sorted(class_images.items())), class_splits=class_splits,
        instances_per_image=dict(sorted(histogram.items())), sizes=_sizes(session),
    )


def _sizes(session: Session) -> SizeSummary:
    statement = (select(Image.width, Image.height, func.count(Image.id).label("n"))
                 .where(Image.deleted_at.is_(None)).group_by(Image.width, Image.height)
                 .order_by(func.count(Image.id).desc()))
    groups = [(int(w or 0), int(h or 0), int(n)) for w, h, n in session.execute(statement)]
    if not groups:
        return SizeSummary()
    return SizeSummary(
        min_width=min(w for w, _, _ in groups), min_height=min(h for _, h, _ in groups),
        median_width=_weighted_median([(w, n) for w, _, n in groups]),
        median_height=_weighted_median([(h, n) for _, h, n in groups]),
        max_width=max(w for w, _, _ in groups), max_height=max(h for _, h, _ in groups),
        common=tuple(groups[:5]),
    )


def _weighted_median(values: list[tuple[int, int]]) -> float:
    """The median of values given as ``(value, how many)`` (the distinct sizes, not rows)."""
    values = sorted(values)
    total = sum(n for _, n in values)
    if total == 0:
        return 0.0
    middle = [(total - 1) // 2, total // 2]
    result, seen = [], 0
    for value, n in values:
        for position in list(middle):
            if seen <= position < seen + n:
                result.append(value)
                middle.remove(position)
        seen += n
    return float(median(result))


def instances_histogram_bins(histogram: dict[int, int], top: int = 10) -> list[tuple[str, int]]:
    """The histogram as labelled bars ``0, 1, ...`` up to the largest count, with counts of
    ``top`` or more gathered in one ``"top+"`` bar."""
    if not histogram:
        return []
    largest = max(histogram)
    bars = [(str(n), histogram.get(n, 0)) for n in range(0, min(largest, top - 1) + 1)]
    if largest >= top:
        bars.append((f"{top}+", sum(count for n, count in histogram.items() if n >= top)))
    return bars
