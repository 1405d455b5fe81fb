"""The "Choose GPUs…" dialog of the Train page: one check box per GPU; a run on several GPUs
trains in one process per GPU, so OK needs at least two."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ...services.training import Device

MINIMUM = 2


def gpus_label(indices: Sequence[int]) -> str:
    """How the device choice shows several GPUs: ``GPUs 0, 2``."""
    return "GPUs " + ", ".join(str(index) for index in indices)


class GpuDialog(QDialog):
    """Pick the GPUs of a run from ``gpus`` (one ``Device`` per GPU, value ``"0"``, ``"1"``,
    ...); ``chosen`` are checked at first. ``value()`` is the choice as ``device=``: ``"0,2"``."""

    def __init__(self, gpus: Sequence[Device], chosen: Sequence[int] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose GPUs")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Train on these GPUs (one training process each; the batch "
                                "is split between them):"))
        self.boxes: dict[int, QCheckBox] = {}
        for gpu in gpus:
            box = QCheckBox(gpu.label)
            box.setChecked(int(gpu.value) in chosen)
            box.toggled.connect(self._update)
            layout.addWidget(box)
            self.boxes[int(gpu.value)] = box
        self.hint = QLabel(f"Choose at least {MINIMUM} GPUs (for one, pick it in the list)")
        layout.addWidget(self.hint)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._update()

    def indices(self) -> list[int]:
        return [index for index, box in self.boxes.items() if box.isChecked()]

    def value(self) -> str:
        return ",".join(str(index) for index in self.indices())

    def _update(self, *_args: object) -> None:
        enough = len(self.indices()) >= MINIMUM
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(enough)
        self.hint.setVisible(not enough)
