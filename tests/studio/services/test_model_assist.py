"""The project's own model as an assist: the mask under a point, the pose in a box, as drafts."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.export.decisive import make_decisive
from engine.nn import build_model
from studio.services.keypoint_schemas import KeypointSchema
from studio.services.model_assist import ModelAssist, assist_model
from studio.services.predictions import open_model
from studio.services.runs import start_run

SCHEMA = KeypointSchema.build(["nose", "left_eye", "right_eye", "left_hand"],
                              [(0, 1), (0, 2), (1, 3)])


def trained_run(project, tmp_path, config, **kw):
    """A run of the project whose best.pt is a small model that predicts with confidence."""
    torch.manual_seed(0)
    model = make_decisive(build_model(config, num_classes=2, **kw))
    folder = project.folder / "runs" / "train"
    (folder / "weights").mkdir(parents=True)
    save_checkpoint(folder / "weights" / "best.pt",
                    checkpoint_dict(model, train_args={"imgsz": 64}))
    start_run(project, name="train", folder=folder, model=config, settings={})
    return folder / "weights" / "best.pt"


def image(tmp_path, seed=0):
    path = tmp_path / f"img_{seed}.png"
    pixels = (np.random.default_rng(seed).random((96, 128, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(path), pixels)
    return path


def reference_masks(checkpoint, path):
    """What the model itself predicts (the masks and scores, highest score first)."""
    model, info = open_model(checkpoint)
    result = model.predict(str(path), conf=0.25, iou=0.7, imgsz=info.imgsz,
                           progress=lambda _e: None)[0]
    masks = np.asarray(result.masks.data.cpu()) > 0.5
    scores = np.asarray(result.boxes.data.cpu())[:, 4]
    order = np.argsort(-scores)
    return masks[order], scores[order]


def rasterise(polygon, width, height):
    points = np.asarray(polygon).reshape(-1, 2) * (width, height)
    canvas = np.zeros((height, width), np.uint8)
    cv2.fillPoly(canvas, [np.round(points - 0.5).astype(np.int32)], 1)
    return canvas.astype(bool)


def inside_point(mask):
    """The pixel deepest inside ``mask`` (normalised x, y)."""
    depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    row, col = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return (col + 0.5) / mask.shape[1], (row + 0.5) / mask.shape[0]


def test_mask_at_gives_the_mask_under_the_point_as_a_draft(make_project, tmp_path):
    project = make_project("segment")
    checkpoint = trained_run(project, tmp_path, "yolov8n-seg.yaml")
    found, message = assist_model(project)
    assert found.checkpoint == checkpoint and "train" in message
    path = image(tmp_path)
    masks, scores = reference_masks(checkpoint, path)
    assert len(masks) >= 1
    assist = ModelAssist(project, found.checkpoint)
    prediction = assist.predict(path)
    assert assist.predict(path) is prediction  # one model run per image
    # a point only the top mask covers: its polygon is (the part under the point of) that mask
    only_top = masks[0] & ~masks[1:].any(axis=0)
    draft = prediction.mask_at(inside_point(only_top))
    assert draft is not None and draft.draft and draft.kind == "polygon"
    assert abs(draft.score - scores[0]) < 1e-4
    _n, parts = cv2.connectedComponents(masks[0].astype(np.uint8))
    x, y = inside_point(only_top)
    part = parts == parts[int(y * 96), int(x * 128)]
    drawn = rasterise(draft.polygon, 128, 96)
    assert (drawn & part).sum() / (drawn | part).sum() > 0.7
    # background: no mask there, no draft
    background = ~masks.any(axis=0)
    assert background.any()
    assert prediction.mask_at(inside_point(background)) is None


def test_pose_in_takes_the_instance_the_box_overlaps(make_project, tmp_path):
    project = make_project("pose", classes=("person", "dog"), keypoints=SCHEMA)
    checkpoint = trained_run(project, tmp_path, "yolov8n-pose.yaml", keypoint_shape=(4, 3))
    prediction = ModelAssist(project, checkpoint).predict(image(tmp_path))
    assert len(prediction.boxes) >= 1
    x0, y0, x1, y1 = prediction.boxes[0]
    grown = (x0 - 0.02, y0 - 0.02, x1 + 0.02, y1 + 0.02)  # a box drawn roughly around it
    draft = prediction.pose_in(grown)
    assert draft is not None and draft.draft and draft.kind == "pose"
    assert len(draft.keypoints) == 12 and len(draft.box) == 4
    cx, cy, w, h = draft.box
    assert abs(cx - (x0 + x1) / 2) < 0.05 and abs(w - (x1 - x0)) < 0.1
    far = (0.0, 0.0, 0.01, 0.01)
    assert prediction.pose_in(far) is None


def test_no_trained_run_says_why(make_project):
    found, message = assist_model(make_project("segment"))
    assert found is None and "Train page" in message
    found, message = assist_model(make_project("classify"))
    assert found is None and "segment and pose" in message


def test_a_large_images_masks_are_kept_small_and_still_map_back(make_project, tmp_path):
    project = make_project("segment")
    checkpoint = trained_run(project, tmp_path, "yolov8n-seg.yaml")
    small = image(tmp_path)
    large = tmp_path / "large.png"  # the same picture at 24 times the size
    cv2.imwrite(str(large), cv2.resize(cv2.imread(str(small)), (128 * 24, 96 * 24),
                                       interpolation=cv2.INTER_NEAREST))
    prediction = ModelAssist(project, checkpoint).predict(large)
    assert len(prediction.masks) >= 1 and max(prediction.masks.shape[1:]) <= 1024
    top = int(np.argmax([d.score for d in prediction.drafts]))
    others = np.delete(prediction.masks, top, axis=0)
    x, y = inside_point(prediction.masks[top] & ~others.any(axis=0))
    draft = prediction.mask_at((x, y))
    height, width = prediction.masks.shape[1:]
    _n, parts = cv2.connectedComponents(prediction.masks[top].astype(np.uint8))
    part = parts == parts[int(y * height), int(x * width)]
    drawn = rasterise(draft.polygon, width, height)
    assert (drawn & part).sum() / (drawn | part).sum() > 0.7
