"""What the window shows with no project open: create, open, a recent one, or the demo."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ..services.recent import RecentProject, recent_projects_of
from .app_settings import app_settings
from .empty_state import EmptyState

FOLDER_ROLE = Qt.ItemDataRole.UserRole


def recent_entries() -> list[RecentProject]:
    """The remembered projects, newest first, with their names; missing folders included
    (shown as such: a project on an unplugged drive is not silently forgotten)."""
    value = app_settings().value("recent_projects", [])
    folders = [value] if isinstance(value, str) else [str(v) for v in value or []]
    return recent_projects_of(folders)


def entry_html(entry: RecentProject, dim: str) -> str:
    """The project's name in bold, its folder dimmed after it (and a missing one said)."""
    missing = " — folder not found" if not entry.exists else ""
    return (f"<b>{escape(entry.name)}</b>&nbsp;&nbsp;<span style='color:{dim}'>"
            f"{escape(entry.folder)}{missing}</span>")


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
        self.recent.itemActivated.connect(self._chosen)
        self.recent.currentItemChanged.connect(self._restyle)
        self._entries: list[RecentProject] = []
        layout.addWidget(self.recent_label, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.recent, 1)
        self.refresh()

    def refresh(self) -> None:
        self.recent.clear()
        entries = self._entries = recent_entries()
        dim = self._dim(selected=False)
        for entry in entries:
            item = QListWidgetItem()
            item.setData(FOLDER_ROLE, entry.folder)
            item.setToolTip(entry.folder if entry.exists else
                            f"{entry.folder} is not there any more (moved, renamed or on a "
                            "drive that is not connected)")
            # the label draws the text (an item text would show through a selected row)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, entry.text())
            if not entry.exists:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            label = QLabel(entry_html(entry, dim))
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setEnabled(entry.exists)
            label.setContentsMargins(6, 2, 6, 2)
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            item.setSizeHint(QSize(0, label.sizeHint().height() + 2))
            self.recent.addItem(item)
            self.recent.setItemWidget(item, label)
        self.recent.setVisible(bool(entries))
        self.recent_label.setVisible(bool(entries))

    def _dim(self, selected: bool) -> str:
        """The path's colour: the placeholder grey, or a softened highlight text on the
        selection (grey on the highlight colour was hard to read)."""
        palette = self.recent.palette()
        if not selected:
            return palette.color(palette.ColorRole.PlaceholderText).name()
        colour = palette.color(palette.ColorRole.HighlightedText)
        colour.setAlphaF(0.8)
        return colour.name(colour.NameFormat.HexArgb)

    def _restyle(self, *_args: object) -> None:
        for row, entry in enumerate(self._entries):
            label = self.recent.itemWidget(self.recent.item(row))
            if label is not None:
                selected = row == self.recent.currentRow()
                label.setText(entry_html(entry, self._dim(selected)))
                colour = self.recent.palette().color(
                    self.recent.palette().ColorRole.HighlightedText if selected
                    else self.recent.palette().ColorRole.Text)
                label.setStyleSheet(f"color: {colour.name()}" if entry.exists else "")

    def _chosen(self, item: QListWidgetItem) -> None:
        if item.flags() & Qt.ItemFlag.ItemIsEnabled:
            self.recentChosen.emit(str(item.data(FOLDER_ROLE)))
