"""The images behind a confusion cell or a class: a strip of thumbnails with the ground truth
drawn solid (the shared label drawing) and the predictions dashed, each captioned with what
was true and what was predicted. Thumbnails are made on the loader's threads; double-clicking
one emits ``openImage(image_id)``."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QLabel, QListView, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ...services.evaluation import ImageOutcome
from ...services.image_queries import load_rows
from ...services.projects import Project
from ...services.thumbnails import (
    OverlayStyle,
    ThumbnailLoader,
    ThumbnailRequest,
    ThumbnailResult,
    ThumbnailStore,
)

ICON = 112
MAX_SHOWN = 500
HINT = "Click a cell of the confusion matrix, a class in the table or a curve to see its images"


def paint_predictions(image: QImage, outcome: ImageOutcome, style: OverlayStyle) -> None:
    """Draw ``outcome``'s predicted boxes dashed in their class colours over ``image``."""
    if not outcome.boxes:
        return
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    width, height = image.width(), image.height()
    for x1, y1, x2, y2, class_index, _conf in outcome.boxes:
        pen = QPen(style.color(class_index), 1.5, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawRect(QRectF(x1 * width, y1 * height, (x2 - x1) * width, (y2 - y1) * height))
    painter.end()


class OutcomeStrip(QWidget):
    """``show_outcomes(title, outcomes, names)`` fills the strip; ``stop()`` before closing."""

    openImage = Signal(int)  # noqa: N815 - Qt signal naming

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.style_ = OverlayStyle.from_project(project)
        self.loader = ThumbnailLoader(ThumbnailStore(project.cache_folder / "thumbnails"),
                                      self.style_, workers=1, parent=self)
        self.loader.ready.connect(self._thumbnail_ready)
        self.title = QLabel(HINT)
        self.title.setWordWrap(True)
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setIconSize(QSize(ICON, ICON))
        self.list.setGridSize(QSize(ICON + 40, ICON + 44))
        self.list.setMovement(QListView.Movement.Static)
        self.list.setMinimumHeight(ICON + 64)
        self.list.setMaximumHeight(ICON + 80)
        self.list.setWordWrap(True)
        self.list.itemDoubleClicked.connect(
            lambda item: self.openImage.emit(int(item.data(Qt.ItemDataRole.UserRole))))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.list)
        self.outcomes: dict[int, ImageOutcome] = {}
        self._generation = 0

    def show_outcomes(self, title: str, outcomes: Sequence[ImageOutcome],
                      names: Sequence[str]) -> None:
        """List ``outcomes`` (at most ``MAX_SHOWN``) under ``title``."""
        self._generation += 1
        self.loader.discard_pending()
        self.list.clear()
        shown = list(outcomes)[:MAX_SHOWN]
        more = f" (first {MAX_SHOWN})" if len(outcomes) > MAX_SHOWN else ""
        self.title.setText(f"<b>{title}</b> — {len(outcomes)} image"
                           f"{'s' if len(outcomes) != 1 else ''}{more}. Ground truth solid, "
                           "predictions dashed; double-click to annotate.")
        self.outcomes = {o.image_id: o for o in shown}
        with self.project.database.session() as session:
            rows = {row.id: row for row in load_rows(session, [o.image_id for o in shown])}
        placeholder = QPixmap(ICON, ICON)
        placeholder.fill(QColor("#444444"))
        for outcome in shown:
            item = QListWidgetItem(QIcon(placeholder), caption(outcome, names))
            item.setData(Qt.ItemDataRole.UserRole, outcome.image_id)
            item.setToolTip(f"{outcome.path}\n{caption(outcome, names, long=True)}")
            self.list.addItem(item)
            row = rows.get(outcome.image_id)
            if row is not None:
                self.loader.request(ThumbnailRequest(
                    outcome.image_id, outcome.path, row.file_hash, row.width, row.height,
                    row.shapes, True, self._generation))

    def clear_outcomes(self, message: str | None = None) -> None:
        """Empty the strip; its title says ``message`` (default: how to fill it)."""
        self._generation += 1
        self.loader.discard_pending()
        self.list.clear()
        self.outcomes = {}
        self.title.setText(message or HINT)

    def image_ids(self) -> list[int]:
        """The images listed now, in order."""
        return [int(self.list.item(i).data(Qt.ItemDataRole.UserRole))
                for i in range(self.list.count())]

    def _thumbnail_ready(self, result: ThumbnailResult) -> None:
        if result.tag != self._generation or result.image is None:
            return
        outcome = self.outcomes.get(result.image_id)
        if outcome is None:
            return
        image = QImage(result.image)
        paint_predictions(image, outcome, self.style_)
        for index in range(self.list.count()):
            item = self.list.item(index)
            if int(item.data(Qt.ItemDataRole.UserRole)) == result.image_id:
                item.setIcon(QIcon(QPixmap.fromImage(image)))

    def stop(self) -> None:
        """End the thumbnail threads (before the project closes)."""
        self.loader.stop()


def caption(outcome: ImageOutcome, names: Sequence[str], *, long: bool = False) -> str:
    """``true cat → dog 0.91`` (classify) or ``3 true · 2 predicted`` (objects)."""

    def name(index: int) -> str:
        return names[index] if 0 <= index < len(names) else "background"

    if outcome.top:
        truth = name(outcome.truth[0]) if outcome.truth else "no class"
        best, score = outcome.top[0]
        text = f"{truth} → {name(best)} {score:.2f}"
        if long:
            text += "\n" + ", ".join(f"{name(i)} {p:.2f}" for i, p in outcome.top)
        return text
    text = f"{len(outcome.truth)} true · {len(outcome.predicted)} predicted"
    if long:
        misses = sum(1 for t, p in outcome.cells if p == len(names))
        false = sum(1 for t, p in outcome.cells if t == len(names))
        text += f"\n{misses} missed, {false} false positives"
    return text
