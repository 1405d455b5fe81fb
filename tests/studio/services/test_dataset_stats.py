"""Dataset statistics: class counts, labels per image, image sizes."""

from __future__ import annotations

from studio.services.dataset_stats import compute_stats, instances_histogram_bins
from studio.services.image_queries import UNASSIGNED
from tests.studio.services.test_image_queries import SQUARE, add_images


def test_stats_count_classes_images_and_sizes(make_project, tmp_path):
    project = make_project("segment")
    add_images(project, tmp_path, [
        {"name": "a.jpg", "split": "train", "labels": [(0, SQUARE), (0, SQUARE), (1, SQUARE)]},
        {"name": "b.jpg", "split": "val", "labels": [(0, SQUARE)], "size": (80, 40)},
        {"name": "c.jpg", "labels": []},
        {"name": "d.jpg", "problem": "is not an image"},
        {"name": "e.jpg", "labels": [(1, SQUARE)], "deleted": True},
    ])
    with project.database.session() as session:
        stats = compute_stats(session)
    assert stats.images == 4 and stats.labelled == 2 and stats.unlabelled == 2
    assert stats.with_issues == 1
    assert stats.class_instances == {0: 3, 1: 1}
    assert stats.class_images == {0: 2, 1: 1}
    assert stats.class_splits[0] == {"train": 2, "val": 1, "test": 0, UNASSIGNED: 0}
    assert stats.instances_per_image == {0: 2, 1: 1, 3: 1}
    assert stats.splits == {"train": 1, "val": 1, "test": 0, UNASSIGNED: 2}
    assert stats.instances == 4
    sizes = stats.sizes
    assert (sizes.min_width, sizes.max_width, sizes.min_height, sizes.max_height) == (
        64, 80, 40, 64)
    assert sizes.common[0] == (64, 64, 3) and not sizes.uniform
    assert sizes.median_width == 64


def test_empty_project_and_histogram_bars(make_project):
    project = make_project("classify", classes=("a", "b"))
    with project.database.session() as session:
        stats = compute_stats(session)
    assert stats.images == 0 and stats.class_instances == {} and stats.instances_per_image == {}
    assert instances_histogram_bins({}) == []
    assert instances_histogram_bins({0: 2, 2: 1}) == [("0", 2), ("1", 0), ("2", 1)]
    assert instances_histogram_bins({1: 1, 12: 2, 30: 1}, top=10)[-1] == ("10+", 3)
