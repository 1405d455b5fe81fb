"""What the window shows with no project open: create, open, a recent one, or the demo."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from .app_settings import recent_projects
from .empty_state import EmptyState


class WelcomePage(QWidget):
    newRequested = Signal()
    openRequested = Signal()
    demoRequested = Signal()
    recentChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.empty = EmptyState(
            "No project open",
            "A project holds your images, labels, training runs and exports. Create one, open "
            "one, or try the demo project.",
            (("New project…", self.newRequested.emit), ("Open project…", self.openRequested.emit),
             ("Open the demo project", self.demoRequested.emit)),
        )
        layout.addWidget(self.empty, 3)
        self.recent_label = QLabel("Recent projects")
        self.recent = QListWidget()
        self.recent.setMaximumHeight(180)
        self.recent.itemActivated.connect(lambda item: self.recentChosen.emit(item.toolTip()))
        layout.addWidget(self.recent_label, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.recent, 1)
        self.refresh()

    def refresh(self) -> None:
        self.recent.clear()
        items = recent_projects()
        for folder in items:
            item = QListWidgetItem(f"{Path(folder).name}    —    {folder}")
            item.setToolTip(folder)
            self.recent.addItem(item)
        self.recent.setVisible(bool(items))
        self.recent_label.setVisible(bool(items))
