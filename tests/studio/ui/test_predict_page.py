"""The Predict page with a real (random, decisive) model: overlays, live thresholds without
running the model again, FP / MISS marks, video frames, saving, wrong-task and bad inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtGui import QColor

from engine.api import YOLO
from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.export.decisive import make_decisive
from engine.nn import build_model
from studio.services.annotations import AnnotationData, save_annotations
from studio.services.image_queries import Shape
from studio.services.keypoint_schemas import KeypointSchema
from studio.services.predictions import FramePrediction
from studio.state import Image
from studio.ui.predict import PredictPage
from studio.ui.predict.render import OverlayOptions, Palette, render
from studio.workers.job import JobManager

SCHEMA = KeypointSchema.build(["nose", "left_eye", "right_eye", "left_hand"],
                              [(0, 1), (0, 2), (1, 3)])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    made = {}
    for name, config, kw in (("seg", "yolov8n-seg.yaml", {}),
                             ("pose", "yolov8n-pose.yaml", {"keypoint_shape": (4, 3)})):
        model = make_decisive(build_model(config, num_classes=2, **kw))
        made[name] = save_checkpoint(folder / f"{name}.pt",
                                     checkpoint_dict(model, train_args={"imgsz": 64}))
    return made


def add_images(project, folder, count, broken=False):
    with project.database.session() as session:
        for i in range(count):
            path = folder / f"img_{i}.png"
            image = (np.random.default_rng(i).random((192, 256, 3)) * 255).astype(np.uint8)
            cv2.imwrite(str(path), image)
            session.add(Image(path=str(path), width=256, height=192))
        if broken:
            path = folder / "broken.png"
            path.write_bytes(b"not an image")
            session.add(Image(path=str(path), width=256, height=192))


def open_page(qtbot, project):
    page = PredictPage(project, JobManager())
    qtbot.addWidget(page)
    page.resize(1200, 700)
    page.show()
    qtbot.waitExposed(page)
    return page


def run(qtbot, page):
    job = page.run()
    assert job is not None
    with qtbot.waitSignal(job.ended, timeout=30000):
        pass
    qtbot.waitUntil(lambda: page.current >= 0 or not page.frames, timeout=5000)
    return job


def count_pixels(image, color: str, tolerance: int = 6) -> int:
    image = image.convertToFormat(image.Format.Format_RGB32)
    data = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(),
                                                              image.bytesPerLine() // 4, 4)
    target = QColor(color)
    rgb = np.array([target.blue(), target.green(), target.red()])
    return int((np.abs(data[..., :3].astype(int) - rgb).max(-1) <= tolerance).sum())


@pytest.fixture
def calls(monkeypatch):
    counter = {"n": 0}
    original = YOLO.predict

    def counting(self, *args, **kwargs):
        counter["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(YOLO, "predict", counting)
    return counter


def test_segment_overlay_and_live_conf_without_rerun(qtbot, make_project, tmp_path, models,
                                                     calls):
    project = make_project("segment")
    add_images(project, tmp_path, 2, broken=True)
    save_annotations(project.database, 1, [AnnotationData(
        "polygon", 0, polygon=(0.1, 0.1, 0.4, 0.1, 0.4, 0.4, 0.1, 0.4))])
    page = open_page(qtbot, project)
    page.set_model_path(models["seg"])
    page.set_source("project")
    run(qtbot, page)
    assert len(page.frames) == 2 and calls["n"] == 1
    assert "Skipped 1 unreadable" in page.controls.status.text()
    assert page.frames[0].contours is not None
    page.controls.conf.setValue(5)
    many = len(page.view.shown.indices)
    page.controls.conf.setValue(20)
    fewer = len(page.view.shown.indices)
    assert many > fewer and calls["n"] == 1  # re-filtered from the cache
    page.controls.conf.setValue(10)
    shown = page.view.shown
    assert shown.match is not None and len(shown.match.false_positives) > 0
    page.view.grab().save("/tmp/predict_page_seg.png")  # overlay: GT solid, FP / MISS red
    page.controls.mode.setCurrentIndex(1)  # predictions only: tags in the class colour
    grab = page.view.grab()
    colors = {project.classes()[int(c)].color for c in page.frames[0].classes[shown.indices]}
    assert any(count_pixels(grab.toImage(), color) > 50 for color in colors)
    page.controls.mode.setCurrentIndex(3)  # side by side
    page.view.grab().save("/tmp/predict_page_seg_side.png")
    page.step(1)
    assert page.current == 1 and page.frame_label.text().startswith("2 / 2")
    job = page.save_overlays(tmp_path / "out")
    with qtbot.waitSignal(job.ended, timeout=20000):
        pass
    assert len(list((tmp_path / "out").glob("*.png"))) == 2


def test_pose_keypoints_and_skeleton(qtbot, make_project, tmp_path, models):
    project = make_project("pose", classes=("person", "dog"), keypoints=SCHEMA)
    folder = tmp_path / "folder"
    folder.mkdir()
    add_images(project, folder, 1)
    page = open_page(qtbot, project)
    page.set_model_path(models["pose"])
    page.set_source("folder", folder)
    run(qtbot, page)
    frame = page.frames[0]
    assert frame.keypoints is not None and frame.keypoints.shape[1:] == (4, 3)
    assert page.view.palette_info.skeleton == SCHEMA.skeleton
    page.controls.conf.setValue(5)
    frame.keypoints[..., 2] = 1.0  # every keypoint confident, for the picture
    page.view.update_overlay()
    grab = page.view.grab()
    grab.save("/tmp/predict_page_pose.png")
    assert count_pixels(grab.toImage(), "#0072b2", 10) > 5  # left-side keypoints drawn


def test_video_frames_step(qtbot, make_project, tmp_path, models):
    project = make_project("segment")
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (128, 96))
    for i in range(4):
        writer.write((np.random.default_rng(i).random((96, 128, 3)) * 255).astype(np.uint8))
    writer.release()
    page = open_page(qtbot, project)
    page.set_model_path(models["seg"])
    page.set_source("video", video)
    run(qtbot, page)
    assert len(page.frames) == 4 and page.frames[2].frame is not None
    page.frame_slider.setValue(3)
    assert page.current == 3 and "frame" in page.frame_label.text()
    page.step(-1)
    assert page.current == 2


def test_wrong_task_model_message(qtbot, make_project, tmp_path, models):
    project = make_project("pose", classes=("person",), keypoints=SCHEMA)
    add_images(project, tmp_path, 1)
    page = open_page(qtbot, project)
    page.set_model_path(models["seg"])
    page.set_source("project")
    run(qtbot, page)
    assert "is a segment model, but this is a pose project" in page.controls.status.text()
    assert not page.frames


def test_false_positive_and_miss_are_painted_red():
    frame = FramePrediction("k", "x.png", 100, 100, b"",
                            boxes=np.array([[0.1, 0.1, 0.4, 0.4]], np.float32),
                            scores=np.array([0.9], np.float32), classes=np.array([0]))
    truth = [Shape("pose", 0, box=(0.75, 0.75, 0.2, 0.2))]
    image = render(frame, truth, Palette({0: "a"}), page_style(), OverlayOptions(), 1)
    assert count_pixels(image, "#e4002b", 2) > 100


def page_style():
    from studio.services.thumbnails import OverlayStyle

    return OverlayStyle({0: "#e69f00"})


def test_an_export_another_tool_wrote_is_named_after_the_run(qtbot, make_project, tmp_path,
                                                             models):
    from engine.api import YOLO
    from tests.onnx_authors import foreign_copy

    export = YOLO(models["seg"]).export(format="onnx", imgsz=64, progress=lambda _e: None)
    foreign = foreign_copy(export.path, tmp_path / "foreign.onnx")
    project = make_project("segment")
    add_images(project, tmp_path, 1)
    page = open_page(qtbot, project)
    page.set_model_path(foreign)
    page.set_source("project")
    run(qtbot, page)
    status = page.controls.status.text()
    assert status.startswith("1 frame predicted.") and "can run code" in status
