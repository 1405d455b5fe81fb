"""Map a pose source's joints to the project's keypoint schema: one row per source joint with
a list of the project's joints (and "Leave out"), prefilled with the matches by name
(``engine.data.labelset_fit.match_joints``). The dialog only chooses; its ``joint_map`` goes to
``import_dataset``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.data.labelset_fit import match_joints

from ..services.wording import plural

LEAVE_OUT = "Leave out"
_WARNING_COLOUR = "#d55e00"
_WARNING = f"color: {_WARNING_COLOUR}"


class JointMapDialog(QDialog):
    """Choose, for each joint of the source, the project's joint it becomes (or none)."""

    def __init__(self, source_joints: Sequence[str], project_joints: Sequence[str],
                 parent: QWidget | None = None, source_name: str = "the source") -> None:
        super().__init__(parent)
        self.setWindowTitle("Match the joints")
        self.setMinimumWidth(520)
        self.source_joints = list(source_joints)
        self.project_joints = list(project_joints)
        matched = match_joints(self.source_joints, self.project_joints)
        unmatched = [name for name, index in matched.items() if index is None]
        self.intro = QLabel(
            f"{plural(len(unmatched), 'joint')} of {source_name} "
            f"({', '.join(unmatched)}) {'does' if len(unmatched) == 1 else 'do'} not match the "
            "project's keypoint schema by name. Choose the project joint "
            f"{'it becomes' if len(unmatched) == 1 else 'each becomes'}, or leave it out. "
            "Joints that matched by name are filled in; you can change them.")
        self.intro.setWordWrap(True)
        self.table = QTableWidget(len(self.source_joints), 2, self)
        self.table.setHorizontalHeaderLabels(["Joint in the source", "Project joint"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.combos: list[QComboBox] = []
        for row, name in enumerate(self.source_joints):
            self._add_row(row, name, matched[name], name in unmatched)
        self.conflict_label = QLabel("")
        self.conflict_label.setWordWrap(True)
        self.conflict_label.setStyleSheet(_WARNING)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.conflict_label)
        layout.addWidget(self.buttons)
        self.resize(560, min(160 + 34 * len(self.source_joints), 640))
        self._check()
        first = next((combo for name, combo in zip(self.source_joints, self.combos,
                                                   strict=True) if name in unmatched), None)
        if first is not None:
            first.setFocus()  # the first joint to decide: typed letters pick from its list

    def _add_row(self, row: int, name: str, index: int | None, unmatched: bool) -> None:
        item = QTableWidgetItem(name + ("  (no match by name)" if unmatched else ""))
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        if unmatched:  # the rows to decide stand out, in the warning colour of the dialogs
            item.setForeground(QColor(_WARNING_COLOUR))
        self.table.setItem(row, 0, item)
        combo = QComboBox()
        combo.addItem(LEAVE_OUT, None)
        for joint in self.project_joints:
            combo.addItem(joint, joint)
        combo.setCurrentIndex(0 if index is None else index + 1)
        combo.setAccessibleName(f"Project joint for {name}")
        combo.currentIndexChanged.connect(lambda _index: self._check())
        self.table.setCellWidget(row, 1, combo)
        self.combos.append(combo)

    def joint_map(self) -> dict[str, str | None]:
        """Each source joint and the project joint chosen for it (None: left out)."""
        return {name: combo.currentData()
                for name, combo in zip(self.source_joints, self.combos, strict=True)}

    def _check(self) -> None:
        """Two source joints cannot become the same project joint."""
        counts = Counter(value for value in self.joint_map().values() if value is not None)
        twice = [joint for joint, count in counts.items() if count > 1]
        text = (f"{', '.join(twice)} {'is' if len(twice) == 1 else 'are'} chosen for more than "
                "one joint; choose one joint for each, or leave one out." if twice else "")
        self.conflict_label.setText(text)
        self.conflict_label.setVisible(bool(text))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not twice)
