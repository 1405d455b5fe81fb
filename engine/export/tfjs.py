"""TF.js export: being written (issue 6)."""

from __future__ import annotations

from .tensorflow import _Pending


class TfJsExporter(_Pending):
    format = "tfjs"
    name = "TF.js"
    suffix = "_web_model"
    arguments = frozenset({"imgsz", "batch"})
    requirements = ("tensorflow", "onnx2tf", "tensorflowjs")
