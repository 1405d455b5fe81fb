"""The large preview of the selected image: decoded off the GUI thread, scaled to fit, with
the ground truth painted over it (toggle), and a line of facts under it."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPalette, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from ...services.image_queries import ImageRow
from ...services.projects import Project
from ...services.thumbnails import OverlayStyle, bgr_to_qimage, decode_image, paint_ground_truth
from .background import BackgroundCalls

PREVIEW_MAX_SIDE = 1600


class ImageView(QWidget):
    """An image scaled to fit, ground truth on top; a message while there is none."""

    def __init__(self, style: OverlayStyle, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.style = style
        self.pixmap: QPixmap | None = None
        self.row: ImageRow | None = None
        self.message = "Select an image to preview it"
        self.show_labels = True
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 160)

    def sizeHint(self) -> QSize:
        return QSize(360, 300)

    def image_rect(self) -> QRectF:
        """Where the image is drawn (fitted, centred)."""
        if self.pixmap is None or self.pixmap.isNull():
            return QRectF()
        size = self.pixmap.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        rect = QRectF(0, 0, size.width(), size.height())
        rect.moveCenter(QRectF(self.rect()).center())
        return rect

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Window).darker(115))
        if self.pixmap is None or self.pixmap.isNull():
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.message)
            return
        target = self.image_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawPixmap(target, self.pixmap, QRectF(self.pixmap.rect()))
        if self.show_labels and self.row is not None:
            paint_ground_truth(painter, self.row.shapes, target, self.style)


class PreviewPanel(QWidget):
    """The preview and the selected image's facts (name, size, split, labels, problem)."""

    def __init__(self, project: Project, style: OverlayStyle, decoder: BackgroundCalls,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._project = project
        self._decoder = decoder
        self._class_names: dict[int, str] = {}
        self.view = ImageView(style)
        self.facts = QLabel()
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.facts)
        self._show_facts(None)

    def set_style(self, style: OverlayStyle, class_names: dict[int, str]) -> None:
        self.view.style = style
        self._class_names = class_names
        self.view.update()

    def set_show_labels(self, show: bool) -> None:
        self.view.show_labels = show
        self.view.update()

    @property
    def image_id(self) -> int | None:
        return self.view.row.id if self.view.row is not None else None

    def show_row(self, row: ImageRow | None) -> None:
        """Preview ``row`` (None: nothing selected); the file is decoded in the background."""
        same_image = (row is not None and self.view.row is not None
                      and row.id == self.view.row.id and self.view.pixmap is not None)
        self.view.row = row
        self._show_facts(row)
        if row is None:
            self.view.pixmap = None
            self.view.message = "Select an image to preview it"
            self.view.update()
            return
        if same_image:  # only its labels or split changed
            self.view.update()
            return
        self.view.pixmap = None
        self.view.message = "Loading…"
        self.view.update()
        source = self._project.resolve(row.path)
        known = (row.width, row.height) if row.width else None

        def work() -> QImage:
            return bgr_to_qimage(decode_image(source, PREVIEW_MAX_SIDE, known))

        self._decoder.call(work, lambda image: self._decoded(row.id, image),
                           lambda message, _details: self._not_decoded(row.id, message))

    def _decoded(self, image_id: int, image: QImage) -> None:
        if self.image_id == image_id:
            self.view.pixmap = QPixmap.fromImage(image)
            self.view.update()

    def _not_decoded(self, image_id: int, message: str) -> None:
        if self.image_id == image_id:
            self.view.message = f"This image cannot be shown: the file {message.split(': ', 1)[-1]}"
            self.view.update()

    def _show_facts(self, row: ImageRow | None) -> None:
        if row is None:
            self.facts.setText("")
            return
        counts: dict[int, int] = {}
        for shape in row.shapes:
            counts[shape.class_index] = counts.get(shape.class_index, 0) + 1
        labels = ", ".join(f"{self._class_names.get(i, f'class {i}')} × {n}"
                           for i, n in sorted(counts.items()))
        labels = labels or ("background (no objects)" if row.background else "no labels")
        text = (f"<b>{_escape(row.file_name)}</b><br>{row.width} × {row.height} px · "
                f"{row.split or 'no split'} · {_escape(labels)}")
        if row.tags:
            text += "<br>Tags: " + " ".join(
                f"<span style='background:#3a3a3a; color:white'>&nbsp;{_escape(tag)}&nbsp;</span>"
                for tag in row.tags)
        if row.deleted:
            text += "<br><i>In the trash: restore it to use it again</i>"
        if row.problem:
            color = QColor("#d55e00").name()
            text += f"<br><span style='color:{color}'>Problem: {_escape(row.problem)}</span>"
        self.facts.setText(text)
        self.facts.setToolTip(row.path)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
