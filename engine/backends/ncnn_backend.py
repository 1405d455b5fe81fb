"""An ncnn export folder (``*_ncnn_model/``) as an inference backend."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ExportError
from ..formats.export_layouts import NCNN_BIN_FILE, NCNN_PARAM_FILE
from ..formats.export_metadata import read_metadata_yaml
from .base import Backend, metadata_fields

log = logging.getLogger(__name__)


class NcnnBackend(Backend):
    """Runs ``model.ncnn.param`` / ``.bin`` with ncnn on the CPU, in fp32, one image at a time.

    The graph takes one ``[3, H, W]`` image at the exported size (see engine/export/ncnn.py), so
    a batch runs image by image and other sizes are refused. ncnn's reduced-precision storage
    and arithmetic are switched off, so a ``half=True`` export (fp16 weights on disk) also
    computes in fp32 and differs from PyTorch only by the rounding of its weights.
    """

    kind = "ncnn"

    def __init__(self, path: Path, *, device: torch.device, fp16: bool = False) -> None:
        ncnn = _import_ncnn(path)
        metadata = read_metadata_yaml(path)
        param, weights = _model_files(path)
        if device.type != "cpu":
            log.warning("ncnn runs on the CPU here; %s is not used", device)
        self._ncnn = ncnn
        self.net = _load_net(ncnn, param, weights)
        inputs, outputs = list(self.net.input_names()), list(self.net.output_names())
        if len(inputs) != 1 or not outputs:
            raise ExportError(
                f"the graph has {len(inputs)} inputs and {len(outputs)} outputs, where a YOLO "
                "model has one input and one or two outputs; export the model again",
                path=param,
            )
        self.input_name = inputs[0]
        self.output_names = sorted(outputs, key=_output_order)
        fields = metadata_fields(metadata)
        fields["batch"] = None  # any batch: images run one by one
        super().__init__(source=path, device=torch.device("cpu"), fp16=False,
                         fixed_shape=True, **fields)
        self.metadata = metadata

    @classmethod
    def from_path(cls, path: Path, *, device: torch.device, fp16: bool = False) -> NcnnBackend:
        return cls(path, device=device, fp16=fp16)

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        batch = images.detach().to("cpu", torch.float32).contiguous().numpy()
        per_image = [self._run_one(image) for image in batch]
        return tuple(torch.from_numpy(np.stack(column)) for column in zip(*per_image, strict=True))

    def _run_one(self, image: np.ndarray) -> list[np.ndarray]:
        # ncnn.Mat(array) borrows the array's memory without holding a reference to it: the
        # array must stay alive until the last extract (a freed one gave values of 1e16).
        pixels = np.ascontiguousarray(image, dtype=np.float32)
        results = []
        with self.net.create_extractor() as extractor:
            extractor.input(self.input_name, self._ncnn.Mat(pixels))
            for name in self.output_names:
                status, output = extractor.extract(name)
                if status != 0:
                    raise ExportError(f"ncnn could not compute output '{name}' (error {status})",
                                      path=self.source)
                # a copy: the Mat's memory belongs to the extractor, freed when it closes
                results.append(np.array(output, dtype=np.float32))
        return results


def _import_ncnn(path: Path) -> Any:
    try:
        import ncnn
    except ImportError as exc:
        raise ExportError(
            "running ncnn models needs ncnn (pip install 'yolo-studio[ncnn]')", path=path
        ) from exc
    return ncnn


def _model_files(folder: Path) -> tuple[Path, Path]:
    files = (folder / NCNN_PARAM_FILE, folder / NCNN_BIN_FILE)
    for file in files:
        if not file.is_file():
            raise ExportError(
                f"is missing: an ncnn model folder holds {NCNN_PARAM_FILE} (the graph) and "
                f"{NCNN_BIN_FILE} (the weights). Export the model again",
                path=file,
            )
    return files


def _load_net(ncnn: Any, param: Path, weights: Path) -> Any:
    net = ncnn.Net()
    options = net.opt
    # fp32 throughout. ncnn stores and computes in fp16 by default on CPUs with fp16
    # arithmetic (ARM), and can use bf16 storage: that moved segment outputs by 0.24 (relative)
    # here, where the parity gate holds fp32 exports to 1e-3.
    for name in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic",
                 "use_bf16_storage", "use_bf16_packed"):
        if hasattr(options, name):
            setattr(options, name, False)
    options.num_threads = max(1, torch.get_num_threads())
    if net.load_param(str(param)) != 0:
        raise ExportError("is not an ncnn graph ncnn can read; export the model again",
                          path=param)
    if net.load_model(str(weights)) != 0:
        raise ExportError(
            f"does not hold the weights {param.name} needs (truncated, or from another export); "
            "export the model again",
            path=weights,
        )
    return net


def _output_order(name: str) -> tuple[int, str]:
    """pnnx names outputs ``out0``, ``out1`` ... in the model's order; ncnn lists them as it
    likes (``out1`` before ``out0`` for segment models)."""
    digits = re.findall(r"\d+", name)
    return (int(digits[-1]) if digits else 0, name)
