"""The project's runs, newest first: select one to open it (its curves and settings), tick
others to overlay their curves in their own colours."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

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
    """``opened(run_id)`` when a run is selected; ``overlaid(ids)`` when the ticks change."""

    opened = Signal(int)
    overlaid = Signal(list)

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
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Runs</b>")
        layout.addWidget(title)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty)

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

    def _current_changed(self, item: QListWidgetItem | None, _previous) -> None:
        if item is not None:
            self.opened.emit(int(item.data(RUN_ID_ROLE)))

    def _item_changed(self, _item: QListWidgetItem) -> None:
        self.overlaid.emit(self.overlay_ids())
