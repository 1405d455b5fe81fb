"""A PyTorch model (a TaskModel or a .pt checkpoint) as an inference backend."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import torch

from ..checkpoints import load_model
from ..nn.heads import Classify, Detect
from ..nn.model import TaskModel
from .base import Backend

log = logging.getLogger(__name__)


def prepare_model(model: TaskModel, *, half: bool = False) -> TaskModel:
    """A deep copy for inference and export: eval, fused, no gradients, heads in export mode.

    The PyTorch backend runs it, exporters trace it, and the parity check compares the two.
    """
    prepared = copy.deepcopy(model).eval()
    prepared.fuse()
    prepared.requires_grad_(False)
    set_export_mode(prepared, True)
    return prepared.half() if half else prepared


def set_export_mode(model: torch.nn.Module, enabled: bool = True) -> None:
    """Make every head return only what an export outputs (probabilities, or detections)."""
    for module in model.modules():
        if isinstance(module, Classify | Detect):
            module.export = enabled


class TorchBackend(Backend):
    """Runs a fused, eval-mode copy of the model under ``torch.inference_mode``.

    The copy's head is in export mode, so its outputs have exactly the structure of an export
    of the same model (classify: probabilities only).
    """

    kind = "torch"

    def __init__(
        self,
        model: TaskModel,
        *,
        device: torch.device,
        fp16: bool = False,
        source: str | Path = "<model>",
    ) -> None:
        half = fp16 and device.type == "cuda"
        if fp16 and not half:
            log.info("fp16 needs a CUDA device; running %s in float32 on %s", source, device)
        self.model = prepare_model(model, half=half).to(device)
        super().__init__(
            source=source,
            task=model.task,
            names=model.names,
            stride=max(int(s) for s in model.strides),
            device=device,
            fp16=half,
            channels=model.in_channels,
            keypoint_shape=model.keypoint_shape,
            keypoint_layout=model.keypoint_layout,
        )

    @classmethod
    def from_path(cls, path: Path, *, device: torch.device, fp16: bool = False) -> TorchBackend:
        """Load a checkpoint of any accepted kind (see ``engine.checkpoints.load_model``)."""
        model, _ = load_model(path)
        return cls(model, device=device, fp16=fp16, source=path)

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        dtype = torch.float16 if self.fp16 else torch.float32
        with torch.inference_mode():
            outputs = self.model(images.to(self.device, dtype))
        tensors = outputs if isinstance(outputs, tuple | list) else (outputs,)
        return tuple(t.float() for t in tensors)
