"""Counted nouns, the import summary, the wrong-task message and the Recent list's names
(issue 17)."""

from __future__ import annotations

import pytest

from studio.errors import ImportProblem
from studio.services.importers import ImportSummary, import_dataset, wrong_task_message
from studio.services.recent import recent_projects_of
from studio.services.wording import plural


@pytest.mark.parametrize(("count", "word", "expected"), [
    (0, "problem", "0 problems"), (1, "problem", "1 problem"), (2, "image", "2 images"),
    (1, "class", "1 class"), (3, "class", "3 classes"), (2, "entry", "2 entries"),
    (2, "day", "2 days"), (1234, "label", "1,234 labels"), (2, "mouse", "2 mouses"),
])
def test_plural(count, word, expected):
    assert plural(count, word) == expected


def test_plural_takes_an_irregular_form():
    assert plural(2, "person", "people") == "2 people" and plural(1, "person", "people") == \
        "1 person"


def test_the_import_summary_counts_in_the_right_number():
    one = ImportSummary(1, "x", "images", "completed", images=1, annotations=1,
                        problems=[{"path": "a.jpg", "line": None, "reason": "bad"}])
    assert one.text() == "1 image and 1 annotation imported; 1 problem"
    many = ImportSummary(1, "x", "images", "completed", images=2, annotations=0,
                         problems=[{"path": "a", "reason": "r"}] * 3)
    assert many.text() == "2 images and 0 annotations imported; 3 problems"


def test_the_wrong_task_message_uses_peoples_words():
    text = wrong_task_message("yolo-segment", "pose", True)
    assert text == (
        "This folder is a YOLO segmentation dataset, but the project is for pose estimation. "
        "Import it into a segmentation project (File > New Project), or choose a pose dataset "
        "(a dataset yaml with kpt_shape, or a COCO JSON with keypoints) or plain images for "
        "this project.")
    coco = wrong_task_message("coco", "classify", False)
    assert coco.startswith("This file is a COCO dataset, but the project is for "
                           "classification. Import it into a segmentation or pose estimation")


def test_a_wrong_task_import_is_refused_with_that_message(make_project, tmp_path):
    from engine.data.shape_samples import make_shapes_dataset

    data = make_shapes_dataset(tmp_path / "shapes", size=64, train=2, val=1)
    project = make_project("pose")
    with pytest.raises(ImportProblem) as caught:
        import_dataset(project, data)
    assert caught.value.message == wrong_task_message("yolo-segment", "pose", data.is_dir())
    assert "yolo-segment" not in str(caught.value)


def test_recent_entries_name_their_projects(make_project, tmp_path):
    project = make_project("segment", name="Street cats")  # open: read without its lock
    gone = tmp_path / "moved-away"
    entries = recent_projects_of([str(project.folder), str(gone)])
    assert [(e.name, e.exists) for e in entries] == [("Street cats", True), ("moved-away", False)]
    assert entries[0].text() == f"Street cats — {project.folder}"
    assert entries[1].text().endswith("(folder not found)")
