"""Pre-labelling: drafts from a real model, user labels kept, the review queue's order."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.export.decisive import make_decisive
from engine.nn import build_model
from studio.services.annotations import AnnotationData, load_annotations, save_annotations
from studio.services.keypoint_schemas import KeypointSchema
from studio.services.predictions import ModelMismatch
from studio.services.prelabel import (
    polygon_from_mask,
    prelabel_targets,
    review_queue,
    run_prelabel,
    write_drafts,
)
from studio.state import Annotation, Image

SCHEMA = KeypointSchema.build(["nose", "left_eye", "right_eye", "left_hand"],
                              [(0, 1), (0, 2), (1, 3)])


def tiny(folder, config, **kw):
    model = make_decisive(build_model(config, num_classes=2, **kw))
    return save_checkpoint(folder / f"{config}.pt", checkpoint_dict(model,
                                                                    train_args={"imgsz": 64}))


def add_images(project, folder, count):
    with project.database.session() as session:
        for i in range(count):
            path = folder / f"img_{i}.png"
            image = (np.random.default_rng(i).random((96, 128, 3)) * 255).astype(np.uint8)
            cv2.imwrite(str(path), image)
            session.add(Image(path=str(path), width=128, height=96))
    with project.database.session() as session:
        return list(session.scalars(select(Image.id).order_by(Image.id)))


def test_polygon_from_mask_is_simplified_and_normalised():
    mask = np.zeros((100, 200), bool)
    cv2.circle(mask.view(np.uint8), (100, 50), 30, 1, -1)
    polygon = polygon_from_mask(mask)
    xs, ys = polygon[0::2], polygon[1::2]
    assert 6 <= len(polygon) // 2 < 40
    assert abs(min(xs) - 0.35) < 0.02 and abs(max(ys) - 0.8) < 0.03


def test_segment_prelabel_keeps_user_labels(make_project, tmp_path):
    project = make_project("segment")
    ids = add_images(project, tmp_path, 3)
    own = AnnotationData("polygon", 1, polygon=(0.1, 0.1, 0.3, 0.1, 0.3, 0.3))
    save_annotations(project.database, ids[0], [own])
    assert prelabel_targets(project.database) == ids[1:]
    model = tiny(tmp_path, "yolov8n-seg.yaml")
    report = run_prelabel(project, model, conf=0.05)
    assert report.images == 2 and report.drafts > 0
    assert load_annotations(project.database, ids[0])[0].draft is False  # untouched
    drafts = load_annotations(project.database, ids[1])
    assert drafts and all(d.draft and d.score and d.kind == "polygon" for d in drafts)
    # again on all images: old drafts replaced (to the trash), the user's label kept first
    again = run_prelabel(project, model, conf=0.05, only_unlabelled=False)
    assert again.images == 3
    first = load_annotations(project.database, ids[0])
    assert first[0].draft is False and all(a.draft for a in first[1:])
    assert len(load_annotations(project.database, ids[1])) == len(drafts)
    queue = review_queue(project)
    assert set(queue) == set(ids)
    means = [np.mean([a.score for a in load_annotations(project.database, i) if a.draft])
             for i in queue]
    assert means == sorted(means)


def test_pose_prelabel_box_and_keypoints(make_project, tmp_path):
    project = make_project("pose", classes=("person", "dog"), keypoints=SCHEMA)
    ids = add_images(project, tmp_path, 1)
    path = tiny(tmp_path, "yolov8n-pose.yaml", keypoint_shape=(4, 3))
    run_prelabel(project, path, conf=0.05)
    drafts = load_annotations(project.database, ids[0])
    assert drafts and drafts[0].kind == "pose" and len(drafts[0].box) == 4
    assert len(drafts[0].keypoints) == 12


def test_classify_queue_by_margin_and_own_class_kept(make_project, tmp_path):
    project = make_project("classify")
    ids = add_images(project, tmp_path, 3)
    save_annotations(project.database, ids[2], [AnnotationData("class", 0)])
    write_drafts(project.database, ids[2], [AnnotationData("class", 1, draft=True, score=0.9)])
    with project.database.session() as session:  # the user's class stays the only one
        assert session.scalar(select(Annotation).where(Annotation.image_id == ids[2],
                                                       Annotation.draft.is_(True))) is None
    run_prelabel(project, tiny(tmp_path, "yolov8n-cls.yaml"))
    from studio.services.prelabel import load_uncertainty
    margins = load_uncertainty(project)
    queue = review_queue(project)
    assert set(queue) == set(ids[:2])
    assert [margins[str(i)] for i in queue] == sorted(margins[str(i)] for i in queue)


def test_wrong_task_and_too_many_classes(make_project, tmp_path):
    pose = make_project("pose", classes=("person",), keypoints=SCHEMA)
    add_images(pose, tmp_path, 1)
    seg = tiny(tmp_path, "yolov8n-seg.yaml")
    with pytest.raises(ModelMismatch, match="segment model, but this is a pose project"):
        run_prelabel(pose, seg)
    one_class = make_project("segment", classes=("only",))
    with pytest.raises(ModelMismatch, match="knows 2 classes, but the project has 1"):
        run_prelabel(one_class, seg)
