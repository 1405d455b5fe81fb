"""The Annotate page's side panel: class buttons (1–9), the instance list and this image's
trash with a Restore button."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ...services.annotations import AnnotationData
from ...services.projects import ClassInfo
from .instance_list import InstanceList, swatch

DATA_ROLE = Qt.ItemDataRole.UserRole


class ClassButtons(QGroupBox):
    """One checkable button per class, numbered 1–9 for the keys; ``chosen(index)``."""

    chosen = Signal(int)

    def __init__(self, classes: list[ClassInfo], title: str, parent: QWidget | None = None):
        super().__init__(title, parent)
        self._layout = QVBoxLayout(self)
        self.group = QButtonGroup(self)
        self.buttons: dict[int, QPushButton] = {}
        self.empty_label = QLabel("No classes yet — add them with Classes… on the Datasets page, "
                                  "or import a dataset. Shapes need a class.")
        self.empty_label.setWordWrap(True)
        self._layout.addWidget(self.empty_label)
        self.set_classes(classes)

    def set_classes(self, classes: list[ClassInfo]) -> None:
        """Show a button per class of ``classes`` (after the project's classes changed)."""
        for button in self.buttons.values():
            self.group.removeButton(button)
            button.deleteLater()
        self.buttons = {}
        for position, info in enumerate(classes):
            number = f"{position + 1}  " if position < 9 else "    "
            button = QPushButton(swatch(info.color), f"{number}{info.name}")
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setStyleSheet("text-align: left; padding: 4px 8px;")
            button.clicked.connect(lambda _=False, i=info.index: self.chosen.emit(i))
            self.group.addButton(button)
            self._layout.addWidget(button)
            self.buttons[info.index] = button
        self.empty_label.setVisible(not classes)

    def set_checked(self, index: int | None) -> None:
        self.group.setExclusive(False)
        for class_index, button in self.buttons.items():
            button.setChecked(class_index == index)
        self.group.setExclusive(True)


class TrashList(QGroupBox):
    """This image's deleted instances; ``restore(AnnotationData)`` brings one back."""

    restore = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Trash (this image)", parent)
        layout = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.list.setMaximumHeight(110)
        self.button = QPushButton("Restore")
        self.button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.button.clicked.connect(self._restore)
        layout.addWidget(self.list)
        layout.addWidget(self.button)

    def show_deleted(self, deleted: list[AnnotationData], describe) -> None:
        self.list.clear()
        for data in deleted:
            item = QListWidgetItem(describe(data))
            item.setData(DATA_ROLE, data)
            self.list.addItem(item)
        self.button.setEnabled(bool(deleted))
        self.setTitle(f"Trash (this image): {len(deleted)}")

    def _restore(self) -> None:
        item = self.list.currentItem() or self.list.item(0)
        if item is not None:
            self.restore.emit(item.data(DATA_ROLE))


class AssistControls(QGroupBox):
    """The assists' settings: the magic wand's tolerance and edge snapping for the polygon
    tool. The page's assists keep them in the app settings."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Assists", parent)
        layout = QVBoxLayout(self)
        self.tolerance_label = QLabel()
        self.tolerance = QSlider(Qt.Orientation.Horizontal)
        self.tolerance.setRange(0, 255)  # per colour channel, as the engine's wand takes it
        self.tolerance.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.tolerance.setToolTip("Magic wand (W): how far (0–255 per colour channel) a "
                                  "pixel's colour may be from the clicked one and still join "
                                  "the region. Low: only very similar colours; high: more of "
                                  "the image.")
        self.tolerance.valueChanged.connect(
            lambda value: self.tolerance_label.setText(f"Wand tolerance {value}"))
        layout.addWidget(self.tolerance_label)  # above the slider: the dock stays narrow
        layout.addWidget(self.tolerance)
        self.snap = QCheckBox("Polygon: snap to edges (S)")
        self.snap.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.snap.setToolTip("Polygon tool (P): each new edge follows the image's edges from "
                             "the last vertex to the cursor (intelligent scissors)")
        layout.addWidget(self.snap)
        self.help = QLabel("Outline (B): drag a box around an object → its polygon. Wand "
                           "(W): click a region. Then a click adds a part, a right-click cuts "
                           "one, Enter ends.")
        self.help.setWordWrap(True)
        self.help.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(self.help)


class SidePanel(QWidget):
    """Classes, instances, opacity, assists and trash, stacked (the right-hand dock's
    content)."""

    def __init__(self, task: str, classes: list[ClassInfo], instances: InstanceList,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        title = "Image class (1–9)" if task == "classify" else "Class for new and selected (1–9)"
        self.classes = ClassButtons(classes, title)
        layout.addWidget(self.classes)
        self.instances = instances
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(40)
        self.opacity.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.trash = TrashList()
        if task != "classify":
            box = QGroupBox("Instances")
            inner = QVBoxLayout(box)
            inner.addWidget(instances)
            layout.addWidget(box, 1)
        if task == "segment":
            row = QHBoxLayout()
            row.addWidget(QLabel("Fill"))
            row.addWidget(self.opacity)
            layout.addLayout(row)
        self.assist = AssistControls()  # only a segment project shows it
        if task == "segment":
            layout.addWidget(self.assist)
        layout.addWidget(self.trash)
        if task == "classify":
            layout.addStretch(1)
