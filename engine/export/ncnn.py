"""ncnn export: a TorchScript trace converted by pnnx into ``<stem>_ncnn_model/``.

The folder holds ``model.ncnn.param`` (the graph, text), ``model.ncnn.bin`` (the weights) and
``metadata.yaml``. ``half=True`` stores the weights as fp16 (pnnx converts them itself, so no
GPU is needed); ncnn turns them back into fp32 when it loads them.

The input is fixed at ``imgsz``: the detection head's anchor grid is traced as constants, and
ncnn runs other sizes without complaint but with the wrong anchors (measured: a 96x64 image
gave 84 anchors instead of 126). ncnn has no batch axis: the graph takes one ``[3, H, W]``
image and the backend runs a batch image by image, so any batch size works.

pnnx writes a dozen side files (its own param/bin, a Python model, an ONNX file, the ncnn
Python script) next to the TorchScript file and into its working folder: it runs in a temp
folder, and only the two ncnn files move into the export. The pnnx executable is run directly
rather than through ``pnnx.export``, which ignores pnnx's exit code and then imports the Python
file pnnx generated.
"""

from __future__ import annotations

import copy
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..backends.torchscript_backend import quiet_jit
from ..errors import ExportError
from ..events import Reporter
from ..formats.export_layouts import NCNN_BIN_FILE, NCNN_FILES, NCNN_PARAM_FILE
from ..formats.export_metadata import write_metadata_yaml
from ..utils.atomic import atomic_directory
from .base import ExportOptions, modules_available

log = logging.getLogger(__name__)


# pnnx's side outputs: named explicitly so that all of them land in the temp folder.
_SIDE_FILES = {
    "pnnxparam": "model.pnnx.param",
    "pnnxbin": "model.pnnx.bin",
    "pnnxpy": "model_pnnx.py",
    "pnnxonnx": "model.pnnx.onnx",
    "ncnnpy": "model_ncnn.py",
}


class NcnnExporter:
    """``format='ncnn'`` -> ``<stem>_ncnn_model/`` (``model.ncnn.param``, ``model.ncnn.bin``,
    ``metadata.yaml``)."""

    format = "ncnn"
    name = "ncnn"
    suffix = "_ncnn_model"
    arguments = frozenset({"imgsz", "batch", "half"})
    requirements = ("ncnn", "pnnx")
    extra = "ncnn"
    half_needs_cuda = False  # pnnx stores fp16 weights itself

    def available(self) -> bool:
        return modules_available(*self.requirements)

    def runtime_missing(self) -> str:
        return "" if modules_available("ncnn") else "ncnn is not installed"

    def notes(self, options: ExportOptions) -> list[str]:
        height, width = options.imgsz
        return [f"note: the ncnn model takes {height}x{width} images only (ncnn runs a batch "
                "image by image)"]

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
        # ncnn has no batch axis: one image in, per-image outputs out (see the module docstring)
        single = example[:1].detach().to("cpu", torch.float32)
        with tempfile.TemporaryDirectory(prefix="yolo_studio_pnnx_") as temp:
            work = Path(temp)
            traced = trace_for_ncnn(model, single, work / "model.pt")
            run_pnnx(traced, tuple(single.shape), work, half=options.half)
            check_ncnn_graph(work / NCNN_PARAM_FILE)
            with atomic_directory(target) as folder:
                for name in NCNN_FILES:
                    shutil.move(work / name, folder / name)
                write_metadata_yaml(folder, metadata)
        return target


def trace_for_ncnn(model: nn.Module, example: torch.Tensor, path: Path) -> Path:
    """Trace ``model`` (on the CPU, fp32) to ``path``. The pose head decodes keypoints by view,
    without the strided slices ncnn has no layer for (``Pose.decode_keypoints``)."""
    traceable = copy.deepcopy(model).to("cpu").float()  # a copy: the caller's model stays
    with quiet_jit(), torch.no_grad():
        traced = torch.jit.trace(traceable, example, check_trace=False, strict=False)
    traced.save(str(path))
    return path


def pnnx_executable() -> str:
    """The pnnx converter binary that the ``pnnx`` package ships."""
    import pnnx

    return pnnx.EXEC_PATH


def run_pnnx(traced: Path, shape: tuple[int, ...], work: Path, *, half: bool) -> None:
    """Convert the TorchScript file to ncnn in ``work``; a failure says what pnnx said."""
    outputs = {key: work / name for key, name in _SIDE_FILES.items()}
    outputs |= {"ncnnparam": work / NCNN_PARAM_FILE, "ncnnbin": work / NCNN_BIN_FILE}
    dims = ",".join(str(int(d)) for d in shape)
    command = [
        pnnx_executable(),
        str(traced),
        f"inputshape=[{dims}]f32",
        "device=cpu",
        f"fp16={int(half)}",  # pnnx's own default is 1: fp32 must be asked for
        *(f"{key}={path}" for key, path in outputs.items()),
    ]
    try:
        done = subprocess.run(
            command, cwd=work, capture_output=True, text=True, errors="replace", check=False
        )
    except OSError as exc:
        raise ExportError(
            f"the pnnx converter could not be started ({exc.strerror or exc}); reinstall it "
            "(pip install 'yolo-studio[ncnn]')",
            path=command[0],
        ) from exc
    log.debug("pnnx output:\n%s%s", done.stdout, done.stderr)
    missing = [p.name for p in (work / NCNN_PARAM_FILE, work / NCNN_BIN_FILE) if not p.is_file()]
    if done.returncode != 0 or missing:
        if done.returncode < 0:
            status = f"killed by signal {-done.returncode}"
        elif done.returncode:
            status = f"exit code {done.returncode}"
        else:
            status = f"wrote no {', '.join(missing)}"
        reason = _last_lines(done.stderr) or _last_lines(done.stdout) or "no output"
        raise ExportError(f"pnnx could not convert the model ({status}): {reason}")


def check_ncnn_graph(param: Path) -> None:
    """Refuse a graph with layers ncnn does not have (pnnx keeps such ops under their torch
    names, ``Tensor.slice`` or ``torch.xxx``, and ncnn then fails to load the model)."""
    unknown = sorted({fields[0] for fields in _layer_lines(param) if "." in fields[0]})
    if unknown:
        raise ExportError(
            f"pnnx left operations that ncnn has no layer for: {', '.join(unknown)}. This "
            "model cannot run on ncnn; export to another format (onnx, openvino)"
        )


def _layer_lines(param: Path) -> list[list[str]]:
    """The layer lines of an ncnn ``.param`` (after the magic number and the counts)."""
    lines = param.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line.split() for line in lines[2:] if line.strip()]


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return " | ".join(lines[-count:])[:500]
