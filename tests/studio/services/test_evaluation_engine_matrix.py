"""Evaluate's confusion matrix is the engine validator's, cell for cell, with the images behind
each cell from the validator's per-image matches (issue 18). The studio used to pair objects
itself, same class first at IoU 0.5, where the engine pairs class-blind at IoU 0.45: the case
below is one where the two rules disagree."""

from __future__ import annotations

import dataclasses

import numpy as np
from sqlalchemy import select

from engine.api import YOLO
from engine.data.shape_samples import make_shapes_dataset
from engine.val.detection_metrics import box_iou
from studio.services.annotations import AnnotationData, load_annotations, save_annotations
from studio.services.dataset_export import YAML_NAME
from studio.services.evaluation import evaluate, evaluation_folder
from studio.services.importers import import_dataset
from studio.services.projects import Project
from studio.services.starting_weights import shipped_weights
from studio.state.models import Image

IMGSZ = 160  # what the demo weights were trained at (and evaluate reads from them)


def _polygon_box(polygon) -> np.ndarray:
    xs, ys = polygon[0::2], polygon[1::2]
    return np.array([min(xs), min(ys), max(xs), max(ys)])


def _found_object(project: Project, model: YOLO) -> tuple[int, int, int]:
    """(image id, annotation position, predicted class) of an object that the model finds
    clearly (box IoU above 0.85) and that no other labelled object overlaps."""
    with project.database.session() as session:
        images = session.execute(select(Image.id, Image.path).where(Image.split == "val")
                                 .order_by(Image.id)).all()
    for image_id, stored in images:
        path = project.resolve(stored)
        result = model.predict(str(path), imgsz=IMGSZ, conf=0.25)[0]
        predicted = np.asarray(result.boxes.xyxyn, np.float64).reshape(-1, 4)
        classes = np.asarray(result.boxes.cls).reshape(-1).astype(int)
        labels = load_annotations(project.database, image_id)
        truth = np.array([_polygon_box(a.polygon) for a in labels]).reshape(-1, 4)
        iou = box_iou(truth, predicted)
        for position in range(len(labels)):
            best = int(np.argmax(iou[position])) if iou.shape[1] else -1
            alone = best >= 0 and (np.delete(iou[:, best], position) < 0.2).all()
            if best >= 0 and iou[position, best] > 0.85 and alone:
                return image_id, position, int(classes[best])
    raise AssertionError("the demo weights found no object clearly")


def _make_the_rules_disagree(project: Project, image_id: int, position: int,
                             predicted: int) -> tuple[int, int]:
    """Relabel the found object as another class (it keeps the best overlap with the
    prediction) and add an object of the predicted class beside it (a lesser overlap, IoU
    about 0.65). Same class first pairs the prediction with the new object; class-blind, as
    the engine pairs, with the relabelled one. Returns (other class, predicted class)."""
    labels = load_annotations(project.database, image_id)
    found = labels[position]
    other = (predicted + 1) % len(project.classes())
    x1, y1, x2, y2 = _polygon_box(found.polygon)
    shift = 0.2 * (x2 - x1)
    beside = (x1 + shift, y1, x2 + shift, y1, x2 + shift, y2, x1 + shift, y2)
    labels[position] = dataclasses.replace(found, class_index=other)
    labels.append(AnnotationData("polygon", predicted, polygon=beside))
    save_annotations(project.database, image_id, labels)
    return other, predicted


def test_the_matrix_shown_is_the_engines_where_the_old_rule_paired_otherwise(make_project,
                                                                              tmp_path):
    project = make_project("segment", classes=())
    import_dataset(project, make_shapes_dataset(tmp_path / "shapes", size=IMGSZ, train=1,
                                                val=4, seed=7))
    weights = shipped_weights("segment")
    image_id, position, predicted = _found_object(project, YOLO(weights))
    other, predicted = _make_the_rules_disagree(project, image_id, position, predicted)

    result = evaluate(project, weights)

    engine = YOLO(weights).val(data=str(evaluation_folder(project) / YAML_NAME), split="val",
                               plots=False, save=False)
    np.testing.assert_array_equal(result.confusion, engine.confusion_matrix.matrix)
    background = len(project.classes())
    (outcome,) = [o for o in result.outcomes if o.image_id == image_id]
    # class-blind, highest IoU first: the relabelled object takes the prediction, the new one
    # is missed (same class first paired the prediction with the new object instead)
    assert (other, predicted) in outcome.cells and (predicted, background) in outcome.cells
    assert outcome in result.images_in_cell(other, predicted)
    summed = np.zeros_like(result.confusion)
    for each in result.outcomes:
        for cell in each.cells:
            summed[cell] += 1
    np.testing.assert_array_equal(summed, result.confusion)  # every count has its image
