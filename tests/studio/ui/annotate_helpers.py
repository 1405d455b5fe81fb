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
