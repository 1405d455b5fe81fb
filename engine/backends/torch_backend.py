"""A PyTorch model (a TaskModel or a .pt checkpoint) as an inference backend."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..checkpoints import load_model
from ..export.run import prepare_model
from ..nn.model import TaskModel
from .base import Backend

log = logging.getLogger(__name__)


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
