"""PaddlePaddle export: ONNX (opset 12, simplified) -> x2paddle -> ``<stem>_paddle_model/``.

The folder holds Paddle's inference model, ``model.json`` (the program; ``model.pdmodel``
with Paddle < 3) and ``model.pdiparams`` (the weights), and ``metadata.yaml``. The input shape
is the export's (batch and size fixed: x2paddle bakes the shapes into its reshapes).

Traps of x2paddle 1.6.0, measured with onnx 1.23 and paddlepaddle 3.3 (shared/EXPORT_NOTES.md):

- it reads ONNX opsets 7 to 15 only, and converts the onnxslim-simplified graph: the ONNX is
  made at opset 12 with ``simplify=True`` whatever the ONNX defaults are;
- it rejects MaxPool's ``dilations`` attribute even when it is all ones (torch writes it);
  the attribute is dropped, which means the same (ones are ONNX's default);
- it imports ``onnx.mapping.TENSOR_TYPE_TO_NP_TYPE`` and reads ``onnx.version.version``,
  which onnx 1.23 no longer has (or no longer imports): both are provided before it loads;
- it sends a usage report to a remote endpoint unless ``disable_feedback=True``.

x2paddle runs in a child Python process. Paddle cannot be loaded into a process that has
loaded TensorFlow (a crash, see engine/backends/paddle_backend.py, which runs the exports in a
worker process for the same reason), and x2paddle changes the process it runs in: it configures
the root logger (``logging.basicConfig`` at INFO), prints progress to stdout, inserts its output
folder into ``sys.path`` and imports the Python code it generated there, switches Paddle's
global graph mode, and on one error path calls ``exit(0)``. A child keeps all of that, and any
crash inside Paddle's C++ converter, away from the studio; it costs about 1.5 s.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ExportError
from ..events import Reporter
from ..formats.export_layouts import PADDLE_PARAMS_SUFFIX, PADDLE_PROGRAM_SUFFIXES
from ..formats.export_metadata import write_metadata_yaml
from ..utils.atomic import atomic_directory
from .base import ExportOptions, modules_available
from .onnx import build_onnx

log = logging.getLogger(__name__)

PADDLE_OPSET = 12

# Run as ``python -c`` in the child, with the ONNX file and the output folder as arguments. It
# imports only onnx and x2paddle (not this package, whose torch import would cost seconds).
CONVERT_SCRIPT = """
import contextlib, sys, types
import onnx
from onnx import helper

# x2paddle 1.6 predates onnx 1.23: provide the two names it still uses.
onnx.version = types.SimpleNamespace(version=onnx.__version__)
mapping = types.ModuleType("onnx.mapping")
table = {}
for value in onnx.TensorProto.DataType.values():
    try:
        table[value] = helper.tensor_dtype_to_np_dtype(value)
    except Exception:
        pass
mapping.TENSOR_TYPE_TO_NP_TYPE = table
sys.modules["onnx.mapping"] = onnx.mapping = mapping

from x2paddle.convert import onnx2paddle

with contextlib.redirect_stdout(sys.stderr):
    onnx2paddle(sys.argv[1], sys.argv[2], disable_feedback=True)
"""


class PaddleExporter:
    """``format='paddle'`` -> ``<stem>_paddle_model/`` (``model.json``, ``model.pdiparams``,
    ``metadata.yaml``), run by ``paddle.inference``."""

    format = "paddle"
    name = "PaddlePaddle"
    suffix = "_paddle_model"
    arguments = frozenset({"imgsz", "batch"})
    requirements = ("paddle", "x2paddle")
    extra = "paddle"

    def available(self) -> bool:
        return modules_available(*self.requirements)

    def runtime_missing(self) -> str:
        return "" if modules_available("paddle") else "paddlepaddle is not installed"

    def export(
        self,
        model: nn.Module,
        example: torch.Tensor,
        target: Path,
        *,
        options: ExportOptions,
        metadata: Mapping[str, Any],
        output_shapes: tuple[tuple[int, ...], ...],
        progress: Reporter,
    ) -> Path:
        onnx_options = replace(options, opset=PADDLE_OPSET, simplify=True, dynamic=False)
        proto = build_onnx(model, example, output_shapes, onnx_options, progress)
        strip_maxpool_dilations(proto)
        with tempfile.TemporaryDirectory(prefix="yolo_studio_x2paddle_") as temp:
            work = Path(temp)
            source = work / "model.onnx"
            source.write_bytes(proto.SerializeToString())
            converted = run_x2paddle(source, work / "converted")
            with atomic_directory(target) as folder:
                for file in converted:
                    shutil.move(file, folder / file.name)
                write_metadata_yaml(folder, metadata)
        return target


def strip_maxpool_dilations(proto: Any) -> None:
    """Drop MaxPool's ``dilations`` (x2paddle refuses the attribute, even all ones)."""
    for node in proto.graph.node:
        if node.op_type != "MaxPool":
            continue
        kept = [a for a in node.attribute if a.name != "dilations"]
        dropped = [a for a in node.attribute if a.name == "dilations"]
        if any(v != 1 for a in dropped for v in a.ints):
            raise ExportError(
                f"MaxPool '{node.name}' is dilated, which x2paddle cannot convert; export to "
                "another format"
            )
        del node.attribute[:]
        node.attribute.extend(kept)


def converter_command(source: Path, save_dir: Path) -> list[str]:
    """The child process that converts ``source`` (ONNX) into ``save_dir``."""
    return [sys.executable, "-c", CONVERT_SCRIPT, str(source), str(save_dir)]


def run_x2paddle(source: Path, save_dir: Path) -> list[Path]:
    """Convert in a child process (see the module docstring); the inference model's files."""
    environment = dict(os.environ, PYTHONNOUSERSITE="1", PYTHONIOENCODING="utf-8")
    done = subprocess.run(
        converter_command(source, save_dir),
        cwd=source.parent,
        env=environment,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    log.debug("x2paddle output:\n%s%s", done.stdout, done.stderr)
    files = _inference_files(save_dir / "inference_model")
    if done.returncode != 0 or files is None:
        if done.returncode < 0:
            status = f"crashed with signal {-done.returncode}"
        elif done.returncode:
            status = f"exit code {done.returncode}"
        else:
            status = "no inference model written"
        reason = _reason(done.stderr + done.stdout)
        raise ExportError(f"x2paddle could not convert the model ({status}): {reason}")
    return files


def _inference_files(folder: Path) -> list[Path] | None:
    """``[program, params]`` that x2paddle's ``paddle.jit.save`` wrote, or None."""
    params = folder / f"model{PADDLE_PARAMS_SUFFIX}"
    programs = [folder / f"model{suffix}" for suffix in PADDLE_PROGRAM_SUFFIXES]
    program = next((p for p in programs if p.is_file()), None)
    return [program, params] if program is not None and params.is_file() else None


def _reason(output: str) -> str:
    """The error at the end of x2paddle's output (a traceback's last line, mostly)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors[-1] if errors else " | ".join(lines[-3:]) or "no output")[:500]
