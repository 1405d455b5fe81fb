"""The run settings in the right-hand dock: the model (a scale, and the weights it starts from:
official, the studio's own, an earlier run's, a chosen file or from scratch), epochs, image
size, batch, device, and a collapsible "Advanced" panel generated from the engine's settings
schema with the engine's own checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...services.projects import Project
from ...services.runs import RunInfo
from ...services.training import (
    SCALES,
    Device,
    OptimizerChoice,
    TrainingData,
    TrainPlan,
    gpu_indices,
    model_source,
    planned_optimizer,
)
from ...workers.job import JobManager
from .gpu_dialog import GpuDialog, gpus_label
from .model_source import ModelSource
from .schema import GROUPS, FieldSpec, advanced_fields, check_value, format_value, parse_value

INVALID_STYLE = "border: 1px solid #d55e00; background: rgba(213, 94, 0, 40);"
CHOOSE_GPUS = "choose-gpus"
"""The data of the device list's "Choose GPUs…" item (offered with 2 GPUs or more)."""


class AdvancedPanel(QWidget):
    """One editor per advanced setting that a ``task`` run reads (every one when None);
    ``errors`` holds the engine's message per bad key."""

    changed = Signal()

    def __init__(self, task: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.specs = {spec.key: spec for spec in advanced_fields(task)}
        self.editors: dict[str, QWidget] = {}
        self.messages: dict[str, QLabel] = {}
        self.errors: dict[str, str] = {}
        self.notes: dict[str, QLabel] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        forms: dict[str, QFormLayout] = {}
        for group in GROUPS:
            box = QGroupBox(group)
            forms[group] = QFormLayout(box)
            forms[group].setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            layout.addWidget(box)
        for spec in self.specs.values():
            editor = self._editor(spec)
            editor.setToolTip(spec.tooltip)
            editor.setObjectName(f"advanced_{spec.key}")
            message = QLabel()
            message.setWordWrap(True)
            message.setStyleSheet("color: #d55e00;")
            message.hide()
            column = QVBoxLayout()
            column.setSpacing(1)
            column.addWidget(editor)
            column.addWidget(message)
            if spec.key in ("optimizer", "lr0"):  # what auto makes of them (SettingsForm)
                note = QLabel()
                note.setObjectName(f"note_{spec.key}")
                note.setWordWrap(True)
                note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
                column.addWidget(note)
                self.notes[spec.key] = note
            label = QLabel(spec.key)
            label.setToolTip(spec.tooltip)
            forms[spec.group].addRow(label, column)
            self.editors[spec.key], self.messages[spec.key] = editor, message
        reset = QPushButton("Reset to defaults")
        reset.clicked.connect(self.reset)
        layout.addWidget(reset, 0, Qt.AlignmentFlag.AlignLeft)

    def _editor(self, spec: FieldSpec) -> QWidget:
        if spec.kind == "bool":
            editor = QCheckBox()
            editor.setChecked(bool(spec.default))
            editor.toggled.connect(lambda _on, k=spec.key: self._check(k))
        elif spec.kind == "choice":
            editor = QComboBox()
            for choice in spec.choices:
                editor.addItem("none" if choice is None else str(choice), choice)
            editor.setCurrentIndex(spec.choices.index(spec.default))
            editor.currentIndexChanged.connect(lambda _i, k=spec.key: self._check(k))
        else:
            editor = QLineEdit(format_value(spec.default))
            editor.setPlaceholderText("none")
            editor.textChanged.connect(lambda _t, k=spec.key: self._check(k))
        return editor

    def value(self, key: str) -> Any:
        editor = self.editors[key]
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, QComboBox):
            return editor.currentData()
        return parse_value(editor.text())

    def set_value(self, key: str, value: Any) -> None:
        editor = self.editors[key]
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QComboBox):
            editor.setCurrentIndex(max(editor.findData(value), 0))
        else:
            editor.setText(value if isinstance(value, str) else format_value(value))

    def overrides(self) -> dict[str, Any]:
        """The settings that differ from the engine's defaults."""
        values = {key: self.value(key) for key in self.specs}
        return {k: v for k, v in values.items() if v != self.specs[k].default}

    def reset(self) -> None:
        for key, spec in self.specs.items():
            self.set_value(key, spec.default)

    def _check(self, key: str) -> None:
        message = check_value(key, self.value(key))
        editor, label = self.editors[key], self.messages[key]
        if message is None:
            self.errors.pop(key, None)
            editor.setStyleSheet("")
            editor.setToolTip(self.specs[key].tooltip)
            label.hide()
        else:
            self.errors[key] = message
            editor.setStyleSheet(INVALID_STYLE)
            editor.setToolTip(f"{message}<br><br>{self.specs[key].tooltip}")
            label.setText(message)
            label.show()
        self.changed.emit()


class SettingsForm(QScrollArea):
    """What the next run uses. ``changed`` on every edit; ``errors()`` lists what blocks Start."""

    changed = Signal()

    def __init__(self, task: str, parent: QWidget | None = None, *, project: Project,
                 jobs: JobManager | None = None) -> None:
        super().__init__(parent)
        self.task = task
        self.project, self.jobs = project, jobs
        self.data: TrainingData | None = None
        self.setWidgetResizable(True)
        self.setMinimumWidth(300)
        body = QWidget()
        layout = QVBoxLayout(body)
        form = QFormLayout()
        self.form = form
        self._build_model_choice(form)
        self.epochs = self._spin(1, 100_000, 30, "How many passes over the training images")
        default_size = 224 if task == "classify" else 640
        self.imgsz = self._spin(32, 4096, default_size, "Images are resized to this many pixels "
                                "(a multiple of 32)")
        self.imgsz.setSingleStep(32)
        self.batch = self._spin(1, 1024, 16, "Images per step; lower it if memory runs out")
        self.device = QComboBox()
        self.device.addItem("CPU", "cpu")
        self.device.setToolTip("Where training runs; GPUs are listed when torch sees them "
                               "(several GPUs: one training process each)")
        self.device_value = "cpu"  # the device chosen (the list may show "Choose GPUs…")
        self.gpus: list[Device] = []
        self.gpu_dialog: GpuDialog | None = None
        self.device.currentIndexChanged.connect(self._remember_device)
        self.device.activated.connect(self._device_activated)
        self.optimizer_note = QLabel()
        self.optimizer_note.setObjectName("optimizer_note")
        self.optimizer_note.setWordWrap(True)
        self.optimizer_note.setToolTip(
            "The optimizer and initial learning rate this run will use. With optimizer=auto "
            "(Advanced) the engine picks AdamW, with a learning rate from the number of "
            "classes, for runs of up to 10,000 iterations, and SGD at 0.01 for longer ones; "
            "lr0 is then not used")
        form.addRow("Epochs", self.epochs)
        form.addRow("Image size", self.imgsz)
        form.addRow("Batch", self.batch)
        form.addRow("Device", self.device)
        form.addRow("Optimizer", self.optimizer_note)
        layout.addLayout(form)
        self.advanced_toggle = QToolButton()
        self.advanced_toggle.setText("Advanced")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.toggled.connect(self._toggle_advanced)
        self.advanced = AdvancedPanel(task)
        self.advanced.hide()
        layout.addWidget(self.advanced_toggle)
        layout.addWidget(self.advanced)
        layout.addStretch(1)
        self.setWidget(body)
        for signal in (self.advanced.changed, self.epochs.valueChanged, self.imgsz.valueChanged,
                       self.batch.valueChanged, self.device.currentIndexChanged):
            signal.connect(self._changed)
        self._changed()

    # -- the model choice ------------------------------------------------------------------
    # Everything about which model a run starts from lives in this block (widgets, their
    # rows, model() and its error), so a replacement widget can take its place in one swap.

    def _build_model_choice(self, form: QFormLayout) -> None:
        """The model rows: the scale, and the weights a run starts from (ModelSource:
        official, shipped, a run's, a chosen file or from scratch)."""
        task = self.task
        self.runs: list[RunInfo] = []
        self.scale = QComboBox()
        for scale in SCALES:
            self.scale.addItem(f"{scale} — {model_source(task, scale)}", scale)
        self.scale.setToolTip("n is the smallest and fastest, x the largest and most accurate")
        self.model_source = ModelSource(self.project, self, jobs=self.jobs)
        form.addRow("Scale", self.scale)
        form.addRow("Start from", self.model_source)
        self.scale.currentIndexChanged.connect(
            lambda _i: self.model_source.set_scale(self.scale.currentData()))
        self.model_source.changed.connect(self._changed)

    def set_runs(self, runs: Sequence[RunInfo]) -> None:
        """Offer the runs that have a checkpoint (listed again by the model choice)."""
        self.runs = [run for run in runs if run.checkpoint() is not None]
        self.model_source.refresh()
        self._changed()

    def model(self) -> str | None:
        return self.model_source.model()

    def model_errors(self) -> dict[str, str]:
        """``{"model": why}`` when the chosen weights cannot be used now, else empty."""
        error = self.model_source.error()
        return {"model": error} if error else {}

    # -- the rest of the settings -------------------------------------------------------------

    def _spin(self, low: int, high: int, value: int, tip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    def apply_defaults(self, values: Mapping[str, Any]) -> None:
        """Start from the project's suggested epochs, image size and batch (demo projects)."""
        for key in ("epochs", "imgsz", "batch"):
            if key in values:
                getattr(self, key).setValue(int(values[key]))

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        """Take an earlier run's settings (not its model): epochs, image size, batch, device
        and the advanced keys this task reads (the others back to their defaults)."""
        self.apply_defaults(settings)
        if "device" in settings:
            self.set_device(str(settings["device"]))
        for key, spec in self.advanced.specs.items():
            self.advanced.set_value(key, settings.get(key, spec.default))

    def _toggle_advanced(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        self.advanced_toggle.setArrowType(Qt.ArrowType.DownArrow if shown
                                          else Qt.ArrowType.RightArrow)

    def _changed(self, *_args: object) -> None:
        if not hasattr(self, "advanced"):  # a model signal while the form is being built
            return
        self._show_optimizer()
        self.changed.emit()

    # -- public ------------------------------------------------------------------------------
    def set_training_data(self, data: TrainingData) -> None:
        """What the run would train on (train images, classes): the optimizer line uses it."""
        self.data = data
        self._show_optimizer()

    def optimizer_choice(self) -> OptimizerChoice | None:
        """What the run will use (None before the data is known or while a setting is bad)."""
        if self.data is None or self.advanced.errors:
            return None
        return planned_optimizer(self.plan(), self.data)

    def _show_optimizer(self) -> None:
        choice = self.optimizer_choice()
        if choice is None:
            self.optimizer_note.setText("—")
            for key in self.advanced.notes:
                self._note(key, "")
            return
        text = f"{choice.name}, lr {choice.lr:.3g}"
        self.optimizer_note.setText(f"auto → {text}" if choice.auto else text)
        self._note("optimizer", f"auto → {text}" if choice.auto else "")
        self._note("lr0", f"not used: auto picks lr {choice.lr:.3g}" if choice.auto else "")

    def _note(self, key: str, text: str) -> None:
        note = self.advanced.notes.get(key)
        if note is not None:
            note.setText(text)
            note.setVisible(bool(text))

    def set_devices(self, devices: Sequence[Device]) -> None:
        """Offer ``devices`` (``list_devices``); with 2 GPUs or more also "Choose GPUs…"."""
        chosen = self.device_value
        self.gpus = [device for device in devices if device.value.isdigit()]
        self.device.clear()
        for device in devices:
            self.device.addItem(device.label, device.value)
        if len(self.gpus) >= 2:
            self.device.addItem("Choose GPUs…", CHOOSE_GPUS)
        self._add_gpus(chosen)
        self.device.setCurrentIndex(max(self.device.findData(chosen), 0))

    def set_device(self, value: str) -> None:
        """Choose ``value`` (adding it when torch does not list it: e.g. a GPU that vanished);
        several GPUs that all exist (``"0,2"``) show as ``GPUs 0, 2``."""
        if not self._add_gpus(value) and self.device.findData(value) < 0:
            self.device.addItem(f"{value} (not found)", value)
        self.device.setCurrentIndex(self.device.findData(value))

    def _add_gpus(self, value: str) -> bool:
        """List ``value`` when it names several GPUs that all exist (before "Choose GPUs…");
        True when it is listed now."""
        indices = gpu_indices(value)
        if indices is None or not set(indices) <= {int(gpu.value) for gpu in self.gpus}:
            return False
        if self.device.findData(value) < 0:
            self.device.insertItem(self.device.findData(CHOOSE_GPUS), gpus_label(indices),
                                   value)
        return True

    def _remember_device(self, index: int) -> None:
        value = self.device.itemData(index)
        if value is not None and value != CHOOSE_GPUS:
            self.device_value = str(value)

    def _device_activated(self, index: int) -> None:
        """"Choose GPUs…" opens the dialog (not modal to the app: the page stays usable)."""
        if self.device.itemData(index) != CHOOSE_GPUS:
            return
        chosen = gpu_indices(self.device_value) or [int(gpu.value) for gpu in self.gpus]
        self.gpu_dialog = dialog = GpuDialog(self.gpus, chosen, self)
        dialog.accepted.connect(lambda: self.set_device(dialog.value()))
        dialog.rejected.connect(lambda: self.device.setCurrentIndex(
            max(self.device.findData(self.device_value), 0)))
        dialog.open()

    def errors(self) -> dict[str, str]:
        """What is wrong, by key (``model`` and advanced keys); empty when Start may go."""
        return {**self.advanced.errors, **self.model_errors()}

    def plan(self) -> TrainPlan:
        return TrainPlan(model=self.model() or "", epochs=self.epochs.value(),
                         imgsz=self.imgsz.value(), batch=self.batch.value(),
                         device=self.device_value or "cpu",
                         overrides=self.advanced.overrides())
