"""The instances of the image beside the canvas: class (in its colour), kind, keypoints."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QKeyEvent, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from ...services.annotations import AnnotationData
from ...state.models import CLASS, KEYPOINTS, POLYGON
from .geometry import is_placed, keypoint_triples

KEY_ROLE = Qt.ItemDataRole.UserRole


def swatch(color: str, size: int = 12) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


def describe(index: int, data: AnnotationData, class_name: str) -> str:
    text = f"{index + 1}. {class_name}"
    if data.kind == POLYGON:
        text += f"  · {len(data.polygon or ()) // 2} vertices"
    elif data.kind == KEYPOINTS:
        triples = keypoint_triples(data.keypoints or ())
        placed = sum(1 for t in triples if is_placed(*t) and t[2] > 0)
        text += f"  · {placed}/{len(triples)} keypoints"
    if data.draft:  # an accepted draft is a label like any other: no model score
        text += "  (draft" + (f" {data.score:.2f})" if data.score is not None else ")")
    return text


class InstanceList(QListWidget):
    """Lists a document's instances; ``instanceSelected(key or None)`` when the user picks
    one; ``select_key`` follows the canvas without echoing back; Delete or Backspace here
    ask for the selected instances' removal: ``deleteRequested([key, ...])``."""

    instanceSelected = Signal(object)
    deleteRequested = Signal(list)

    def __init__(self, class_name: Callable[[int], str], class_color: Callable[[int], str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._class_name, self._class_color = class_name, class_color
        self._quiet = False
        self.itemSelectionChanged.connect(self._on_selection)
        # a click gives the list the keyboard, so Delete acts on what was clicked here (the
        # focus used to stay wherever it was, e.g. the rail, and Delete did nothing)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        # a narrow dock elides long rows ("…") rather than scrolling them sideways
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)

    def show_annotations(self, annotations: list[AnnotationData], selected: str | None) -> None:
        self._quiet = True
        try:
            self.clear()
            for index, data in enumerate(annotations):
                if data.kind == CLASS:
                    continue
                item = QListWidgetItem(swatch(self._class_color(data.class_index)),
                                       describe(index, data, self._class_name(data.class_index)))
                item.setData(KEY_ROLE, data.key)
                self.addItem(item)
                if data.key == selected:
                    item.setSelected(True)
        finally:
            self._quiet = False

    def select_key(self, key: str | None) -> None:
        if key is not None and key in self.selected_keys():
            return  # one of several rows picked here: keep them all for Delete
        self._quiet = True
        try:
            for row in range(self.count()):
                item = self.item(row)
                item.setSelected(item.data(KEY_ROLE) == key)
                if item.isSelected():
                    self.scrollToItem(item)
        finally:
            self._quiet = False

    def selected_keys(self) -> list[str]:
        """The keys of the selected rows, top to bottom."""
        return [self.item(row).data(KEY_ROLE) for row in range(self.count())
                if self.item(row).isSelected()]

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.selected_keys():
            self.deleteRequested.emit(self.selected_keys())
            event.accept()
            return
        super().keyPressEvent(event)

    def keyboardSearch(self, search: str) -> None:  # noqa: N802 - Qt's name
        """No type-ahead: letters are the page's shortcuts (D, A, P ...), never row jumps."""

    def keys(self) -> list[str]:
        return [self.item(row).data(KEY_ROLE) for row in range(self.count())]

    def _on_selection(self) -> None:
        if self._quiet:
            return
        items = self.selectedItems()
        current = self.currentItem()
        if current is not None and current.isSelected():  # the row just clicked
            items = [current]
        self.instanceSelected.emit(items[0].data(KEY_ROLE) if items else None)
