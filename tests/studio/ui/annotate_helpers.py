"""What the Annotate page tests share: the page shown and focused, scene points to clicks."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt

from studio.ui.annotate import AnnotatePage
from studio.workers.job import JobManager


def shown_page(qtbot, project, size=(900, 600)) -> AnnotatePage:
    """The project's Annotate page, shown, active and with the canvas focused."""
    widget = AnnotatePage(project, JobManager())
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    widget.activateWindow()
    widget.canvas.setFocus()
    return widget


def at(page, x, y):
    """The viewport position of scene (image) point ``x, y``."""
    return page.canvas.mapFromScene(QPointF(x, y))


def click(qtbot, page, x, y, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(page.canvas.viewport(), Qt.MouseButton.LeftButton, modifier, at(page, x, y))


def drag(qtbot, page, start, end):
    """Press at ``start``, move through the middle to ``end``, release (scene points)."""
    viewport = page.canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=at(page, *start))
    qtbot.mouseMove(viewport, at(page, (start[0] + end[0]) / 2, (start[1] + end[1]) / 2))
    qtbot.mouseMove(viewport, at(page, *end))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=at(page, *end))


def project_folder(tmp_path, task="segment", classes=("circle", "square"), images=2,
                   size=(400, 300), keypoints=None, drafts=None):
    """A closed project in ``tmp_path / "proj"`` with ``images`` grey images of ``size``;
    ``drafts(image_index)`` may give ``Annotation`` rows (a model's drafts) per image."""
    import cv2
    import numpy as np

    from studio.services.projects import create_project
    from studio.state import Image

    folder = tmp_path / "proj"
    project = create_project(folder, name="Issue", task=task, classes=list(classes),
                             keypoints=keypoints)
    width, height = size
    with project.database.session() as session:
        for index in range(images):
            path = tmp_path / f"image_{index}.png"
            cv2.imwrite(str(path), np.full((height, width, 3), 80 + 20 * index, np.uint8))
            image = Image(path=str(path), width=width, height=height)
            session.add(image)
            session.flush()
            for row in (drafts(index) if drafts else []):
                row.image_id = image.id
                session.add(row)
    project.close()
    return folder


def annotate_in_window(qtbot, window, folder, *, focus_canvas=True) -> AnnotatePage:
    """Open ``folder`` in the real main window and click "Annotate" in the rail with the
    mouse; ``focus_canvas``: then give the canvas the keyboard as a click on it would."""
    from PySide6.QtTest import QTest

    from studio.ui.main_window import PAGES

    window.resize(1100, 700)
    window.show()
    qtbot.waitExposed(window)
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.project is not None, timeout=10000)
    window.activateWindow()
    rail = window.rail
    item_rect = rail.visualItemRect(rail.item(PAGES.index("Annotate")))
    QTest.mouseClick(rail.viewport(), Qt.MouseButton.LeftButton, pos=item_rect.center())
    page = window.pages["Annotate"]
    assert window.stack.currentWidget() is page
    qtbot.waitUntil(lambda: page.canvas.isVisible() and page.canvas.width() > 100,
                    timeout=3000)
    page.canvas.fit()
    if focus_canvas:
        page.canvas.setFocus()
        qtbot.waitUntil(page.canvas.hasFocus, timeout=3000)
    return page
