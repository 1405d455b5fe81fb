"""``ExportedModel``: an export (``best.onnx``, ``best_openvino_model/`` ...) run by its runtime.

It predicts and validates like the model it was exported from. Training, exporting, showing
layers, fusing and reading or writing weights need that model: those methods raise a
ModelConfigError that names the file and says to use the ``.pt``. ``YOLO('best.onnx')``
returns one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NoReturn

import torch

from ..errors import ModelConfigError
from ..events import Reporter
from ..events import Warning as EngineWarning
from ..tasks import Task
from .facade import YOLO

log = logging.getLogger(__name__)


class ExportedModel(YOLO):
    """An export and the backend that runs it (``exported``); ``checkpoint_path`` is the
    export's file or folder."""

    model = None
    """No PyTorch model: an export is a program for its runtime (``exported``)."""

    @classmethod
    def opens(cls, source: str) -> bool:
        """True for a file or folder of an export format (see ``yolo export``)."""
        from ..backends.loading import is_export

        return is_export(source)

    def _open(self, source: str, *, num_classes: int | None,
              keypoint_shape: tuple[int, int] | None, in_channels: int | None,
              isolated: bool) -> None:
        from ..backends import load_backend

        if not self.opens(source):
            raise ModelConfigError(
                "is not an export (.onnx, .torchscript, best_openvino_model/ ...: see `yolo "
                "export`); YOLO(path) opens a model yaml or a .pt checkpoint",
                path=source,
            )
        # num_classes, keypoint_shape and in_channels shape a new model: an export has its own
        self.exported = load_backend(source, device="cpu", isolated=isolated)
        _warn_if_foreign(self.exported, self._progress)
        self.checkpoint_path = Path(source)
        self.checkpoint_meta = {"train_args": {"imgsz": _export_size(self.exported)}}

    @property
    def task(self) -> str:
        return self.exported.task

    @property
    def names(self) -> dict[int, str]:
        return self.exported.names

    def __repr__(self) -> str:
        path = self.checkpoint_path.name if self.checkpoint_path else "?"
        return f"YOLO(task={self.task!r}, classes={len(self.names)}, export={path!r})"

    # --- what predict and val run -------------------------------------------------------------

    def backend(self, device=None):
        """The export's backend (its runtime picked the device when it was loaded)."""
        return self.exported

    def _forward(self, task: Task, device):
        return backend_forward(task, self.exported)

    @property
    def runtime(self) -> str:
        """What runs this export: ``OpenVINO``, ``ONNX Runtime``, ``TorchScript`` ..."""
        from .runtime_cache import runtime_title

        return runtime_title(self.exported)

    def _predict_backend(self, settings, imgsz, progress, cancel):
        self._check_runtime(settings.runtime)
        return self.exported

    def _val_forward(self, task: Task, settings, imgsz, progress, cancel):
        self._check_runtime(settings.runtime)
        return self._forward(task, None)

    def _check_runtime(self, runtime: str) -> None:
        """``runtime=`` other than auto names the runtime of a .pt: an export has its own."""
        from .runtime_cache import RUNTIMES

        own = RUNTIMES.get(runtime)
        if runtime == "auto" or (own is not None and self.runtime.startswith(own.title)):
            return
        raise ModelConfigError(
            f"is an export that runs on {self.runtime}; runtime={runtime} chooses what runs a "
            ".pt checkpoint. Leave runtime out, or predict with the .pt it was exported from",
            path=self.checkpoint_path, key="runtime",
        )

    # --- what only the model it came from can do ----------------------------------------------

    def _cannot(self, action: str) -> NoReturn:
        raise ModelConfigError(
            f"is an exported model: it can predict and val, but not {action}. Use the .pt "
            "checkpoint it was exported from",
            path=self.checkpoint_path,
        )

    def train(self, **_kwargs: Any) -> NoReturn:
        """An export does not train: use the .pt it was exported from."""
        self._cannot("train")

    def export(self, **_kwargs: Any) -> NoReturn:
        """An export is not exported again: export the .pt it was exported from."""
        self._cannot("export")

    def info(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        """An export's layers are its runtime's: the .pt shows the model's."""
        self._cannot("show its layers")

    def fuse(self) -> NoReturn:
        """An export is already fused."""
        self._cannot("fuse")

    def load(self, weights: str | Path) -> NoReturn:
        """An export's weights are fixed: load weights into the .pt's model."""
        self._cannot("load weights")

    def save(self, path: str | Path, *, half: bool = False) -> NoReturn:
        """An export is not a checkpoint."""
        self._cannot("be saved as a checkpoint")

    def forward(self, images: torch.Tensor) -> NoReturn:
        """The PyTorch model's forward; an export's is ``backend().forward(images)``."""
        self._cannot("run the PyTorch model's forward() (backend().forward runs the export)")


def backend_forward(task: Task, backend):
    """``backend``'s forward in the form the ``task``'s validation takes, on the images'
    device."""

    def forward(images: torch.Tensor):
        outputs = backend.forward(images.to(backend.device))
        if isinstance(outputs, torch.Tensor):  # classify, detect and pose: one output
            return outputs.to(images.device)
        return tuple(o.to(images.device) for o in outputs)

    return task.val_forward(forward)


_WARNED_FOREIGN: set[str] = set()


def _warn_if_foreign(backend, progress: Reporter) -> None:
    """Say once per file that an export written elsewhere is a program, not only weights."""
    from ..formats.export_metadata import AUTHOR

    if backend.author == AUTHOR or backend.source in _WARNED_FOREIGN:
        return
    _WARNED_FOREIGN.add(backend.source)
    who = f"its metadata names '{backend.author}'" if backend.author else "it names no author"
    message = (f"{backend.source} was not exported by YOLO Studio ({who}). An exported model is "
               "a program its runtime executes and can run code, unlike a .pt checkpoint, "
               "which is only weights: run exports only from sources you trust")
    log.warning("%s", message)
    progress(EngineWarning(message, path=backend.source))


def _export_size(backend) -> int:
    return int(max(backend.imgsz)) if backend.imgsz else 224
