"""The filter bar: split, class, labelled / background / unlabelled, tag, problems, a
file-name search, the "Trash" view and the "Show labels" toggle."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLineEdit, QPushButton, QWidget

from ...services.image_queries import UNASSIGNED, ImageFilter
from ...services.projects import ClassInfo

SEARCH_DELAY_MS = 250
LABEL_STATES = (("Any labels", (None, None)), ("Labelled", (True, None)),
                ("Background", (None, True)), ("Unlabelled", (False, False)))
"""The labels combo: ``(labelled, background)`` of ``ImageFilter``. "Unlabelled" is neither
labelled nor background: the images still to do (training leaves them out)."""


class FilterBar(QWidget):
    """Emits ``changed(ImageFilter)`` when a choice changes (typing waits for a pause) and
    ``labelsToggled(bool)`` for the ground-truth toggle."""

    changed = Signal(object)
    labelsToggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.split = QComboBox()
        for text, value in (("All splits", None), ("Train", "train"), ("Val", "val"),
                            ("Test", "test"), ("No split", UNASSIGNED)):
            self.split.addItem(text, value)
        self.classes = QComboBox()
        self.classes.addItem("All classes", None)
        self.classes.setMinimumContentsLength(12)
        self.labelled = QComboBox()
        for text, value in LABEL_STATES:
            self.labelled.addItem(text, value)
        self.labelled.setToolTip("Labelled: with objects · Background: marked as having no "
                                 "objects · Unlabelled: neither (left out of training)")
        self.tags = QComboBox()
        self.tags.addItem("All tags", None)
        self.tags.setToolTip("Only the images with this tag")
        self.tags.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.trash = QPushButton("Trash")
        self.trash.setCheckable(True)
        self.trash.setToolTip("Show the images in the trash, to restore them or delete them "
                              "for good")
        self.issues = QCheckBox("Only with problems")
        self.issues.setToolTip("Images the import could not read")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search file names")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(160)
        self.show_labels = QCheckBox("Show labels")
        self.show_labels.setChecked(True)
        self.show_labels.setToolTip("Draw the ground truth on thumbnails and the preview")
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._emit)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        for widget in (self.split, self.classes, self.labelled, self.tags, self.issues):
            layout.addWidget(widget)
        layout.addWidget(self.search, 1)
        layout.addWidget(self.show_labels)
        layout.addWidget(self.trash)
        for combo in self._combos():
            combo.currentIndexChanged.connect(self._emit)
        self.issues.toggled.connect(self._emit)
        self._trash_count = 0
        self.trash.toggled.connect(lambda _checked: self._label_trash())
        self.trash.toggled.connect(self._emit)
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.show_labels.toggled.connect(self.labelsToggled)

    def set_classes(self, classes: list[ClassInfo]) -> None:
        """Offer the project's classes (keeps the chosen one when it still exists)."""
        current = self.classes.currentData()
        self.classes.blockSignals(True)
        self.classes.clear()
        self.classes.addItem("All classes", None)
        for info in classes:
            self.classes.addItem(f"{info.index}: {info.name}", info.index)
        position = self.classes.findData(current) if current is not None else 0
        self.classes.setCurrentIndex(max(0, position))
        self.classes.blockSignals(False)
        if current is not None and position < 0:
            self._emit()

    def set_tags(self, tags: list[tuple[str, int]]) -> None:
        """Offer the project's tags ``(tag, images)`` (keeps the chosen one while it exists)."""
        current = self.tags.currentData()
        self.tags.blockSignals(True)
        self.tags.clear()
        self.tags.addItem("All tags", None)
        for tag, count in tags:
            self.tags.addItem(f"{tag} ({count:,})", tag)
        position = self.tags.findData(current) if current is not None else 0
        self.tags.setCurrentIndex(max(0, position))
        self.tags.setEnabled(bool(tags) or current is not None)
        self.tags.blockSignals(False)
        if current is not None and position < 0:
            self._emit()

    def set_trash_count(self, count: int) -> None:
        """Show how many images the trash holds on its button."""
        self._trash_count = count
        self._label_trash()

    def _label_trash(self) -> None:
        """The button says what a click does: open the trash, or leave it (the checked look
        is faint in some themes)."""
        count = self._trash_count
        if self.trash.isChecked():
            self.trash.setText("Leave trash")
        else:
            self.trash.setText(f"Trash ({count:,})" if count else "Trash")

    def image_filter(self) -> ImageFilter:
        """The filter the bar shows now."""
        labelled, background = self.labelled.currentData() or (None, None)
        return ImageFilter(split=self.split.currentData(), class_index=self.classes.currentData(),
                           labelled=labelled, background=background,
                           has_issues=True if self.issues.isChecked() else None,
                           search=self.search.text().strip(), tag=self.tags.currentData(),
                           trash=self.trash.isChecked())

    def _combos(self) -> tuple[QComboBox, ...]:
        return (self.split, self.classes, self.labelled, self.tags)

    def reset(self) -> None:
        """Show every image again (out of the trash)."""
        for combo in self._combos():
            combo.blockSignals(True)
            combo.setCurrentIndex(0)
            combo.blockSignals(False)
        for box in (self.issues, self.trash):
            box.blockSignals(True)
            box.setChecked(False)
            box.blockSignals(False)
        self._label_trash()
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self._emit()

    def _emit(self) -> None:
        self._search_timer.stop()
        self.changed.emit(self.image_filter())
