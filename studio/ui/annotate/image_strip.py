"""The Annotate page's filmstrip: every image's file name with its status (labelled, drafts,
background, unlabelled), the go-to field (Ctrl+G) and the "Next unlabelled" button (U).

The strip never takes the keyboard: the canvas keeps it, so the page's keys keep working, and
type-ahead cannot turn a letter into a jump to another image. A click on a row opens it.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    QStringListModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QWidget,
)

from ...services.image_status import BACKGROUND, DRAFTS, LABELLED, UNLABELLED, ImageStatus

STATE_COLORS = {LABELLED: "#4caf50", DRAFTS: "#ffb300", BACKGROUND: "#64b5f6",
                UNLABELLED: "#9e9e9e"}
"""Status dots, distinct on light and dark backgrounds (and for colour-blind eyes the shape
differs too: unlabelled is a hollow ring)."""
IMAGE_ID_ROLE = Qt.ItemDataRole.UserRole + 1
ITEM_SIZE = QSize(176, 24)


def state_icon(state: str, size: int = 14) -> QIcon:
    """A filled dot per status, a hollow ring for unlabelled, a square for background."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    color = QColor(STATE_COLORS[state])
    rect = pixmap.rect().adjusted(2, 2, -2, -2)
    if state == UNLABELLED:
        painter.setPen(color)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(rect)
    elif state == BACKGROUND:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRect(rect)
    else:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawEllipse(rect)
    painter.end()
    return QIcon(pixmap)


def describe(status: ImageStatus) -> str:
    """"image_3.png · 2 labels · 1 draft · reviewed" for the row's tooltip."""
    parts = [status.file_name]
    if status.labels:
        parts.append(f"{status.labels} label{'s' if status.labels != 1 else ''}")
    if status.drafts:
        parts.append(f"{status.drafts} draft{'s' if status.drafts != 1 else ''}")
    if status.background:
        parts.append("background (no objects)")
    if not status.labels and not status.background and not status.drafts:
        parts.append("no labels")
    if status.reviewed:
        parts.append("reviewed")
    return " · ".join(parts)


class ImageStatusModel(QAbstractListModel):
    """One item per image: "3  image_3.png" with its status dot."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.statuses: list[ImageStatus] = []
        self._rows: dict[int, int] = {}
        self._icons = {state: state_icon(state) for state in STATE_COLORS}

    def set_statuses(self, statuses: Sequence[ImageStatus]) -> None:
        self.beginResetModel()
        self.statuses = list(statuses)
        self._rows = {status.id: row for row, status in enumerate(self.statuses)}
        self.endResetModel()

    def update(self, status: ImageStatus) -> None:
        row = self._rows.get(status.id)
        if row is not None and self.statuses[row] != status:
            self.statuses[row] = status
            index = self.index(row)
            self.dataChanged.emit(index, index)

    def row_of(self, image_id: int) -> int | None:
        return self._rows.get(image_id)

    def status(self, image_id: int) -> ImageStatus | None:
        row = self._rows.get(image_id)
        return self.statuses[row] if row is not None else None

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.statuses)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0):
        if not index.isValid():
            return None
        status = self.statuses[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{index.row() + 1}  {status.file_name}"
        if role == Qt.ItemDataRole.DecorationRole:
            return self._icons[status.state]
        if role == Qt.ItemDataRole.ToolTipRole:
            return describe(status)
        if role == IMAGE_ID_ROLE:
            return status.id
        if role == Qt.ItemDataRole.SizeHintRole:  # one size for all: see setUniformItemSizes
            return ITEM_SIZE
        return None


class GoToField(QLineEdit):
    """The go-to field: Enter goes (``returnPressed``), Esc gives the keyboard back."""

    cancelled = Signal()

    def event(self, event: QEvent) -> bool:
        # Enter and Esc are the page's keys too (accept a draft, stop drawing): typed here,
        # they are the field's
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in (
                Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.key() == Qt.Key.Key_Escape:
            self.clear()
            self.cancelled.emit()
            return
        super().keyPressEvent(event)


class ImageStrip(QWidget):
    """A filmstrip of the images (file names with status dots) under the canvas, and its
    controls (``controls``: go-to field, "Next unlabelled", the count of images done), which
    the page puts on its hint line. ``imageChosen(id)`` on a click; ``goToRequested(text)``
    on Enter in the field; ``nextRequested()`` on the button; ``done()`` on Esc."""

    imageChosen = Signal(int)
    goToRequested = Signal(str)
    nextRequested = Signal()
    done = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.go_to = GoToField()
        self.go_to.setPlaceholderText("Go to image… (Ctrl+G)")
        self.go_to.setToolTip("Type an image's number in the list or part of its file name, "
                              "then Enter (Esc: back to the image)")
        self.go_to.setClearButtonEnabled(True)
        self.go_to.setFixedWidth(200)
        self.go_to.returnPressed.connect(lambda: self.goToRequested.emit(self.go_to.text()))
        self.go_to.cancelled.connect(self.done)
        self.completer = QCompleter(self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.names = QStringListModel(self)
        self.completer.setModel(self.names)
        self.go_to.setCompleter(self.completer)
        self.completer.activated[str].connect(self.goToRequested)  # a click in its list
        self.next_button = QPushButton("Next unlabelled (U)")
        self.next_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.next_button.setToolTip("The next image with no label that is not marked "
                                    "background (drafts are not labels yet)")
        self.next_button.clicked.connect(self.nextRequested)
        self.summary = QLabel()
        self.summary.setToolTip("Images with labels or marked background (no objects); "
                                "green dot: labelled, amber dot: drafts only, blue square: "
                                "background, grey ring: no labels")
        self.controls = QWidget()
        row = QHBoxLayout(self.controls)
        row.setContentsMargins(0, 0, 0, 0)
        for widget in (self.next_button, self.go_to):
            row.addWidget(widget)
        self.model = ImageStatusModel(self)
        self.list = QListView()
        self.list.setModel(self.model)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setUniformItemSizes(True)  # 10,000 images stay instant
        self.list.setSpacing(0)
        self.list.setIconSize(QSize(14, 14))
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the canvas keeps the keyboard
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.clicked.connect(self._clicked)
        scroll_height = self.list.horizontalScrollBar().sizeHint().height()
        self.list.setFixedHeight(ITEM_SIZE.height() + scroll_height
                                 + 2 * self.list.frameWidth() + 2)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.list, 1)

    def set_statuses(self, statuses: Sequence[ImageStatus], current: int | None) -> None:
        self.model.set_statuses(statuses)
        self.names.setStringList([status.file_name for status in statuses])
        self._summarise()
        self.show_current(current)

    def update_status(self, status: ImageStatus) -> None:
        self.model.update(status)
        self._summarise()

    def show_current(self, image_id: int | None) -> None:
        """Mark ``image_id``'s row as the one shown, and scroll it into view."""
        row = self.model.row_of(image_id) if image_id is not None else None
        if row is None:
            self.list.clearSelection()
            return
        index = self.model.index(row)
        self.list.setCurrentIndex(index)
        self.list.doItemsLayout()  # laid out lazily after a reset: scrolled to nowhere
        self.list.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def focus_go_to(self) -> None:
        self.go_to.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.go_to.selectAll()

    def _clicked(self, index: QModelIndex) -> None:
        image_id = index.data(IMAGE_ID_ROLE)
        if image_id is not None:
            self.imageChosen.emit(int(image_id))

    def _summarise(self) -> None:
        statuses = self.model.statuses
        done = sum(1 for s in statuses if not s.needs_labels)
        drafts = sum(1 for s in statuses if s.state == DRAFTS)
        text = f"{done:,} of {len(statuses):,} labelled"
        if drafts:
            text += f" · {drafts:,} with drafts only"
        self.summary.setText(text)
