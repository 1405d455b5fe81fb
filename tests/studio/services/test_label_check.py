"""The label checker on a project: annotations read in pixels, findings named by image and
annotation ids, dismissals kept in the project."""

from __future__ import annotations

from sqlalchemy import select

from engine.cancel import CancelToken
from engine.data.figure_samples import FLIP_IDX, KEYPOINT_NAMES, SKELETON, make_figures_dataset
from engine.data.shape_samples import make_shapes_dataset
from studio.services.importers import import_dataset
from studio.services.keypoint_schemas import KeypointSchema
from studio.services.label_check import (
    check_project,
    dismiss,
    dismissal_key,
    load_instances,
    model_predictions,
)
from studio.services.projects import open_project
from studio.state import Annotation

FIGURES = KeypointSchema.build(KEYPOINT_NAMES, SKELETON, FLIP_IDX)


def figures_project(make_project, tmp_path):
    """A pose project of generated figures, with the hands of its first figure swapped."""
    project = make_project("pose", classes=(), keypoints=FIGURES)
    import_dataset(project, make_figures_dataset(tmp_path / "figures", size=128, train=12,
                                                 val=2, seed=3))
    with project.database.session() as session:
        row = session.scalars(select(Annotation).order_by(Annotation.id)).first()
        points = list(row.keypoints)
        points[3:6], points[6:9] = points[6:9], points[3:6]  # left hand <-> right hand
        row.keypoints = points
        swapped = (row.image_id, row.id)
    return project, swapped


def run(project):
    return check_project(project)(lambda *_: None, CancelToken())


def test_a_swap_is_found_by_image_and_annotation_and_named(make_project, tmp_path):
    project, (image_id, annotation_id) = figures_project(make_project, tmp_path)
    instances = load_instances(project.database)
    assert len(instances) >= 12 and all(i.keypoints.shape == (5, 3) for i in instances)
    assert max(float(i.box[2]) for i in instances) > 50  # pixels of the 128-px images
    result = run(project)
    assert [(f.kind, f.image, f.instances) for f in result.findings] == [
        ("swap", image_id, (annotation_id,))
    ]
    assert "left_hand↔right_hand" in result.findings[0].message
    assert result.image_names[image_id].endswith(".jpg") and result.labels == len(instances)


def test_dismissed_findings_stay_dismissed_in_the_project(make_project, tmp_path):
    project, _ = figures_project(make_project, tmp_path)
    (finding,) = run(project).findings
    dismiss(project, [finding])
    folder = project.folder
    project.close()
    reopened = open_project(folder)
    try:
        assert run(reopened).findings == []
        stored = reopened.settings().options["label_check_dismissed"]
        assert stored == [dismissal_key(finding)]
    finally:
        reopened.close()


def test_duplicates_in_a_segment_project_and_drafts_left_out(make_project, tmp_path):
    project = make_project("segment", classes=())
    import_dataset(project, make_shapes_dataset(tmp_path / "shapes", size=96, train=3, val=1))
    with project.database.session() as session:
        first = session.scalars(select(Annotation).order_by(Annotation.id)).first()
        copy = Annotation(image_id=first.image_id, kind=first.kind, position=99,
                          class_index=first.class_index, polygon=list(first.polygon))
        draft = Annotation(image_id=first.image_id, kind=first.kind, position=100, draft=True,
                           class_index=first.class_index, polygon=list(first.polygon))
        session.add_all([copy, draft])
        session.flush()
        expected = (first.image_id, (first.id, copy.id))
        labels = session.scalars(select(Annotation).where(
            Annotation.image_id == first.image_id).order_by(Annotation.position,
                                                            Annotation.id)).all()
        numbers = [labels.index(first) + 1, labels.index(copy) + 1]  # the Annotate list's
        name = next(c.name for c in project.classes() if c.index == first.class_index)
    result = run(project)
    assert [(f.kind, f.image, f.instances) for f in result.findings] == [("duplicate", *expected)]
    # named as the user sees them: the instance list's numbers and the class's name
    assert result.findings[0].message.startswith(
        f"instances #{numbers[0]} and #{numbers[1]} ({name}) overlap with IoU 1.00")


def test_against_a_model_a_label_it_does_not_see_is_doubted(make_project, tmp_path):
    from tests.studio.services.test_prelabel import add_images, tiny

    project = make_project("segment", classes=("a", "b"))
    image_id = add_images(project, tmp_path, 1)[0]  # 128 × 96 noise
    model = tiny(tmp_path, "yolov8n-seg.yaml")
    predictions = model_predictions(project, model, lambda *_: None, CancelToken())
    assert list(predictions) == [image_id] and predictions[image_id]
    seen = max(predictions[image_id], key=lambda p: p.score)
    assert seen.score >= 0.05  # what a label where the model looks must reach
    x1, y1, x2, y2 = (float(v) for v in seen.box / [128, 96, 128, 96])
    faint = (0.0, 0.0, 5 / 128, 0.0, 5 / 128, 5 / 96, 0.0, 5 / 96)  # 25 px² in a corner
    with project.database.session() as session:
        session.add_all([
            Annotation(image_id=image_id, kind="polygon", position=0,
                       class_index=seen.class_index, polygon=[x1, y1, x2, y1, x2, y2, x1, y2]),
            Annotation(image_id=image_id, kind="polygon", position=1, class_index=0,
                       polygon=list(faint)),
        ])
    with project.database.session() as session:
        faint_id = max(session.scalars(select(Annotation.id)))
    result = check_project(project, model)(lambda *_: None, CancelToken())
    assert [(f.kind, f.instances) for f in result.findings] == [("doubted", (faint_id,))]
