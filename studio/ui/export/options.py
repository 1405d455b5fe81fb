"""One format's row in the wizard: a check box to pick it, the options that format takes (and
only those), and what this machine can do with it (why it is unavailable and what to install,
or why its parity cannot be checked here). In the desktop bundle a missing exporter was left
out of the download, so its row says how to get it there instead of naming a pip command for a
Python the user may not have."""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from engine.export import EXPORT_FORMATS, EXPORT_OPTIONS

from ...services.model_export import OPTION_HELP, FormatInfo

# The engine declares the options once (engine/export/base.py); the yes/no ones are check boxes.
_FLAGS = tuple(name for name, default in EXPORT_OPTIONS.items() if isinstance(default, bool))


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (fp16 export of some formats needs one)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


class FormatOptions(QWidget):
    """The option editors of one format; ``values()`` gives what to pass to ``export``."""

    def __init__(self, info: FormatInfo, imgsz: int, *, has_cuda: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        self.editors: dict[str, QWidget] = {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(8)
        for name in info.arguments:
            editor = self._editor(name, imgsz, has_cuda)
            if editor is None:
                continue
            editor.setToolTip(editor.toolTip() or OPTION_HELP.get(name, name))
            if isinstance(editor, QSpinBox):
                label = QLabel(name)
                label.setToolTip(editor.toolTip())
                layout.addWidget(label)
            layout.addWidget(editor)
            self.editors[name] = editor
        layout.addStretch(1)
        self.setEnabled(info.available)

    def _editor(self, name: str, imgsz: int, has_cuda: bool) -> QWidget | None:
        if name == "imgsz":
            return _spin(32, 4096, imgsz, 32)
        if name == "opset":
            return _spin(7, 21, 17, 1)
        if name == "workspace":
            return _spin(1, 64, 4, 1)
        if name == "batch":
            return None  # one image per call: what the studio's predictors use
        if name in _FLAGS:
            box = QCheckBox(name)
            box.setChecked(EXPORT_OPTIONS[name])
            if name == "half" and self.info.half_needs_cuda and not has_cuda:
                box.setEnabled(False)
                box.setToolTip(f"fp16 {self.info.name} export needs a CUDA GPU, and this "
                               "machine has none")
            return box
        return None

    def values(self) -> dict[str, Any]:
        """The options set, by ``export`` argument name."""
        values: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if isinstance(editor, QSpinBox):
                values[name] = editor.value()
            elif isinstance(editor, QCheckBox):
                values[name] = editor.isChecked() and editor.isEnabled()
        return values

    def set_imgsz(self, imgsz: int) -> None:
        """Set the image size (when another model is chosen)."""
        editor = self.editors.get("imgsz")
        if isinstance(editor, QSpinBox):
            editor.setValue(imgsz)


def _spin(low: int, high: int, value: int, step: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setValue(value)
    return spin


# What each exporter family the bundle leaves out would add (MiB installed, Linux x86-64, the
# versions of installer/constraints.txt; installer/bundle/README.md has the bundle's sizes).
LEFT_OUT_MIB = {"openvino": 190, "coreml": 26, "tensorflow": 2010, "paddle": 726, "ncnn": 111}
# The extras a bundle can be built with (YOLO_BUNDLE_EXPORTERS) and then export and check in
# it, as tried on Linux: TensorFlow's converters import tf_keras modules by name, and Paddle's
# runtime looks for its MKL libraries under a site-packages folder that a bundle has not.
BUNDLE_CAN_ADD = frozenset({"openvino", "ncnn", "coreml"})


def in_bundle() -> bool:
    """Whether the studio runs from the frozen desktop bundle (PyInstaller sets sys.frozen)."""
    return bool(getattr(sys, "frozen", False))


def unavailable_text(info: FormatInfo, *, bundle: bool | None = None) -> str:
    """Why ``info``'s format cannot be built here and how to get it: the exporter's reason
    (what to pip install) from Python; in the bundle, which has no pip, how to add it there."""
    bundle = in_bundle() if bundle is None else bundle
    extra = getattr(EXPORT_FORMATS.get(info.format), "extra", "")
    if not bundle or not extra:
        return f"Unavailable: {info.reason}"
    size = f" (about {LEFT_OUT_MIB[extra]:,} MB)" if extra in LEFT_OUT_MIB else ""
    pip = (f"install YOLO Studio with Python (pip install 'yolo-studio[studio,{extra}]', then "
           "run yolo-studio)")
    rebuild = (f", or build a bundle that includes it (YOLO_BUNDLE_EXPORTERS={extra} make "
               "bundle)" if extra in BUNDLE_CAN_ADD else "")
    return (f"Not in this download: the {info.name} exporter{size} is left out of the bundle "
            f"to keep it small. To export to {info.name}, {pip}{rebuild}")


def availability_text(info: FormatInfo) -> str:
    """What the row says about this machine: unavailable (and why), or how it is checked."""
    if not info.available:
        return unavailable_text(info)
    if info.runtime_note:
        return f"Exported, not checked here: {info.runtime_note}"
    return "Exported and checked against PyTorch here"
