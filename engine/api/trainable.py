"""``TrainableModel``: a PyTorch model, built from a yaml or loaded from a ``.pt`` checkpoint.

It does everything the facade offers: train, val, predict, export, and show (``info``), fuse,
transfer (``load``) and save its weights. ``YOLO('best.pt')`` returns one.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..cancel import NEVER, CancelToken
from ..checkpoints import (
    checkpoint_dict,
    load_model,
    read_weights,
    save_checkpoint,
    transfer_matching,
)
from ..errors import EngineError, ExportCheckFailed, ModelConfigError
from ..events import Reporter
from ..nn import TaskModel, build_model
from ..nn.summary import ModelSummary, summarize
from ..runs.train_result import TrainResult
from ..tasks import Task, find_task, task_for
from ..weights import resolve_weights
from .facade import YOLO
from .runtime_cache import runtime_title

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..export.result import ExportResult

log = logging.getLogger(__name__)

_YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class TransferReport:
    """How many of the model's tensors ``load()`` filled from a weights file."""

    source: str
    transferred: int
    total: int
    skipped: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"Transferred {self.transferred}/{self.total} items from {self.source}"


class TrainableModel(YOLO):
    """A PyTorch model (``model``: a TaskModel) plus what it needs to train, validate, predict
    and export. ``checkpoint_path`` is the ``.pt`` it came from (None when built from a yaml);
    after ``train()`` it is the run's best weights."""

    exported = None
    """No export here (an ``ExportedModel`` holds its runtime's backend as ``exported``)."""

    @classmethod
    def opens(cls, source: str) -> bool:
        """True for a model yaml or a ``.pt`` checkpoint."""
        return Path(source).suffix.lower() in (*_YAML_SUFFIXES, ".pt")

    def _open(self, source: str, *, num_classes: int | None,
              keypoint_shape: tuple[int, int] | None, in_channels: int | None,
              isolated: bool) -> None:
        self.transfer_report: TransferReport | None = None
        self._backend = None  # the PyTorch backend predict uses, cached per device
        self._isolated = isolated  # run the fast path's runtime in a child (runtime_cache.py)
        self._fast: dict[tuple[str, int], Backend | None] = {}  # (runtime, imgsz) -> backend
        self._saved_weights: SavedWeights | None = None  # the checkpoint's, as loaded
        self.runtime = "PyTorch"
        """What ran the last predict or val: ``PyTorch``, ``OpenVINO`` or ``ONNX Runtime``."""
        suffix = Path(source).suffix.lower()
        if suffix in _YAML_SUFFIXES:
            self.model: TaskModel = build_model(
                source,
                num_classes=num_classes,
                keypoint_shape=keypoint_shape,
                in_channels=in_channels,
            )
        elif suffix == ".pt":
            path = resolve_weights(source, progress=self._progress)
            self.model, weights = load_model(path)
            self.checkpoint_path, self.checkpoint_meta = path, weights.metadata
            self._saved_weights = SavedWeights.of(self.model)
        else:
            raise ModelConfigError(
                "is not a model yaml or a .pt checkpoint; YOLO(path) opens an export, which "
                "predicts and validates",
                path=source,
            )

    @property
    def task(self) -> str:
        return self.model.task

    @property
    def names(self) -> dict[int, str]:
        return self.model.names

    def __repr__(self) -> str:
        params = self.model.num_parameters()
        return f"YOLO(task={self.task!r}, classes={len(self.names)}, params={params:,})"

    # --- weights ------------------------------------------------------------------------------

    def load(self, weights: str | Path) -> TrainableModel:
        """Copy every tensor whose name and shape match from ``weights`` into this model."""
        path = resolve_weights(weights, progress=self._progress)
        target = list(self.model.state_dict())
        matched = set(transfer_matching(self.model, read_weights(path).state_dict))
        skipped = tuple(k for k in target if k not in matched)
        self.transfer_report = TransferReport(str(weights), len(matched), len(target), skipped)
        log.info("%s", self.transfer_report)
        self._backend = None  # it runs a copy of the model: the next predict copies these weights
        self._saved_weights, self._fast = None, {}  # no longer the checkpoint's weights
        return self

    def info(
        self, detailed: bool = False, verbose: bool = True, imgsz: int | None = None
    ) -> ModelSummary:
        """Layer table, parameters, gradients and GFLOPs; printed when ``verbose``."""
        summary = summarize(self.model, imgsz)
        if verbose:
            # The one place the facade writes to stdout: info() is a request to show it.
            print(summary if detailed else str(summary).splitlines()[-1], file=sys.stdout)
        return summary

    def fuse(self) -> TrainableModel:
        """Fold batch norms into convolutions for faster inference."""
        unchanged = self._runs_checkpoint()
        self.model.eval().fuse()
        if unchanged:  # the same function: exports (which fuse) of the checkpoint still hold
            self._saved_weights = SavedWeights.of(self.model)
        return self

    def save(self, path: str | Path, *, half: bool = False) -> Path:
        """Write this model as a YOLO Studio checkpoint (atomically)."""
        meta = self.checkpoint_meta
        return save_checkpoint(
            path,
            checkpoint_dict(
                self.model,
                train_args=meta.get("train_args"),
                metrics=_float_metrics(meta),
                half=half,
            ),
        )

    @torch.no_grad()
    def forward(self, images: torch.Tensor):
        """Run the network on a float tensor ``[N, C, H, W]`` in 0..1 (eval mode)."""
        return self.model.eval()(images)

    # --- what predict and val run -------------------------------------------------------------

    def backend(self, device=None):
        """The PyTorch backend for this model on ``device`` (cached per device)."""
        from ..backends import load_backend
        from ..devices import select_device

        target = select_device(device)
        if self._backend is None or self._backend.device != target:
            self._backend = load_backend(self.model, device=target)
        return self._backend

    def _forward(self, task: Task, device):
        return task.val_forward(self.model.to(device).eval())

    def _predict_backend(self, settings, imgsz: int, progress: Reporter,
                         cancel: CancelToken) -> Backend:
        """The fast CPU path's backend when ``settings.runtime`` allows it and one passes its
        check (engine/api/runtime_cache.py), else the PyTorch backend."""
        from ..devices import select_device

        device = select_device(settings.device)
        backend = self._fast_backend(settings.runtime, device, imgsz, progress, cancel)
        backend = backend or self.backend(device)
        self.runtime = runtime_title(backend)
        return backend

    def _val_forward(self, task: Task, settings, imgsz: int, progress: Reporter,
                     cancel: CancelToken):
        """The fast CPU path's forward (chosen at the first batch, so that a val refused before
        any image costs no export), else the PyTorch model's."""
        from ..devices import select_device
        from .exported import backend_forward

        device = select_device(settings.device)
        if settings.runtime == "torch" or device.type != "cpu" or not self._runs_checkpoint():
            self.runtime = "PyTorch"
            return self._forward(task, device)
        chosen: list = []

        def forward(images: torch.Tensor):
            if not chosen:
                backend = self._fast_backend(settings.runtime, device, imgsz, progress, cancel)
                self.runtime = runtime_title(backend) if backend is not None else "PyTorch"
                chosen.append(self._forward(task, device) if backend is None
                              else backend_forward(task, backend))
            return chosen[0](images)

        return forward

    def _fast_backend(self, runtime: str, device, imgsz: int, progress: Reporter,
                      cancel: CancelToken) -> Backend | None:
        """The cached fast backend for ``runtime`` at ``imgsz``, made on first use; None for
        PyTorch (asked for, not on the CPU, or weights that are not the checkpoint's)."""
        from ..tasks import find_task
        from .fast_path import FastPath, choose_backend

        if runtime == "torch" or device.type != "cpu":
            return None
        if not self._runs_checkpoint():
            if runtime != "auto":
                log.warning("runtime=%s runs a checkpoint as saved; this model's weights were "
                            "built or changed in memory, so PyTorch runs them", runtime)
            return None
        task = find_task(self.task)
        if task is None:
            return None
        key = (runtime, int(imgsz))
        if key not in self._fast:
            path = FastPath(self.model, Path(self.checkpoint_path), self.task, task.parity(),
                            _imgsz_multiple(task, self.model), isolated=self._isolated,
                            progress=progress, cancel=cancel)
            self._fast[key] = choose_backend(path, runtime, imgsz)
        return self._fast[key]

    def _runs_checkpoint(self) -> bool:
        """Whether the model's weights are still those of the checkpoint it was loaded from
        (not loaded into, trained or changed in place since)."""
        return (self.checkpoint_path is not None and self._saved_weights is not None
                and self._saved_weights.unchanged())

    def _settings(self, mode: str, overrides: dict[str, Any], inherit: tuple[str, ...] = ()):
        if mode in ("predict", "val") and "runtime" not in overrides:
            from .runtime_cache import default_runtime

            chosen = default_runtime()  # $YOLO_STUDIO_RUNTIME
            overrides = overrides if chosen is None else {**overrides, "runtime": chosen}
        return super()._settings(mode, overrides, inherit)

    # --- train and export -----------------------------------------------------------------

    def train(
        self, *, progress: Reporter | None = None, cancel: CancelToken | None = None, **kwargs
    ) -> TrainResult:
        """Train on ``data=`` (see ``yolo settings`` for every key); afterwards this object
        holds the best weights, and ``val()`` with no arguments scores them on the same data.

        ``device=[0, 1]`` (or ``"0,1"``) trains in one process per GPU (DDP; ``batch`` is the
        total); the events still reach ``progress`` and ``cancel`` stops every process."""
        settings = self._settings("train", kwargs)
        reporter = self._progress if progress is None else progress
        token = NEVER if cancel is None else cancel
        processes = self._processes(settings)
        if processes > 1:  # one process per device (engine/api/ddp_worker.py)
            from .ddp_worker import train_in_processes

            result = train_in_processes(self, settings, processes, progress=reporter,
                                        cancel=token)
        else:
            result = train_model(self.model, settings, checkpoint=self.checkpoint_path,
                                 progress=reporter, cancel=token)
        best = result.best or result.last
        self._saved_weights, self._fast = None, {}
        if best is not None and best.exists():
            self.model, weights = load_model(best)
            self.checkpoint_path, self.checkpoint_meta = best, weights.metadata
            self._saved_weights = SavedWeights.of(self.model)
        self._backend = None  # predict runs a copy of the model it had: copy the trained one
        return result

    def _processes(self, settings) -> int:
        """How many processes the run trains in: one per GPU of ``device=0,1``, else 1 (also
        inside a rank of a distributed run, which trains as itself)."""
        from ..devices import parse_devices
        from ..process.launch import in_distributed_run, processes_for

        if in_distributed_run():
            return 1
        return processes_for(parse_devices(self._run_device(settings)))

    def _run_device(self, settings):
        """The device the run uses: ``device=``, or for a resume without one the interrupted
        run's (resumed runs keep their settings, engine/train/entry.py)."""
        if not settings.resume or "device" in settings.model_fields_set:
            return settings.device
        from ..train.entry import resume_source

        source = resume_source(settings, self.checkpoint_path)
        if self.checkpoint_path is not None and Path(source) == Path(self.checkpoint_path):
            meta = self.checkpoint_meta
        else:
            meta = read_weights(source).metadata
        return (meta.get("train_args") or {}).get("device", settings.device)

    def export(self, *, progress: Reporter | None = None, cancel: CancelToken | None = None,
               **kwargs) -> ExportResult:
        """Export to ``format=`` (see ``engine.export.EXPORT_FORMATS``), run the export beside
        this model and compare them (the parity gate); returns the ExportResult (path-like).

        ``data=`` (by default the dataset the model was trained on) gives the images for int8
        calibration and the check. Raises ExportCheckFailed, with the figures, when the export
        does not match the model; its files are kept for inspection.
        """
        from ..export import check_imgsz, export_model, get_exporter, option_values

        model = self.model
        settings = self._settings("export", kwargs, inherit=("imgsz", "data"))
        output = self.checkpoint_path or Path(f"{self.source_stem}.pt")
        task = find_task(model.task)  # None: a model of a task without a module (its head's)
        multiple = _imgsz_multiple(task, model)
        size, _ = check_imgsz(settings.imgsz, multiple=multiple)
        exporter = get_exporter(settings.format)
        calibrates = settings.int8 or getattr(exporter, "calibrates", False)  # Edge TPU: int8
        samples = self._export_samples(task, settings, size, required=bool(calibrates))
        result = export_model(
            model, settings.format, output=output, imgsz=settings.imgsz,
            batch=int(settings.batch) if "batch" in kwargs else 1,
            samples=samples, metadata={"names": dict(model.names)},
            parity=task.parity() if task is not None else None, imgsz_multiple=multiple,
            progress=self._progress if progress is None else progress,
            cancel=NEVER if cancel is None else cancel,
            **option_values(settings),
        )
        if settings.data and samples:
            result = replace(result, data=str(settings.data))
        if not result.passed:
            raise ExportCheckFailed(result.report(), path=result.path, result=result)
        return result

    def _export_samples(self, task: Task | None, settings, imgsz: tuple[int, int], *,
                        required: bool) -> list:
        """Images of ``data``, found and prepared as the ``task`` does, for calibration and the
        check; without int8 an unreadable dataset only means the check runs on generated
        inputs (logged)."""
        from ..export import dataset_samples

        if not settings.data:
            return []
        try:
            if task is None:
                task = task_for(self.task, "calibrating", path=self.checkpoint_path)
            return dataset_samples(settings.data, task.samples(), imgsz)
        except EngineError as exc:
            if required:
                raise
            log.warning("export check without dataset images: %s", exc)
            return []


def train_model(model: TaskModel, settings, *, checkpoint: Path | None, progress: Reporter,
                cancel: CancelToken) -> TrainResult:
    """Train ``model`` in this process (one rank of a distributed run trains this way too):
    a new run, or with ``resume`` the run ``checkpoint`` belongs to."""
    from ..train.entry import start_training

    def hooks_for(task: str, path: Path | None):
        return task_for(task, "training", path=path).hooks(progress)

    return start_training(model, settings, hooks_for=hooks_for, checkpoint=checkpoint,
                          progress=progress, cancel=cancel)


def _imgsz_multiple(task: Task | None, model: TaskModel) -> int:
    """What the export's sides are rounded up to a multiple of: 1 for a task whose models take
    any size, else the model's largest stride (no task module: the model's head decides)."""
    from ..export.run import default_imgsz_multiple

    if task is None:
        return default_imgsz_multiple(model)
    return 1 if task.any_imgsz else max(int(s) for s in model.strides)


@dataclass(frozen=True)
class SavedWeights:
    """A model's tensors as loaded, and where each lived and how often it had been changed in
    place: ``unchanged()`` as long as they are (cheap: no tensor is read, no module walked)."""

    tensors: tuple[torch.Tensor, ...]
    state: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, model: TaskModel) -> SavedWeights:
        tensors = (*model.parameters(), *model.buffers())
        return cls(tensors, _state(tensors))

    def unchanged(self) -> bool:
        return _state(self.tensors) == self.state


def _state(tensors: tuple[torch.Tensor, ...]) -> tuple[tuple[int, int], ...]:
    return tuple((t.data_ptr(), t._version) for t in tensors)


def _float_metrics(meta: dict[str, Any]) -> dict[str, float]:
    metrics = meta.get("metrics") or meta.get("train_metrics") or {}
    return {str(k): float(v) for k, v in metrics.items() if isinstance(v, int | float)}
