"""The thumbnail grid: a QListView in icon mode with uniform cells, painted by a delegate
(thumbnail or placeholder, file name, split chip, a mark on images with problems, a
"background" chip and the image's tags)."""

from __future__ import annotations

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QKeyEvent, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from ...services.image_queries import ImageRow
from ...services.thumbnails import THUMBNAIL_SIZE
from .thumbnail_model import FAILED_ROLE, IMAGE_ID_ROLE, ROW_ROLE

SPLIT_COLORS = {"train": "#0072b2", "val": "#e69f00", "test": "#cc79a7"}
"""Split chips (the Okabe-Ito blue, orange and pink: told apart with any colour vision)."""
ISSUE_COLOR = "#d55e00"
BACKGROUND_COLOR = "#009e73"  # Okabe-Ito green: "checked, nothing to find here"
TAG_COLOR = "#d9000000"  # translucent black (#AARRGGBB): readable on any picture
PADDING = 6
SPLIT_KEYS = {Qt.Key.Key_T: "train", Qt.Key.Key_V: "val", Qt.Key.Key_E: "test"}
"""Alt+T / Alt+V / Alt+E put the selection in a split."""
Index = QModelIndex | QPersistentModelIndex


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints one cell; ``painted_thumbnails`` counts real thumbnails drawn (benchmarks)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.painted_thumbnails = 0
        self._chip_font = QFont()
        self._chip_font.setPointSizeF(max(6.5, self._chip_font.pointSizeF() * 0.75))
        self._chip_font.setBold(True)

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        line = option.fontMetrics.height()
        return QSize(THUMBNAIL_SIZE + 2 * PADDING, THUMBNAIL_SIZE + 2 * PADDING + line + 2)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        rect: QRect = option.rect
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            highlight = QColor(palette.color(QPalette.ColorRole.Highlight))
            highlight.setAlphaF(0.35)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(highlight)
            painter.drawRoundedRect(QRectF(rect).adjusted(1, 1, -1, -1), 6, 6)
        square = QRect(rect.left() + PADDING, rect.top() + PADDING, THUMBNAIL_SIZE,
                       THUMBNAIL_SIZE)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        row: ImageRow | None = index.data(ROW_ROLE)
        target = square
        if pixmap is not None and not pixmap.isNull():
            size = pixmap.size().scaled(square.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(square.center())
            painter.drawPixmap(target, pixmap)
            self.painted_thumbnails += 1
        else:
            self._placeholder(painter, square, palette, index.data(FAILED_ROLE) or "")
        if row is not None:
            self._badges(painter, target, row)  # on the picture's corners
        text_rect = QRect(rect.left() + 2, square.bottom() + 3, rect.width() - 4,
                          option.fontMetrics.height())
        name = index.data(Qt.ItemDataRole.DisplayRole) or ""
        elided = option.fontMetrics.elidedText(name, Qt.TextElideMode.ElideMiddle,
                                               text_rect.width())
        painter.setPen(palette.color(QPalette.ColorRole.Text))  # on a translucent highlight
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, elided)
        if option.state & QStyle.StateFlag.State_HasFocus and selected:
            pen_color = QColor(palette.color(QPalette.ColorRole.Highlight))
            painter.setPen(pen_color)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(rect).adjusted(1.5, 1.5, -1.5, -1.5), 6, 6)
        painter.restore()

    @staticmethod
    def _placeholder(painter: QPainter, square: QRect, palette: QPalette, error: str) -> None:
        color = QColor(palette.color(QPalette.ColorRole.Mid))
        color.setAlphaF(0.25)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(QRectF(square).adjusted(8, 8, -8, -8), 4, 4)
        if error:
            painter.setPen(QColor(ISSUE_COLOR))
            painter.drawText(square, Qt.AlignmentFlag.AlignCenter, "Unreadable")

    def _badges(self, painter: QPainter, square: QRect, row: ImageRow) -> None:
        painter.setFont(self._chip_font)
        metrics = painter.fontMetrics()
        if row.split:
            text = row.split
            chip = QRect(square.left() + 3, square.top() + 3,
                         metrics.horizontalAdvance(text) + 8, metrics.height() + 2)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(SPLIT_COLORS.get(row.split, "#555555")))
            painter.drawRoundedRect(QRectF(chip), 3, 3)
            painter.setPen(QColor("white"))
            painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, text)
        if row.problem:
            side = metrics.height() + 2
            mark = QRect(square.right() - side - 2, square.top() + 3, side, side)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(ISSUE_COLOR))
            painter.drawEllipse(mark)
            painter.setPen(QColor("white"))
            painter.drawText(mark, Qt.AlignmentFlag.AlignCenter, "!")
        bottom = square.bottom() - metrics.height() - 4
        if row.background:
            self._chip(painter, square.left() + 3, bottom, "no objects", BACKGROUND_COLOR)
        if row.tags:
            text = row.tags[0] if len(row.tags) == 1 else f"{row.tags[0]} +{len(row.tags) - 1}"
            text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, square.width() // 2)
            width = metrics.horizontalAdvance(text) + 8
            self._chip(painter, square.right() - width - 2, bottom, text, TAG_COLOR)

    @staticmethod
    def _chip(painter: QPainter, left: int, top: int, text: str, color: str) -> None:
        metrics = painter.fontMetrics()
        chip = QRect(left, top, metrics.horizontalAdvance(text) + 8, metrics.height() + 2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(color))
        painter.drawRoundedRect(QRectF(chip), 3, 3)
        painter.setPen(QColor("white"))
        painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, text)


class ThumbnailGrid(QListView):
    """The grid of thumbnails. ``activatedImage(image_id)`` on double-click or Enter;
    ``menuRequested(global_pos)`` for the page's context menu; ``splitRequested(split)`` for
    Alt+T / Alt+V / Alt+E."""

    activatedImage = Signal(int)
    menuRequested = Signal(object)
    splitRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)  # the view asks one size, not 10,000
        self.setWrapping(True)
        self.setSpacing(4)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionRectVisible(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setDragEnabled(False)
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.delegate = ThumbnailDelegate(self)
        self.setItemDelegate(self.delegate)
        self.doubleClicked.connect(self._open)
        self.customContextMenuRequested.connect(
            lambda pos: self.menuRequested.emit(self.viewport().mapToGlobal(pos)))

    def _open(self, index: QModelIndex) -> None:
        image_id = index.data(IMAGE_ID_ROLE)
        if image_id is not None:
            self.activatedImage.emit(int(image_id))

    def event(self, event: QEvent) -> bool:
        # Alt+V and Alt+E are also the View and Edit menus' mnemonics: two shortcuts on one
        # key fire neither. While the grid has the keyboard the split keys are its own.
        if event.type() == QEvent.Type.ShortcutOverride and _split_key(event) is not None:
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._open(self.currentIndex())
            return
        split = _split_key(event)
        if split is not None:
            self.splitRequested.emit(split)
            return
        super().keyPressEvent(event)


def _split_key(event: QEvent) -> str | None:
    """The split an Alt+T / Alt+V / Alt+E key event asks for, else None."""
    if not isinstance(event, QKeyEvent):
        return None
    if event.modifiers() != Qt.KeyboardModifier.AltModifier:
        return None
    return SPLIT_KEYS.get(Qt.Key(event.key()))
