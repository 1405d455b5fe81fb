"""The "Random split…" dialog: ratios for train / val / test, a seed, and which images."""

from __future__ import annotations

import random
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...services.splits import SplitRatios
from ...services.wording import plural

SCOPES = ("all", "unassigned", "selection")


@dataclass(frozen=True)
class SplitPlan:
    """What the user chose: ratios, seed and ``scope`` (one of ``SCOPES``)."""

    ratios: SplitRatios
    seed: int
    scope: str


class RandomSplitDialog(QDialog):
    """Asks for ratios (percent), a seed and the images to split; ``plan()`` after ``exec``."""

    def __init__(self, counts: dict[str, int], parent: QWidget | None = None) -> None:
        """``counts``: images in ``all``, ``unassigned`` and ``selection`` (shown, and a scope
        with none is disabled)."""
        super().__init__(parent)
        self.setWindowTitle("Random split")
        self._counts = counts
        self.train = self._percent(80)
        self.val = self._percent(10)
        self.test = self._percent(10)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(0)
        self.seed.setToolTip("The same seed and images always give the same split")
        new_seed = QPushButton("New seed")
        new_seed.clicked.connect(lambda: self.seed.setValue(random.randrange(2**31 - 1)))
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(new_seed)

        self.scope_buttons = QButtonGroup(self)
        scopes = QVBoxLayout()
        labels = {"all": "All images", "unassigned": "Only images without a split",
                  "selection": "The selected images"}
        for scope in SCOPES:
            button = QRadioButton(f"{labels[scope]} ({counts.get(scope, 0):,})")
            button.setEnabled(counts.get(scope, 0) > 0)
            self.scope_buttons.addButton(button, SCOPES.index(scope))
            scopes.addWidget(button)
            button.toggled.connect(self._update_outcome)
        default = "selection" if counts.get("selection", 0) > 1 else "all"
        self.scope_buttons.button(SCOPES.index(default)).setChecked(True)

        form = QFormLayout()
        form.addRow("Train %", self.train)
        form.addRow("Val %", self.val)
        form.addRow("Test %", self.test)
        form.addRow("Seed", seed_row)
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Split")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Images to split:"))
        layout.addLayout(scopes)
        layout.addWidget(self.outcome)
        layout.addWidget(self.buttons)
        for box in (self.train, self.val, self.test):
            box.valueChanged.connect(self._update_outcome)
        self._update_outcome()

    @staticmethod
    def _percent(value: int) -> QSpinBox:
        box = QSpinBox()
        box.setRange(0, 100)
        box.setSuffix(" %")
        box.setValue(value)
        return box

    def scope(self) -> str:
        return SCOPES[max(0, self.scope_buttons.checkedId())]

    def plan(self) -> SplitPlan:
        """The choice (call after the dialog was accepted)."""
        ratios = SplitRatios(self.train.value(), self.val.value(), self.test.value())
        return SplitPlan(ratios, self.seed.value(), self.scope())

    def _update_outcome(self) -> None:
        if not hasattr(self, "buttons"):  # a radio button toggled while the dialog is built
            return
        total = self.train.value() + self.val.value() + self.test.value()
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if total == 0:
            self.outcome.setText("Give at least one split a share.")
            ok.setEnabled(False)
            return
        ok.setEnabled(True)
        count = self._counts.get(self.scope(), 0)
        counts = SplitRatios(self.train.value(), self.val.value(), self.test.value()).counts(
            count)
        note = "" if total == 100 else f" (shares add up to {total} %; they are scaled)"
        replaced = ("" if self.scope() == "unassigned"
                    else " Their current split is replaced.")
        self.outcome.setText(f"{plural(count, 'image')} → train {counts['train']:,}, val "
                             f"{counts['val']:,}, test {counts['test']:,}{note}.{replaced}")
