"""Export: one module per format behind one protocol, and a registry of formats.

``export_model(model, "onnx", output="runs/x/best.pt")`` writes ``runs/x/best.onnx``.
"""

from .base import (
    EXPORT_FORMATS,
    Exporter,
    ExportMetadata,
    ExportOptions,
    get_exporter,
    read_metadata,
    register,
)
from .onnx import OnnxExporter
from .run import check_imgsz, export_model, prepare_model, set_export_mode
from .torchscript import TorchScriptExporter

register(TorchScriptExporter())
register(OnnxExporter())

__all__ = [
    "EXPORT_FORMATS",
    "ExportMetadata",
    "ExportOptions",
    "Exporter",
    "OnnxExporter",
    "TorchScriptExporter",
    "check_imgsz",
    "export_model",
    "get_exporter",
    "prepare_model",
    "read_metadata",
    "register",
    "set_export_mode",
]
