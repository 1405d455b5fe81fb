"""Split management: by hand and at random (reproducible, respecting the ratios)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from studio.services.image_queries import UNASSIGNED, split_counts
from studio.services.splits import SplitRatios, assign_split, plan_random_split, random_split
from studio.state.models import Image
from tests.studio.services.test_image_queries import add_images


def _splits(project) -> dict[int, str | None]:
    with project.database.session() as session:
        return {i: s for i, s in session.execute(select(Image.id, Image.split))}


def test_assign_by_hand(make_project, tmp_path):
    project = make_project("segment")
    ids = add_images(project, tmp_path, [{"name": f"{i}.jpg"} for i in range(5)])
    assert assign_split(project.database, ids[:2], "val") == 2
    assert assign_split(project.database, [ids[4], 999_999], "test") == 1  # unknown id skipped
    assert _splits(project) == {ids[0]: "val", ids[1]: "val", ids[2]: None, ids[3]: None,
                                ids[4]: "test"}
    assign_split(project.database, ids[:1], None)
    assert _splits(project)[ids[0]] is None
    with pytest.raises(ValueError, match="unknown split"):
        assign_split(project.database, ids, "training")


def test_ratio_counts_add_up():
    assert SplitRatios(0.7, 0.2, 0.1).counts(10) == {"train": 7, "val": 2, "test": 1}
    assert SplitRatios(80, 10, 10).counts(7) == {"train": 5, "val": 1, "test": 1}  # remainders
    assert sum(SplitRatios(1, 1, 1).counts(100).values()) == 100
    assert SplitRatios(1, 0, 0).counts(3) == {"train": 3, "val": 0, "test": 0}
    with pytest.raises(ValueError):
        SplitRatios(0, 0, 0)


def test_random_split_is_reproducible_and_respects_ratios(make_project, tmp_path):
    project = make_project("segment")
    add_images(project, tmp_path, [{"name": f"{i}.jpg"} for i in range(50)])
    counts = random_split(project.database, SplitRatios(0.6, 0.3, 0.1), seed=7)
    assert counts == {"train": 30, "val": 15, "test": 5}
    first = _splits(project)
    with project.database.session() as session:
        assert split_counts(session) == {"train": 30, "val": 15, "test": 5, UNASSIGNED: 0}
    random_split(project.database, SplitRatios(0.6, 0.3, 0.1), seed=7)
    assert _splits(project) == first  # same seed, same split
    random_split(project.database, SplitRatios(0.6, 0.3, 0.1), seed=8)
    assert _splits(project) != first
    assert plan_random_split([3, 1, 2], SplitRatios(), 5) == plan_random_split([1, 2, 3],
                                                                               SplitRatios(), 5)


def test_random_split_of_a_selection_or_the_unassigned(make_project, tmp_path):
    project = make_project("segment")
    ids = add_images(project, tmp_path, [{"name": f"{i}.jpg", "split": "test" if i < 4 else None}
                                         for i in range(10)])
    random_split(project.database, SplitRatios(1, 0, 0), seed=1, only_unassigned=True)
    splits = _splits(project)
    assert [splits[i] for i in ids] == ["test"] * 4 + ["train"] * 6
    random_split(project.database, SplitRatios(0, 1, 0), seed=1, image_ids=ids[:2])
    splits = _splits(project)
    assert [splits[i] for i in ids[:3]] == ["val", "val", "test"]
