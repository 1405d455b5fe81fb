"""Class edits (studio.services.classes): each operation, its impact sentence, and undo / redo
that restore the database exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from studio.errors import ProjectError
from studio.services import classes as service
from studio.services.classes import (
    DELETED_CLASS,
    AddClass,
    DeleteClass,
    MergeClass,
    MoveClass,
    RecolorClass,
    RenameClass,
)
from studio.state import Annotation, ProjectClass
from tests.studio.services.test_image_queries import SQUARE, add_images

NAMES = ("circle", "triangle", "star", "square")
TRASHED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def project(make_project, tmp_path):
    """Four classes; labels: a [0, 2, 2], b [2, 3], c [1] + a trashed 2, d (trashed) [2]."""
    made = make_project("segment", classes=NAMES)
    add_images(made, tmp_path / "images", [
        {"name": "a.jpg", "labels": [(0, SQUARE), (2, SQUARE), (2, SQUARE)]},
        {"name": "b.jpg", "labels": [(2, SQUARE), (3, SQUARE)]},
        {"name": "c.jpg", "labels": [(1, SQUARE), {"kind": "polygon", "class_index": 2,
                                                   "polygon": SQUARE, "deleted_at": TRASHED}]},
        {"name": "d.jpg", "deleted": True, "labels": [(2, SQUARE)]},
    ])
    return made


def snapshot(project) -> tuple:
    """Every column of every class and annotation row."""
    with project.database.session() as session:
        classes = [(r.id, r.index, r.name, r.color)
                   for r in session.scalars(select(ProjectClass).order_by(ProjectClass.id))]
        labels = [(r.id, r.image_id, r.position, r.kind, r.class_index, r.polygon,
                   r.deleted_at, r.updated_at)
                  for r in session.scalars(select(Annotation).order_by(Annotation.id))]
    return classes, labels


def label_classes(project, *, live: bool = True) -> list[int]:
    """Class numbers of the labels not in the trash (or in it), in id order (d.jpg's label
    counts as live: its image is trashed, the label is not)."""
    with project.database.session() as session:
        state = Annotation.deleted_at.is_(None) if live else Annotation.deleted_at.is_not(None)
        return list(session.scalars(select(Annotation.class_index).where(state)
                                    .order_by(Annotation.id)))


def names(project) -> list[str]:
    return [info.name for info in project.classes()]


def check_undo_redo(project, operation):
    """Apply, undo, redo: each state is exactly the one it should be. Returns the change."""
    before = snapshot(project)
    change = service.apply(project.database, operation)
    after = snapshot(project)
    assert after != before
    service.revert(project.database, change)
    assert snapshot(project) == before
    service.reapply(project.database, change)
    assert snapshot(project) == after
    return change


def test_add_appends_a_class_with_an_unused_colour_and_undoes(project):
    assert service.impact(project.database, AddClass("  moon ")) == \
        "Adds 'moon' as class 4; no label changes."
    change = check_undo_redo(project, AddClass("  moon "))
    assert names(project) == [*NAMES, "moon"]
    colours = [info.color for info in project.classes()]
    assert len(set(colours)) == 5
    assert change.text == "Add 'moon'" and change.labels_before == ()


def test_rename_keeps_labels_and_undoes(project):
    text = service.impact(project.database, RenameClass(2, "sun"))
    assert text == "Renames 'star' to 'sun'; its 3 labels on 2 images keep their class."
    check_undo_redo(project, RenameClass(2, "sun"))
    assert names(project) == ["circle", "triangle", "sun", "square"]
    assert label_classes(project) == [0, 2, 2, 2, 3, 1, 2]


def test_rename_may_change_only_the_case(project):
    service.apply(project.database, RenameClass(2, "Star"))
    assert names(project)[2] == "Star"


def test_recolour_changes_one_colour_and_undoes(project):
    check_undo_redo(project, RecolorClass(1, "#ABCDEF"))
    assert project.classes()[1].color == "#abcdef"


@pytest.mark.parametrize("operation, message", [
    (AddClass("   "), "needs a name"),
    (AddClass("Star"), "class 2 is already called 'star'"),
    (AddClass("x" * 201), "at most 200 characters"),
    (AddClass("a/b"), "cannot hold '/'"),
    (RenameClass(0, "square"), "class 3 is already called 'square'"),
    (RenameClass(9, "moon"), "there is no class 9; this project has classes 0 to 3"),
    (RecolorClass(0, "red"), "'red' is not a colour; give it as #rrggbb"),
    (MoveClass(0, -1), "class 0 is already the first"),
    (MoveClass(3, 1), "class 3 is already the last"),
    (MergeClass(1, 1), "cannot be merged into itself"),
    (DeleteClass(4), "there is no class 4"),
])
def test_bad_operations_say_what_is_wrong_and_change_nothing(project, operation, message):
    before = snapshot(project)
    with pytest.raises(ProjectError, match=message.replace("(", r"\(").replace(")", r"\)")):
        service.impact(project.database, operation)
    with pytest.raises(ProjectError, match=message.replace("(", r"\(").replace(")", r"\)")):
        service.apply(project.database, operation)
    assert snapshot(project) == before


def test_move_up_swaps_numbers_and_labels_follow(project):
    text = service.impact(project.database, MoveClass(2, -1))
    assert text.startswith("'star' becomes class 1 and 'triangle' class 2; their labels follow")
    change = check_undo_redo(project, MoveClass(2, -1))
    assert names(project) == ["circle", "star", "triangle", "square"]
    # star's labels (2) are now 1, triangle's (1) now 2; the trashed star label follows too
    assert label_classes(project) == [0, 1, 1, 1, 3, 2, 1]
    assert label_classes(project, live=False) == [1]
    assert dict(change.index_map) == {1: 2, 2: 1}
    assert change.text == "Move 'star' up"


def test_move_down_then_up_is_the_first_order_again(project):
    start = [(c.index, c.name, c.color) for c in project.classes()]
    service.apply(project.database, MoveClass(0, 1))
    assert names(project) == ["triangle", "circle", "star", "square"]
    assert label_classes(project) == [1, 2, 2, 2, 3, 0, 2]
    service.apply(project.database, MoveClass(1, -1))
    assert [(c.index, c.name, c.color) for c in project.classes()] == start
    assert label_classes(project) == [0, 2, 2, 2, 3, 1, 2]


def test_merge_relabels_removes_and_compacts(project):
    text = service.impact(project.database, MergeClass(1, 3))
    assert text == ("Merging 'triangle' into 'square' makes its 1 label on 1 image 'square' "
                    "labels and removes 'triangle'; the 2 classes after it move up one.")
    change = check_undo_redo(project, MergeClass(1, 3))
    assert names(project) == ["circle", "star", "square"]
    # circle 0 stays; star 2 -> 1; square 3 -> 2; triangle 1 -> square's new number 2
    assert label_classes(project) == [0, 1, 1, 1, 2, 2, 1]
    assert label_classes(project, live=False) == [1]
    assert dict(change.index_map) == {1: 2, 2: 1, 3: 2}


def test_merge_into_an_earlier_class(project):
    service.apply(project.database, MergeClass(3, 0))
    assert names(project) == ["circle", "triangle", "star"]
    assert label_classes(project) == [0, 2, 2, 2, 0, 1, 2]


def test_delete_trashes_its_labels_and_compacts(project):
    text = service.impact(project.database, DeleteClass(2))
    # d.jpg is in the trash: its label is not counted; the trashed label on c is not either
    assert text == ("Deleting 'star' moves its 3 labels on 2 images to the trash; the class "
                    "after it moves up one.")
    change = check_undo_redo(project, DeleteClass(2))
    assert names(project) == ["circle", "triangle", "square"]
    assert label_classes(project) == [0, 2, 1]
    # every star label is trashed with the deleted-class number, never square's new 2
    assert label_classes(project, live=False) == [DELETED_CLASS] * 5
    assert change.text == "Delete 'star'"
    with project.database.session() as session:
        kept = session.scalar(select(Annotation.deleted_at).where(Annotation.polygon.is_not(None),
                                                                   Annotation.image_id == 3,
                                                                   Annotation.class_index < 0))
    assert kept.replace(tzinfo=UTC) == TRASHED  # an earlier deletion keeps its date


def test_delete_of_the_last_class_and_of_an_unused_one(project):
    assert service.impact(project.database, DeleteClass(3)) == \
        "Deleting 'square' moves its 1 label on 1 image to the trash."
    service.apply(project.database, AddClass("moon"))
    assert service.impact(project.database, DeleteClass(3)).endswith(
        "the class after it moves up one.")
    assert service.impact(project.database, DeleteClass(4)) == \
        "Deleting 'moon' moves its 0 labels to the trash."


def test_a_chain_of_edits_undoes_back_to_the_start(project):
    start = snapshot(project)
    changes = [service.apply(project.database, operation) for operation in (
        AddClass("moon"), MoveClass(4, -1), MergeClass(0, 2), DeleteClass(1),
        RenameClass(0, "Circle-ish"), RecolorClass(2, "#123456"))]
    end = snapshot(project)
    for change in reversed(changes):
        service.revert(project.database, change)
    assert snapshot(project) == start
    for change in changes:
        service.reapply(project.database, change)
    assert snapshot(project) == end
