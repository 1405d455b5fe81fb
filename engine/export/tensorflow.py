"""TensorFlow exports (SavedModel, GraphDef, TFLite, Edge TPU): being written (issue 6).

Registered so that the format table is complete; exporting says it is not available yet.
"""

from __future__ import annotations

from ..errors import ExportError
from .base import modules_available


class _Pending:
    requirements = ("tensorflow", "onnx2tf")
    extra = "tensorflow"
    half_needs_cuda = False

    def available(self) -> bool:
        return modules_available(*self.requirements)

    def runtime_missing(self) -> str:
        return "" if modules_available("tensorflow") else "tensorflow is not installed"

    def export(self, *args, **kwargs):
        raise ExportError(f"{self.name} export is not available in this version yet",
                          key="format")


class SavedModelExporter(_Pending):
    format = "saved_model"
    name = "TF SavedModel"
    suffix = "_saved_model"
    arguments = frozenset({"imgsz", "batch", "keras"})


class GraphDefExporter(_Pending):
    format = "pb"
    name = "TF GraphDef"
    suffix = ".pb"
    arguments = frozenset({"imgsz", "batch"})


class TfLiteExporter(_Pending):
    format = "tflite"
    name = "TF Lite"
    suffix = ".tflite"
    arguments = frozenset({"imgsz", "batch", "half", "int8"})


class EdgeTpuExporter(_Pending):
    format = "edgetpu"
    name = "TF Edge TPU"
    suffix = "_edgetpu.tflite"
    arguments = frozenset({"imgsz"})
