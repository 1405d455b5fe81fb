"""The Datasets page's "Check labels" window, in the real main window: the check runs in the
background, a double-click opens the image in Annotate, Delete dismisses for good."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from studio.ui.main_window import PAGES
from tests.studio.services.test_label_check import figures_project


def _open_datasets(window, qtbot, folder):
    window.resize(1100, 700)
    window.show()
    qtbot.waitExposed(window)
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.project is not None, timeout=10000)
    rail = window.rail
    rect = rail.visualItemRect(rail.item(PAGES.index("Datasets")))
    QTest.mouseClick(rail.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    page = window.pages["Datasets"]
    assert window.stack.currentWidget() is page
    return page


def _check(qtbot, page):
    qtbot.waitUntil(page.check_button.isVisible, timeout=5000)
    qtbot.mouseClick(page.check_button, Qt.MouseButton.LeftButton)
    view = page.label_check
    qtbot.waitUntil(lambda: view.check_button.isEnabled(), timeout=10000)
    return view


def test_check_open_and_dismiss_in_the_main_window(window, qtbot, make_project, tmp_path):
    project, (image_id, annotation_id) = figures_project(make_project, tmp_path)
    folder = project.folder
    project.close()
    page = _open_datasets(window, qtbot, folder)
    view = _check(qtbot, page)
    (finding,) = view.shown_findings()
    assert (finding.kind, finding.image, finding.instances) == ("swap", image_id,
                                                                (annotation_id,))
    item = view.findings.topLevelItem(0)
    assert item.text(0) == "Left/right swap" and item.text(1).endswith(".jpg")
    assert "1 likely error" in view.status.text()

    rect = view.findings.visualItemRect(item)
    # a real double-click: press, release, then the double-click event
    QTest.mouseClick(view.findings.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QTest.mouseDClick(view.findings.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    annotate = window.pages["Annotate"]
    qtbot.waitUntil(lambda: window.stack.currentWidget() is annotate, timeout=3000)
    assert annotate.current_image_id == image_id
    assert annotate.canvas.selected().id == annotation_id  # the finding's figure, selected
    with window.project.database.session() as session:  # nothing was changed
        from studio.state import Annotation

        assert session.get(Annotation, annotation_id).deleted_at is None

    view.findings.setFocus()
    view.findings.setCurrentItem(item)
    QTest.keyClick(view.findings, Qt.Key.Key_Delete)
    assert view.shown_findings() == []
    qtbot.waitUntil(lambda: not window.jobs.running, timeout=5000)
    assert window.project.settings().options["label_check_dismissed"]
    qtbot.mouseClick(view.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.check_button.isEnabled(), timeout=10000)
    assert view.shown_findings() == [] and "No likely errors" in view.status.text()
    qtbot.mouseClick(view.undismiss_button, Qt.MouseButton.LeftButton)  # changed their mind
    qtbot.waitUntil(lambda: len(view.shown_findings()) == 1, timeout=10000)
    assert view.shown_findings()[0].instances == (annotation_id,)
    qtbot.waitUntil(lambda: view.check_button.isEnabled(), timeout=10000)
    view.close()


def test_a_run_of_the_project_can_be_the_model_to_compare_with(window, qtbot, make_project,
                                                              tmp_path):
    import shutil

    from studio.services.runs import finish_run, start_run
    from studio.state import Annotation
    from tests.studio.services.test_prelabel import add_images, tiny

    project = make_project("segment", classes=("a", "b"))
    image_id = add_images(project, tmp_path, 1)[0]
    run_folder = tmp_path / "run"
    (run_folder / "weights").mkdir(parents=True)
    shutil.copy(tiny(tmp_path, "yolov8n-seg.yaml"), run_folder / "weights" / "best.pt")
    run_id = start_run(project, name="tiny", folder=run_folder, model="yolov8n-seg.yaml",
                       settings={})
    finish_run(project, run_id, "completed")
    with project.database.session() as session:  # 25 px² in a corner: no model sees it
        session.add(Annotation(image_id=image_id, kind="polygon", position=0, class_index=0,
                               polygon=[0.0, 0.0, 5 / 128, 0.0, 5 / 128, 5 / 96, 0.0, 5 / 96]))
    folder = project.folder
    project.close()
    page = _open_datasets(window, qtbot, folder)
    view = _check(qtbot, page)
    assert view.shown_findings() == []  # without a model nothing looks wrong
    assert [view.model_choice.itemText(i) for i in range(view.model_choice.count())] == [
        "No model", "Run tiny"]
    view.model_choice.setFocus()
    QTest.keyClick(view.model_choice, Qt.Key.Key_Down)
    assert view.model_choice.currentText() == "Run tiny"
    qtbot.mouseClick(view.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.check_button.isEnabled(), timeout=30000)
    assert [(f.kind, f.image) for f in view.shown_findings()] == [("doubted", image_id)]
    assert view.findings.topLevelItem(0).text(0) == "Label the model doubts"
    view.close()


def test_pressing_check_labels_again_brings_back_the_same_window(window, qtbot, make_project,
                                                                tmp_path):
    project, _ids = figures_project(make_project, tmp_path)
    folder = project.folder
    project.close()
    page = _open_datasets(window, qtbot, folder)
    view = _check(qtbot, page)
    window.activateWindow()  # the user went back to the main window, the checker still open
    qtbot.mouseClick(page.check_button, Qt.MouseButton.LeftButton)
    assert page.label_check is view and view.isVisible()
    checkers = [w for w in window.findChildren(type(view)) if w.isVisible()]
    assert checkers == [view]
    view.close()
    qtbot.mouseClick(page.check_button, Qt.MouseButton.LeftButton)  # closed: a fresh check
    assert page.label_check is not view and page.label_check.isVisible()
    qtbot.waitUntil(lambda: page.label_check.check_button.isEnabled(), timeout=10000)
    page.label_check.close()


def test_a_finding_on_an_instance_drawn_in_this_session_selects_it(window, qtbot, tmp_path):
    from tests.studio.ui.annotate_helpers import annotate_in_window, click, project_folder

    annotate = annotate_in_window(qtbot, window, project_folder(tmp_path, images=1))
    QTest.keyClick(annotate.canvas, Qt.Key.Key_P)
    for x, y in ((100, 100), (200, 200), (200, 100), (100, 200)):  # a bow-tie: it crosses
        click(qtbot, annotate, x, y)
    QTest.keyClick(annotate.canvas, Qt.Key.Key_Return)
    (drawn,) = annotate.document.annotations
    assert drawn.id is None  # a row is made by the autosave; the canvas keeps its key
    qtbot.waitUntil(lambda: bool(annotate.edited_images), timeout=10000)
    annotate.canvas.select(None)
    rail = window.rail
    rect = rail.visualItemRect(rail.item(PAGES.index("Datasets")))
    QTest.mouseClick(rail.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    view = _check(qtbot, window.pages["Datasets"])
    (finding,) = view.shown_findings()
    assert finding.kind == "self_intersecting" and finding.message.startswith("instance #1:")
    item = view.findings.topLevelItem(0)
    rect = view.findings.visualItemRect(item)
    QTest.mouseClick(view.findings.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QTest.mouseDClick(view.findings.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: window.stack.currentWidget() is annotate, timeout=3000)
    assert annotate.canvas.selected() is not None
    assert annotate.canvas.selected().key == drawn.key
    view.close()
