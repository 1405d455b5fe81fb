"""The Predict page's side panel: model and source, thresholds, layers, classes, saving and
pre-labelling. View logic only: the page reads the values and connects the buttons."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...state.models import CLASS, KEYPOINTS, POLYGON, annotation_kind
from ..annotate.instance_list import swatch
from .render import MODES, OverlayOptions

SOURCE_KINDS = ("Project images", "Folder", "Video file", "Webcam")


def _slider(low: int, high: int, value: int) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setValue(value)
    return slider


class PredictControls(QWidget):
    """Inputs of the Predict page; ``optionsChanged`` whenever a drawing option moves."""

    optionsChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addWidget(self._model_box())
        layout.addWidget(self._source_box())
        layout.addWidget(self._view_box())
        self.classes = QListWidget()
        self.classes.setMaximumHeight(140)
        self.classes.itemChanged.connect(lambda _item: self.optionsChanged.emit())
        classes_box = QGroupBox("Classes shown")
        QVBoxLayout(classes_box).addWidget(self.classes)
        layout.addWidget(classes_box)
        layout.addWidget(self._prelabel_box())
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        layout.addStretch(1)

    # -- building ---------------------------------------------------------------------------
    def _model_box(self) -> QGroupBox:
        box = QGroupBox("Model")
        inner = QVBoxLayout(box)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("A run's checkpoint, or a file you chose")
        inner.addWidget(self.model_combo)
        row = QHBoxLayout()
        self.browse_model_file = QPushButton("File…")
        self.browse_model_file.setToolTip(".pt, .onnx, .torchscript, .tflite, …")
        self.browse_model_folder = QPushButton("Folder…")
        self.browse_model_folder.setToolTip("An export folder (…_openvino_model, "
                                            "…_saved_model, …_ncnn_model, …)")
        row.addWidget(self.browse_model_file)
        row.addWidget(self.browse_model_folder)
        inner.addLayout(row)
        self.runtime_label = QLabel()
        self.runtime_label.setToolTip(
            "What ran the model last: a checkpoint runs on the fastest runtime installed that "
            "matches PyTorch (compiled once, then cached)")
        self.runtime_label.setStyleSheet("color: palette(placeholder-text);")
        self.runtime_label.hide()
        inner.addWidget(self.runtime_label)
        return box

    def set_runtime(self, runtime: str) -> None:
        """Show what ran the model ("Ran on OpenVINO"); hidden when nothing ran yet."""
        self.runtime_label.setText(f"Ran on {runtime}" if runtime else "")
        self.runtime_label.setVisible(bool(runtime))

    def _source_box(self) -> QGroupBox:
        box = QGroupBox("Source")
        form = QFormLayout(box)
        self.source_kind = QComboBox()
        self.source_kind.addItems(SOURCE_KINDS)
        self.source_path = QLineEdit()
        self.source_path.setPlaceholderText("a folder or a video file")
        self.browse_source = QPushButton("Browse…")
        path_row = QHBoxLayout()
        path_row.addWidget(self.source_path, 1)
        path_row.addWidget(self.browse_source)
        self.camera = QSpinBox()
        self.camera.setRange(0, 16)
        self.camera.setToolTip("Webcam index (0 is the first camera)")
        form.addRow("From", self.source_kind)
        form.addRow("Path", path_row)
        form.addRow("Camera", self.camera)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        form.addRow(buttons)
        self.source_kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()
        return box

    def _view_box(self) -> QGroupBox:
        box = QGroupBox("Display")
        form = QFormLayout(box)
        self._view_form = form
        self.conf = _slider(1, 100, 25)
        self.iou = _slider(5, 95, 70)
        self.opacity = _slider(0, 100, 40)
        self.conf_label, self.iou_label = QLabel(), QLabel()
        self._rows: dict[str, QHBoxLayout] = {}
        for slider, label, name in ((self.conf, self.conf_label, "Confidence"),
                                    (self.iou, self.iou_label, "NMS IoU")):
            row = QHBoxLayout()
            row.addWidget(slider, 1)
            row.addWidget(label)
            form.addRow(name, row)
            self._rows[name] = row
            slider.valueChanged.connect(self._changed)
        form.addRow("Mask opacity", self.opacity)
        self.opacity.valueChanged.connect(self._changed)
        self.mode = QComboBox()
        self.mode.addItems([m.capitalize() for m in MODES])
        self.mode.setToolTip("Ground truth solid, prediction dashed; FP and MISS in red")
        self.mode.currentIndexChanged.connect(self._changed)
        form.addRow("Show", self.mode)
        self.show_boxes, self.show_masks = QCheckBox("Boxes"), QCheckBox("Masks")
        self.show_keypoints, self.mark_errors = QCheckBox("Keypoints"), QCheckBox("Mark FP / MISS")
        layers = QHBoxLayout()
        for check in (self.show_boxes, self.show_masks, self.show_keypoints, self.mark_errors):
            check.setChecked(True)
            check.toggled.connect(self._changed)
            layers.addWidget(check)
        form.addRow(layers)
        self._rows["layers"] = layers
        self.save_button = QPushButton("Save overlays…")
        self.save_button.setToolTip("Write every frame with its overlays as PNG to a folder")
        form.addRow(self.save_button)
        self._changed()
        return box

    def _prelabel_box(self) -> QGroupBox:
        box = QGroupBox("Pre-label the project")
        form = QFormLayout(box)
        self.prelabel_scope = QComboBox()
        self.prelabel_scope.addItems(["Unlabelled images", "All images (keeps your labels)"])
        self.prelabel_conf = QDoubleSpinBox()
        self.prelabel_conf.setRange(0.01, 0.99)
        self.prelabel_conf.setSingleStep(0.05)
        self.prelabel_conf.setValue(0.25)
        self.prelabel_button = QPushButton("Pre-label with this model")
        self.prelabel_button.setToolTip("Predictions become drafts (dashed) on the Annotate "
                                        "page: Enter accepts, Delete rejects, editing accepts")
        form.addRow("Images", self.prelabel_scope)
        form.addRow("Confidence", self.prelabel_conf)
        self._prelabel_form = form
        form.addRow(self.prelabel_button)
        return box

    def set_task(self, task: str) -> None:
        """Show only the settings that act on ``task``: a classifier has no thresholds, boxes,
        masks or keypoints (its scores are drawn as bars); masks belong to segment and
        keypoints to pose."""
        kind = annotation_kind(task)
        classify = kind == CLASS
        form = self._view_form
        form.setRowVisible(self._rows["Confidence"], not classify)
        form.setRowVisible(self._rows["NMS IoU"], not classify)
        form.setRowVisible(self.opacity, kind == POLYGON)
        form.setRowVisible(self._rows["layers"], not classify)
        self.show_masks.setVisible(kind == POLYGON)
        self.show_keypoints.setVisible(kind == KEYPOINTS)
        self._prelabel_form.setRowVisible(self.prelabel_conf, not classify)
        self.mode.setToolTip("Ground truth: the class band at the bottom; prediction: the "
                             "class scores" if classify else
                             "Ground truth solid, prediction dashed; FP and MISS in red")

    # -- values -----------------------------------------------------------------------------
    def _kind_changed(self) -> None:
        kind = self.source_kind.currentText()
        self.source_path.setEnabled(kind in ("Folder", "Video file"))
        self.browse_source.setEnabled(kind in ("Folder", "Video file"))
        self.camera.setEnabled(kind == "Webcam")

    def _changed(self) -> None:
        self.conf_label.setText(f"{self.conf.value() / 100:.2f}")
        self.iou_label.setText(f"{self.iou.value() / 100:.2f}")
        self.optionsChanged.emit()

    def options(self) -> OverlayOptions:
        hidden = frozenset(self.classes.item(row).data(Qt.ItemDataRole.UserRole)
                           for row in range(self.classes.count())
                           if self.classes.item(row).checkState() != Qt.CheckState.Checked)
        return OverlayOptions(
            conf=self.conf.value() / 100, iou=self.iou.value() / 100,
            opacity=self.opacity.value() / 100, hidden_classes=hidden,
            mode=MODES[self.mode.currentIndex()], show_boxes=self.show_boxes.isChecked(),
            show_masks=self.show_masks.isChecked(),
            show_keypoints=self.show_keypoints.isChecked(),
            mark_errors=self.mark_errors.isChecked())

    def set_classes(self, names: dict[int, str], colors: dict[int, str]) -> None:
        """One checkable row per class (all shown)."""
        self.classes.blockSignals(True)
        self.classes.clear()
        for index, name in sorted(names.items()):
            item = QListWidgetItem(swatch(colors.get(index, "#888888")), name)
            item.setData(Qt.ItemDataRole.UserRole, index)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.classes.addItem(item)
        self.classes.blockSignals(False)
        self.optionsChanged.emit()

    def add_model(self, label: str, path: Path, *, select: bool = True) -> None:
        """Offer ``path`` in the model list (once)."""
        for row in range(self.model_combo.count()):
            if self.model_combo.itemData(row) == str(path):
                if select:
                    self.model_combo.setCurrentIndex(row)
                return
        self.model_combo.addItem(label, str(path))
        if select:
            self.model_combo.setCurrentIndex(self.model_combo.count() - 1)

    def model_path(self) -> Path | None:
        data = self.model_combo.currentData()
        return Path(data) if data else None

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.prelabel_button.setEnabled(not running)
        self.save_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
