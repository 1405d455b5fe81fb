"""The project's runs, newest first: select one to open it (its curves, log and settings), tick
others to overlay their curves in their own colours; rename (F2), delete (Delete) or open the
folder of the selected run from the buttons under the list or its context menu."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPalette, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...services.palette import PALETTE
from ...services.runs import RunInfo

RUN_ID_ROLE = Qt.ItemDataRole.UserRole
STATUS_MARKS = {"running": "▶", "completed": "✓", "cancelled": "■", "failed": "✕"}


def run_color(run_id: int) -> str:
    """A run's colour in every plot: fixed by its id."""
    return PALETTE[(run_id - 1) % len(PALETTE)]


def _swatch(color: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


class RunList(QWidget):
    """``opened(run_id)`` when a run is selected; ``overlaid(ids)`` when the ticks change;
    ``renameRequested``, ``deleteRequested``, ``folderRequested`` (run id) from the actions."""

    opened = Signal(int)
    overlaid = Signal(list)
    renameRequested = Signal(int)
    deleteRequested = Signal(int)
    folderRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: dict[int, RunInfo] = {}
        self.list = QListWidget()
        self.list.setIconSize(QSize(12, 12))
        self.list.setToolTip("Select a run to open it; tick runs to overlay their curves")
        self.list.currentItemChanged.connect(self._current_changed)
        self.list.itemChanged.connect(self._item_changed)
        self.empty = QLabel("No runs yet — choose the settings on the right and press Start.")
        self.empty.setWordWrap(True)
        # a palette role, not a style sheet: it follows each theme switch (and "mid" was
        # the colour of the background on the dark palette)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.actions_of: dict[str, QAction] = {}
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for key, text, tip, shortcut, signal in (
                ("rename", "Rename…", "Rename the selected run (F2)", "F2",
                 self.renameRequested),
                ("delete", "Delete…", "Delete the selected run: its folder goes to the "
                 "project's .trash/runs (Delete)", "Delete", self.deleteRequested),
                ("folder", "Open folder", "Open the selected run's folder in the file manager", "",
                 self.folderRequested)):
            action = QAction(text, self)
            action.setToolTip(tip)
            if shortcut:  # keys of the list only (Delete means other things on other pages)
                action.setShortcut(QKeySequence(shortcut))
                action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
                self.list.addAction(action)
            action.triggered.connect(lambda _on=False, s=signal: self._request(s))
            button = QPushButton(text)
            button.setObjectName(f"run_{key}")
            button.setToolTip(tip)
            button.clicked.connect(action.trigger)
            buttons.addWidget(button)
            self.actions_of[key] = action
            setattr(self, f"{key}_button", button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Runs</b>")
        layout.addWidget(title)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty)
        layout.addLayout(buttons)
        self.set_deletable(True)

    def set_runs(self, runs: Sequence[RunInfo]) -> None:
        """Show ``runs`` keeping the selection and ticks (no signals for what stays)."""
        ticked = set(self.overlay_ids())
        current = self.current_id()
        self.runs = {run.id: run for run in runs}
        self.list.blockSignals(True)
        self.list.clear()
        for run in runs:
            mark = STATUS_MARKS.get(run.status, "")
            item = QListWidgetItem(_swatch(run_color(run.id)), f"{mark} {run.label}")
            item.setData(RUN_ID_ROLE, run.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if run.id in ticked
                               else Qt.CheckState.Unchecked)
            tip = [f"{run.name} — {run.status}", run.model,
                   f"started {run.started_at:%Y-%m-%d %H:%M}"]
            if run.message:
                tip.append(run.message)
            item.setToolTip("\n".join(tip))
            if run.status == "failed":
                item.setForeground(QColor("#d55e00"))
            self.list.addItem(item)
            if run.id == current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self.empty.setVisible(not runs)
        self._enable_actions()

    def update_run(self, run: RunInfo) -> None:
        """Show ``run``'s new state in its row (no signals)."""
        self.runs[run.id] = run
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(RUN_ID_ROLE) == run.id:
                self.list.blockSignals(True)
                item.setText(f"{STATUS_MARKS.get(run.status, '')} {run.label}")
                self.list.blockSignals(False)

    def select(self, run_id: int) -> None:
        """Make ``run_id`` the selected run (emits ``opened`` when it changes)."""
        for row in range(self.list.count()):
            if self.list.item(row).data(RUN_ID_ROLE) == run_id:
                self.list.setCurrentRow(row)
                return

    def current_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(RUN_ID_ROLE))

    def overlay_ids(self) -> list[int]:
        return [int(self.list.item(row).data(RUN_ID_ROLE)) for row in range(self.list.count())
                if self.list.item(row).checkState() == Qt.CheckState.Checked]

    def set_overlay(self, run_ids: Sequence[int]) -> None:
        self.list.blockSignals(True)
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setCheckState(Qt.CheckState.Checked if item.data(RUN_ID_ROLE) in run_ids
                               else Qt.CheckState.Unchecked)
        self.list.blockSignals(False)
        self.overlaid.emit(self.overlay_ids())

    def set_deletable(self, deletable: bool) -> None:
        """Whether Delete may act on the selected run (not while it trains)."""
        self._deletable = deletable
        self._enable_actions()

    def _enable_actions(self) -> None:
        selected = self.current_id() is not None
        for key, action in self.actions_of.items():
            on = selected and (key != "delete" or self._deletable)
            action.setEnabled(on)
            getattr(self, f"{key}_button").setEnabled(on)
        if selected and not self._deletable:
            self.delete_button.setToolTip("A run that is training cannot be deleted; stop it "
                                          "first")
        else:
            self.delete_button.setToolTip(self.actions_of["delete"].toolTip())

    def _request(self, signal) -> None:
        run_id = self.current_id()
        if run_id is not None:
            signal.emit(run_id)

    def _menu(self, position: QPoint) -> None:
        item = self.list.itemAt(position)
        if item is None:
            return
        self.list.setCurrentItem(item)
        menu = QMenu(self)
        for action in self.actions_of.values():
            menu.addAction(action)
        menu.popup(self.list.viewport().mapToGlobal(position))

    def _current_changed(self, item: QListWidgetItem | None, _previous) -> None:
        self._enable_actions()
        if item is not None:
            self.opened.emit(int(item.data(RUN_ID_ROLE)))

    def _item_changed(self, _item: QListWidgetItem) -> None:
        self.overlaid.emit(self.overlay_ids())
