"""The Segment Anything tool (I) on the real main window's Annotate page, with a tiny
encoder/decoder pair the tests build (tests/engine/assist/sam_models.py): its decoder's best
mask is a disc of 40 encoder pixels round the positive point, so the outline is checkable."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from engine.assist import sam as sam_module
from tests.engine.assist.sam_models import RADII, build_pair
from tests.studio.ui.annotate_helpers import annotate_in_window, at, click, project_folder

SIZE = (400, 300)  # the images' width, height
TIMEOUT = 20000  # ms: onnxruntime on a 2-core machine shared with others
BEST_FIRST = (0.9, 0.2, 0.1, 0.1)  # the decoder's IoU guesses: the 40-pixel disc wins


@pytest.fixture
def sam_dir(tmp_path, monkeypatch):
    folder = tmp_path / "sam-models"
    folder.mkdir()
    monkeypatch.setenv("YOLO_STUDIO_SAM_DIR", str(folder))
    return folder


def key(qtbot, page, name, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(page.canvas, name, modifier)


def centre(polygon_px) -> np.ndarray:
    polygon_px = np.asarray(polygon_px)
    return (polygon_px.min(axis=0) + polygon_px.max(axis=0)) / 2


def area(polygon_px: np.ndarray) -> float:
    x, y = polygon_px[:, 0], polygon_px[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def test_with_a_pair_i_prepares_the_image_a_click_previews_enter_adds_ctrl_z_removes(
        qtbot, window, tmp_path, sam_dir, monkeypatch):
    build_pair(sam_dir, "sam1", name="tiny", ious=BEST_FIRST)
    decoder_threads = []
    real = sam_module.SamPredictor.predict_polygon

    def recorded(self, *args, **kwargs):  # the real decoder; only its thread is noted
        decoder_threads.append(threading.current_thread())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(sam_module.SamPredictor, "predict_polygon", recorded)
    folder = project_folder(tmp_path, classes=("circle", "square"), images=1, size=SIZE)
    page = annotate_in_window(qtbot, window, folder)
    button = page.tool_buttons["sam"]
    qtbot.waitUntil(button.isEnabled, timeout=TIMEOUT)
    assert "tiny" in page.sam.status.text()

    key(qtbot, page, Qt.Key.Key_2)  # the class "square"
    key(qtbot, page, Qt.Key.Key_I)
    tool = page.tools["sam"]
    assert page.canvas.tool is tool and button.isChecked()
    assert "preparing image" in page.sam.status.text()
    assert any(job.name.startswith("Segment Anything") for job in window.jobs.running)
    qtbot.waitUntil(lambda: "ready" in page.sam.status.text(), timeout=TIMEOUT)

    click(qtbot, page, 200, 150)
    qtbot.waitUntil(lambda: tool.outline is not None, timeout=TIMEOUT)
    assert decoder_threads and decoder_threads[0] is not threading.main_thread()
    assert page.document.annotations == []  # a preview only
    outline = np.asarray(tool.outline)
    radius = RADII[0] * SIZE[0] / 1024  # encoder pixels back to the image's
    assert np.allclose(centre(outline), (200, 150), atol=2.0)
    assert area(outline) == pytest.approx(np.pi * radius**2, rel=0.2)

    key(qtbot, page, Qt.Key.Key_Return)
    [added] = page.document.annotations
    assert added.kind == "polygon" and added.class_index == 1
    assert tool.outline is None and not tool.points
    key(qtbot, page, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.document.annotations == []


def test_right_click_cuts_a_box_prompts_and_esc_drops_the_preview(
        qtbot, window, tmp_path, sam_dir):
    build_pair(sam_dir, "sam1", name="tiny", ious=BEST_FIRST)
    folder = project_folder(tmp_path, classes=("circle",), images=1, size=SIZE)
    page = annotate_in_window(qtbot, window, folder)
    qtbot.waitUntil(page.tool_buttons["sam"].isEnabled, timeout=TIMEOUT)
    key(qtbot, page, Qt.Key.Key_I)
    tool = page.tools["sam"]
    # a prompt given while the encoder runs waits for it
    viewport = page.canvas.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, pos=at(page, 100, 100))
    QTest.mouseMove(viewport, at(page, 150, 130))
    QTest.mouseMove(viewport, at(page, 200, 160))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=at(page, 200, 160))
    assert tool.box is not None
    qtbot.waitUntil(lambda: tool.outline is not None, timeout=TIMEOUT)
    box_outline = np.asarray(tool.outline)
    assert box_outline[:, 0].min() == pytest.approx(100, abs=3)
    assert box_outline[:, 1].max() == pytest.approx(160, abs=3)
    before = area(box_outline)
    QTest.mouseClick(viewport, Qt.MouseButton.RightButton, pos=at(page, 102, 130))  # a side bite
    assert [label for _x, _y, label in tool.points] == [0]
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier,
                     at(page, 102, 140))
    assert [label for _x, _y, label in tool.points] == [0, 0]  # Alt+click cuts too
    qtbot.waitUntil(lambda: tool.outline is not None and area(np.asarray(tool.outline))
                    < before - 100, timeout=TIMEOUT)
    key(qtbot, page, Qt.Key.Key_Escape)
    assert tool.outline is None and tool.box is None and not tool.points
    key(qtbot, page, Qt.Key.Key_Return)
    assert page.document.annotations == []


def test_without_a_pair_the_tool_is_off_and_says_where_to_get_one(qtbot, window, tmp_path,
                                                                   sam_dir):
    folder = project_folder(tmp_path, images=1, size=SIZE)
    page = annotate_in_window(qtbot, window, folder)
    button = page.tool_buttons["sam"]
    qtbot.waitUntil(lambda: "No Segment Anything model" in page.sam.status.text(),
                    timeout=TIMEOUT)
    assert not button.isEnabled()
    assert "Nothing is bundled" in button.toolTip() and str(sam_dir) in button.toolTip()
    assert "Segment Anything Models…" in page.sam.status.text()
    key(qtbot, page, Qt.Key.Key_I)
    click(qtbot, page, 200, 150)
    assert page.document.annotations == []
    assert "No Segment Anything model" in page.hint_label.text()


def test_a_bad_file_keeps_the_tool_off_with_its_message(qtbot, window, tmp_path, sam_dir):
    encoder, decoder = build_pair(sam_dir, "sam1", name="tiny")
    decoder.write_bytes(b"not an onnx model")
    folder = project_folder(tmp_path, images=1, size=SIZE)
    page = annotate_in_window(qtbot, window, folder)
    qtbot.waitUntil(lambda: "not an ONNX model" in page.sam.status.text(), timeout=TIMEOUT)
    assert not page.tool_buttons["sam"].isEnabled()
    assert decoder.name in page.tool_buttons["sam"].toolTip()


def test_each_image_is_encoded_once_going_back_uses_the_cached_embedding(qtbot, window,
                                                                          tmp_path, sam_dir):
    build_pair(sam_dir, "sam1", name="tiny", ious=BEST_FIRST)
    folder = project_folder(tmp_path, images=2, size=SIZE)
    page = annotate_in_window(qtbot, window, folder)
    qtbot.waitUntil(page.tool_buttons["sam"].isEnabled, timeout=TIMEOUT)
    key(qtbot, page, Qt.Key.Key_I)
    first = page.current_image_id
    qtbot.waitUntil(lambda: "ready" in page.sam.status.text(), timeout=TIMEOUT)
    key(qtbot, page, Qt.Key.Key_D)  # the next image: its own embedding
    assert page.current_image_id != first
    qtbot.waitUntil(lambda: page.sam.encoded is not None
                    and page.sam.encoded.image_id == page.current_image_id, timeout=TIMEOUT)
    tool = page.tools["sam"]
    click(qtbot, page, 120, 100)
    qtbot.waitUntil(lambda: tool.outline is not None, timeout=TIMEOUT)
    assert np.allclose(centre(tool.outline), (120, 100), atol=2.0)
    key(qtbot, page, Qt.Key.Key_A)  # back: the prompt is dropped, the embedding is cached
    assert tool.outline is None and not tool.points
    qtbot.waitUntil(lambda: page.sam.encoded.image_id == first, timeout=TIMEOUT)
    assert page.sam.predictor.encoder_runs == 2


def test_a_pair_put_in_the_folder_while_the_page_is_open_turns_the_tool_on(
        qtbot, window, tmp_path, monkeypatch):
    models = tmp_path / "not-yet" / "sam-models"  # a fresh install: not made yet
    monkeypatch.setenv("YOLO_STUDIO_SAM_DIR", str(models))
    folder = project_folder(tmp_path, images=1, size=SIZE)
    page = annotate_in_window(qtbot, window, folder)
    button = page.tool_buttons["sam"]
    qtbot.waitUntil(lambda: "No Segment Anything model" in page.sam.status.text(),
                    timeout=TIMEOUT)
    assert not button.isEnabled()
    build_pair(models, "sam1", name="dropped")  # makes the folder, then the two files
    qtbot.waitUntil(button.isEnabled, timeout=TIMEOUT)
    assert "dropped" in page.sam.status.text()


def test_a_large_image_works_on_a_smaller_copy_and_the_outline_maps_back(
        qtbot, window, tmp_path, sam_dir, monkeypatch):
    from studio.ui.annotate import sam_tool

    monkeypatch.setattr(sam_tool, "WORK_SIDE", 160)  # 400 × 300 stands for a huge photo
    build_pair(sam_dir, "sam1", name="tiny", ious=BEST_FIRST)
    folder = project_folder(tmp_path, images=1, size=SIZE)
    page = annotate_in_window(qtbot, window, folder)
    qtbot.waitUntil(page.tool_buttons["sam"].isEnabled, timeout=TIMEOUT)
    key(qtbot, page, Qt.Key.Key_I)
    qtbot.waitUntil(lambda: page.sam.encoded is not None, timeout=TIMEOUT)
    assert page.sam.encoded.scale == pytest.approx((0.4, 0.4))
    assert page.sam.encoded.embedding.frame.image_size == (120, 160)
    tool = page.tools["sam"]
    click(qtbot, page, 250, 120)
    qtbot.waitUntil(lambda: tool.outline is not None, timeout=TIMEOUT)
    radius = RADII[0] * SIZE[0] / 1024
    assert np.allclose(centre(tool.outline), (250, 120), atol=4.0)
    assert area(np.asarray(tool.outline)) == pytest.approx(np.pi * radius**2, rel=0.25)


def test_closing_the_project_right_after_choosing_the_tool_is_quiet(qtbot, window, tmp_path, sam_dir):
    build_pair(sam_dir, "sam1", name="tiny")
    folder = project_folder(tmp_path, images=1, size=SIZE)
    page = annotate_in_window(qtbot, window, folder)
    qtbot.waitUntil(page.tool_buttons["sam"].isEnabled, timeout=TIMEOUT)
    key(qtbot, page, Qt.Key.Key_I)
    job = page.sam.job
    assert job is not None
    window.close_project()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # the page is gone
    job.wait(TIMEOUT)
    qtbot.wait(50)  # the job's ending signals arrive: nothing touches the closed page
    assert window.project is None and page.sam.closed


def test_the_pair_chosen_in_the_models_dialog_is_the_one_the_tool_uses(qtbot, window,
                                                                      tmp_path, sam_dir):
    from studio.ui.sam_models_dialog import IN_USE, SamModelsDialog

    build_pair(sam_dir, "sam1", name="first")
    build_pair(sam_dir, "sam2", name="second")
    folder = project_folder(tmp_path, images=1, size=SIZE)
    page = annotate_in_window(qtbot, window, folder)
    qtbot.waitUntil(lambda: page.sam.model is not None, timeout=TIMEOUT)
    assert page.sam.model.name == "first"  # nothing chosen yet: the first ready pair
    window.show_sam_models()
    dialog = window.findChild(SamModelsDialog)
    tree = dialog.models
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 2, timeout=TIMEOUT)
    rows = {tree.topLevelItem(i).text(0): tree.topLevelItem(i) for i in range(2)}
    assert rows["first"].text(1) == IN_USE and rows["second"].text(1) == "ready"
    assert "uses first (select another and press Use" in dialog.empty_label.text()
    rect = tree.visualItemRect(rows["second"])
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert dialog.use_button.isEnabled()
    QTest.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert rows["second"].text(1) == IN_USE and rows["first"].text(1) == "ready"
    assert not dialog.use_button.isEnabled()
    qtbot.waitUntil(lambda: page.sam.model is not None and page.sam.model.name == "second",
                    timeout=TIMEOUT)
    assert page.sam.model.layout == "sam2" and "second" in page.sam.status.text()
    dialog.close()
