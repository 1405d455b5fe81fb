"""Export: one module per format behind one protocol, and a registry of formats.

``export_model(model, "onnx", output="runs/x/best.pt")`` writes ``runs/x/best.onnx``.
"""

from ..backends.torch_backend import prepare_model, set_export_mode
from ..formats.export_metadata import ExportMetadata, read_metadata
from .base import (
    EXPORT_FORMATS,
    EXPORT_OPTIONS,
    Exporter,
    ExportOptions,
    get_exporter,
    option_values,
    register,
)
from .coreml import CoreMlExporter
from .ncnn import NcnnExporter
from .onnx import OnnxExporter
from .openvino import OpenVinoExporter
from .paddle import PaddleExporter
from .parity import ParityCheck
from .result import ExportResult
from .run import check_imgsz, export_model, verify_export
from .samples import dataset_samples
from .tensorflow import EdgeTpuExporter, GraphDefExporter, SavedModelExporter, TfLiteExporter
from .tensorrt import TensorRtExporter
from .tfjs import TfJsExporter
from .torchscript import TorchScriptExporter

# In the order of SPEC's export table (benchmark rows follow it).
for _exporter in (
    TorchScriptExporter(),
    OnnxExporter(),
    OpenVinoExporter(),
    TensorRtExporter(),
    CoreMlExporter(),
    SavedModelExporter(),
    GraphDefExporter(),
    TfLiteExporter(),
    EdgeTpuExporter(),
    TfJsExporter(),
    PaddleExporter(),
    NcnnExporter(),
):
    register(_exporter)

__all__ = [
    "EXPORT_FORMATS",
    "EXPORT_OPTIONS",
    "ExportResult",
    "ParityCheck",
    "dataset_samples",
    "verify_export",
    "ExportMetadata",
    "ExportOptions",
    "Exporter",
    "OnnxExporter",
    "TorchScriptExporter",
    "check_imgsz",
    "export_model",
    "get_exporter",
    "option_values",
    "prepare_model",
    "read_metadata",
    "register",
    "set_export_mode",
]
