"""A page's empty state: what to do next, with the button to do it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget


class EmptyState(QWidget):
    """A centred title, a line of explanation and optional action buttons."""

    def __init__(self, title: str, text: str,
                 actions: tuple[tuple[str, Callable[[], None]], ...] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addStretch(1)
        heading = QLabel(title)
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        heading.setFont(font)
        heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body = QLabel(text)
        body.setWordWrap(True)
        body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body.setFixedWidth(520)  # a wrapped label in a centred slot needs a width and
        body.setMinimumHeight(body.heightForWidth(520))  # a height, or it clips
        layout.addWidget(heading)
        layout.addWidget(body, 0, Qt.AlignmentFlag.AlignHCenter)
        self.buttons: list[QPushButton] = []
        for label, callback in actions:
            button = QPushButton(label)
            button.clicked.connect(lambda _checked=False, call=callback: call())
            button.setMinimumWidth(200)
            self.buttons.append(button)
            layout.addWidget(button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)
