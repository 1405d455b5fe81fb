"""New project: name and folder, task, classes and, for pose, the keypoint schema (a template
such as COCO person, or a custom one built in a small editor; flip pairs are derived from
left/right names and shown)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from ..services.keypoint_schemas import TEMPLATES, KeypointSchema
from ..state.models import KEYPOINTS, annotation_kind
from .file_dialogs import start_folder

# The studio's own wording of the tasks a project can have, in the order offered (by task name).
TASK_TEXT = {
    "classify": "Classification — one class per image",
    "segment": "Instance segmentation — a polygon per object",
    "pose": "Pose estimation — a box and keypoints per object",
}
CUSTOM = "Custom…"
ERROR_LINES = 2
"""Lines kept free for an error under a form, so that the form never moves when one shows."""


def _has_keypoints(task: str) -> bool:
    """Whether ``task``'s annotations carry keypoints (then the project needs a schema)."""
    return annotation_kind(task) == KEYPOINTS


def error_label() -> QLabel:
    """A red, wrapped label whose height is reserved even while it is empty."""
    label = QLabel()
    label.setStyleSheet("color: #d55e00")
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    label.setMinimumHeight(label.fontMetrics().lineSpacing() * ERROR_LINES + 4)
    return label


class NumberedNames(QPlainTextEdit):
    """One keypoint name per line with its index (0, 1, …) in a gutter on the left; blank lines
    are skipped by the schema, so they get no number."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gutter = QWidget(self)
        self.gutter.paintEvent = self._paint_gutter  # type: ignore[method-assign]
        self.blockCountChanged.connect(self._update_margin)
        self.updateRequest.connect(lambda *_args: self.gutter.update())
        self._update_margin()

    def indices(self) -> list[int | None]:
        """Per line of the text, the keypoint index it names (None for a blank line)."""
        numbers: list[int | None] = []
        count = 0
        for line in self.toPlainText().split("\n"):
            numbers.append(count if line.strip() else None)
            count += bool(line.strip())
        return numbers

    def gutter_width(self) -> int:
        digits = len(str(max(self.blockCount() - 1, 9)))
        return 10 + self.fontMetrics().horizontalAdvance("9") * digits

    def _update_margin(self, *_args: object) -> None:
        self.setViewportMargins(self.gutter_width(), 0, 0, 0)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        area = self.contentsRect()
        self.gutter.setGeometry(QRect(area.left(), area.top(), self.gutter_width(),
                                      area.height()))

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(240, 160)

    def _paint_gutter(self, event: QPaintEvent) -> None:
        painter = QPainter(self.gutter)
        palette = self.palette()
        painter.fillRect(event.rect(), palette.color(palette.ColorRole.AlternateBase))
        painter.setPen(QColor(palette.color(palette.ColorRole.PlaceholderText)))
        numbers = self.indices()
        block = self.firstVisibleBlock()
        offset = self.contentOffset()
        width = self.gutter.width() - 5
        while block.isValid():
            top = round(self.blockBoundingGeometry(block).translated(offset).top())
            if top > event.rect().bottom():
                break
            number = numbers[block.blockNumber()] if block.blockNumber() < len(numbers) else None
            if block.isVisible() and number is not None:
                painter.drawText(0, top, width, self.fontMetrics().height(),
                                 int(Qt.AlignmentFlag.AlignRight), str(number))
            block = block.next()
        painter.end()


class NewProjectWizard(QWizard):
    """``values()`` after ``exec()``: folder, name, task, classes, keypoints (or None)."""

    def __init__(self, parent: QWidget | None = None, default_folder: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.basics = _BasicsPage(default_folder or Path.home() / "YOLO Studio projects")
        self.classes = _ClassesPage()
        self.keypoints = _KeypointsPage()
        self.addPage(self.basics)
        self.addPage(self.classes)
        self.keypoints_id = self.addPage(self.keypoints)
        self.resize(620, 480)

    def values(self) -> dict:
        task = self.basics.task()
        return {
            "folder": Path(self.basics.folder.text()).expanduser(),
            "name": self.basics.name.text().strip(),
            "task": task,
            "classes": self.classes.names(),
            "keypoints": self.keypoints.schema() if _has_keypoints(task) else None,
        }


class _BasicsPage(QWizardPage):
    def __init__(self, default_folder: Path) -> None:
        super().__init__()
        self.setTitle("Project")
        self.setSubTitle("Name the project, choose where it lives and what it labels.")
        self.name = QLineEdit("My project")
        self.folder = QLineEdit(str(default_folder / "my-project"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.name.textEdited.connect(self._name_to_folder)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Folder", row)
        self.tasks = QButtonGroup(self)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Task"))
        for index, (task, text) in enumerate(TASK_TEXT.items()):
            button = QRadioButton(text)
            button.setProperty("task", task)
            button.setChecked(index == 1)
            self.tasks.addButton(button, index)
            layout.addWidget(button)
        self.error = error_label()
        layout.addWidget(self.error)
        layout.addStretch(1)
        self.registerField("name*", self.name)
        self.folder.textChanged.connect(self.completeChanged)

    def task(self) -> str:
        return self.tasks.checkedButton().property("task")

    def isComplete(self) -> bool:  # noqa: N802 - Qt's name
        folder = Path(self.folder.text()).expanduser()
        if (folder / "project.db").exists():
            self.error.setText("That folder already holds a project: open it instead.")
            return False
        self.error.setText("")
        return bool(self.name.text().strip() and self.folder.text().strip())

    def nextId(self) -> int:  # noqa: N802 - Qt's name
        return self.wizard().pageIds()[1]

    def _name_to_folder(self, name: str) -> None:
        slug = "-".join(name.lower().split()) or "my-project"
        self.folder.setText(str(Path(self.folder.text()).expanduser().parent / slug))

    def _browse(self) -> None:
        folder = Path(self.folder.text()).expanduser()
        chosen = QFileDialog.getExistingDirectory(self, "Folder for the project",
                                                  start_folder(None, folder.parent))
        if chosen:
            self.folder.setText(str(Path(chosen) / Path(self.folder.text()).name))


class _ClassesPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Classes")
        self.setSubTitle("One class name per line, in label order (the first is class 0). "
                         "Importing a dataset adds its classes too.")
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("cat\ndog")
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)

    def initializePage(self) -> None:  # noqa: N802 - Qt's name
        if _has_keypoints(self.wizard().basics.task()) and not self.text.toPlainText().strip():
            self.text.setPlainText("person")

    def names(self) -> list[str]:
        return [line.strip() for line in self.text.toPlainText().splitlines() if line.strip()]

    def nextId(self) -> int:  # noqa: N802 - Qt's name
        wizard = self.wizard()
        return wizard.keypoints_id if _has_keypoints(wizard.basics.task()) else -1


class _KeypointsPage(QWizardPage):
    """A template, or a custom schema: names one per line, skeleton edges as ``a-b`` pairs."""

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Keypoints")
        self.setSubTitle("Choose a template or describe your own keypoints. Flip pairs "
                         "(which points swap in a mirrored image) come from left/right names.")
        self.template = QComboBox()
        self.template.addItems([*TEMPLATES, CUSTOM])
        self.names = NumberedNames()
        self.names.setPlaceholderText("head\nleft_hand\nright_hand")
        self.edges = QLineEdit()
        self.edges.setPlaceholderText("0-1, 0-2")
        self.flips = QLabel()
        self.flips.setWordWrap(True)
        self.error = error_label()
        form = QFormLayout(self)
        form.addRow("Template", self.template)
        form.addRow("Keypoints (one per line,\nnumbered from 0)", self.names)
        form.addRow("Skeleton (pairs by number)", self.edges)
        form.addRow("Flip pairs", self.flips)
        form.addRow(self.error)
        self.template.currentTextChanged.connect(self._template_chosen)
        self.names.textChanged.connect(self._update)
        self.edges.textChanged.connect(self._update)
        self._template_chosen(self.template.currentText())

    def schema(self) -> KeypointSchema | None:
        try:
            return self._parse()
        except ValueError:
            return None

    def isComplete(self) -> bool:  # noqa: N802 - Qt's name
        return self.schema() is not None

    def _parse(self) -> KeypointSchema:
        names = [line.strip() for line in self.names.toPlainText().splitlines() if line.strip()]
        edges = []
        for part in self.edges.text().replace(";", ",").split(","):
            if part.strip():
                try:
                    a, b = (int(x) for x in part.replace(" ", "").split("-"))
                except ValueError as exc:
                    raise ValueError(f"'{part.strip()}' is not a pair like 0-1") from exc
                edges.append((a, b))
        return KeypointSchema.build(names, edges)

    def _template_chosen(self, name: str) -> None:
        schema = TEMPLATES.get(name)
        custom = schema is None
        self.names.setReadOnly(not custom)
        self.edges.setReadOnly(not custom)
        if schema is not None:
            self.names.setPlainText("\n".join(schema.names))
            self.edges.setText(_edges_text(schema))
        else:
            # A custom schema starts empty: a template's skeleton left behind would join the
            # custom points by the template's numbers. What the user typed stays.
            names = [n.strip() for n in self.names.toPlainText().splitlines() if n.strip()]
            for template in TEMPLATES.values():
                if names == list(template.names):
                    self.names.clear()
                if self.edges.text().strip() == _edges_text(template):
                    self.edges.clear()
        self._update()

    def _update(self) -> None:
        empty = not self.names.toPlainText().strip() and not self.edges.text().strip()
        try:
            schema = self._parse()
        except ValueError as exc:
            # nothing typed yet is no error: the placeholders say what to type
            self.error.setText("" if empty else str(exc))
            self.flips.setText("")
        else:
            self.error.setText("")
            pairs = schema.flip_pairs
            self.flips.setText(", ".join(f"{a} ↔ {b}" for a, b in pairs) or
                               "none (no left/right names)")
        self.completeChanged.emit()


def _edges_text(schema: KeypointSchema) -> str:
    """A skeleton as the editor shows it: ``0-1, 0-2``."""
    return ", ".join(f"{a}-{b}" for a, b in schema.skeleton)
