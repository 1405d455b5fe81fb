"""ncnn export: being written (issue 6)."""

from __future__ import annotations

from .tensorflow import _Pending


class NcnnExporter(_Pending):
    format = "ncnn"
    name = "ncnn"
    suffix = "_ncnn_model"
    arguments = frozenset({"imgsz", "batch", "half"})
    requirements = ("ncnn", "pnnx")
    extra = "ncnn"
