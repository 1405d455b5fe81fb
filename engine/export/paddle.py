"""PaddlePaddle export: being written (issue 6)."""

from __future__ import annotations

from .tensorflow import _Pending


class PaddleExporter(_Pending):
    format = "paddle"
    name = "PaddlePaddle"
    suffix = "_paddle_model"
    arguments = frozenset({"imgsz", "batch"})
    requirements = ("paddle", "x2paddle")
    extra = "paddle"
