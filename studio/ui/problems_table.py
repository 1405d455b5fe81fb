"""The problems an import found, as a sortable table: File / Line / Reason.

Double-click or Enter on a row emits ``imageActivated(path)`` so the window can open that file
(an image, or the label file / yaml / JSON at fault). Warnings are shown in a softer colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

COLUMNS = ("File", "Line", "Reason")
SORT_ROLE = Qt.ItemDataRole.UserRole
PATH_ROLE = Qt.ItemDataRole.UserRole + 1
_WARNING_COLOUR = QColor("#8a6d00")

Index = QModelIndex | QPersistentModelIndex


class ProblemsModel(QAbstractTableModel):
    """Problem records (``{path, line, reason[, severity]}``) as rows."""

    def __init__(self, problems: Sequence[dict[str, Any]] = (), parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = list(problems)

    def set_problems(self, problems: Sequence[dict[str, Any]]) -> None:
        """Show ``problems`` instead of the current rows."""
        self.beginResetModel()
        self._rows = list(problems)
        self.endResetModel()

    def problem(self, row: int) -> dict[str, Any]:
        return self._rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt API
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 - Qt API
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        problem = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(problem, column)
        if role == SORT_ROLE:
            return _sort_key(problem, column)
        if role == PATH_ROLE:
            return str(problem.get("path", ""))
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(problem.get("path", "")) if column == 0 else problem.get("reason", "")
        if role == Qt.ItemDataRole.ForegroundRole and problem.get("severity") == "warning":
            return QBrush(_WARNING_COLOUR)
        return None


def _display(problem: dict[str, Any], column: int) -> str:
    if column == 0:
        return Path(str(problem.get("path", ""))).name
    if column == 1:
        line = problem.get("line")
        return "" if line is None else str(line)
    prefix = "warning: " if problem.get("severity") == "warning" else ""
    return f"{prefix}{problem.get('reason', '')}"


def _sort_key(problem: dict[str, Any], column: int) -> Any:
    if column == 0:
        return str(problem.get("path", "")).lower()
    if column == 1:
        line = problem.get("line")
        return -1 if line is None else int(line)
    return str(problem.get("reason", "")).lower()


class ProblemsTable(QTableView):
    """A sortable table of problems; ``imageActivated(path)`` on double-click or Enter."""

    imageActivated = Signal(str)  # noqa: N815 - Qt signal naming

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.problems_model = ProblemsModel(parent=self)
        self._proxy = QSortFilterProxyModel(self)
        self._proxy.setSourceModel(self.problems_model)
        self._proxy.setSortRole(SORT_ROLE)
        self.setModel(self._proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.doubleClicked.connect(self._activate)

    def set_problems(self, problems: Sequence[dict[str, Any]]) -> None:
        """Show ``problems`` (``ImportRecord.problems`` or ``ImportSummary.problems``)."""
        self.problems_model.set_problems(problems)
        self.resizeColumnToContents(0)

    def path_at(self, row: int) -> str:
        """The full path of the problem shown in ``row`` (in the current sort order)."""
        return str(self._proxy.index(row, 0).data(PATH_ROLE))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._activate(self.currentIndex())
            return
        super().keyPressEvent(event)

    def _activate(self, index: QModelIndex) -> None:
        if index.isValid():
            self.imageActivated.emit(str(index.siblingAtColumn(0).data(PATH_ROLE)))
