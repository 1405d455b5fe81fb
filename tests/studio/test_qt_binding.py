"""The installed Qt binding keeps Python's reference counts: PySide6 6.12.0 on CPython 3.11
takes one reference off ``None`` per Qt call that returns nothing, and a session that paints
for a while then aborts ("Fatal Python error: none_dealloc")."""

import sys

from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QLabel


def test_qt_calls_that_return_nothing_keep_the_count_of_none(qapp):
    label = QLabel()
    image = QImage(8, 8, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    before = sys.getrefcount(None)
    for _ in range(200):
        label.setText("x")
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.save()
        painter.restore()
    after = sys.getrefcount(None)
    painter.end()
    assert abs(after - before) < 50, f"None lost {before - after} references in 800 Qt calls"
