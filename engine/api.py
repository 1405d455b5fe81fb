"""``YOLO``: the seed-compatible facade. ``YOLO('yolov8n-seg.yaml')`` builds a new model,
``YOLO('best.pt')`` rebuilds a trained one (ours or official), ``.load()`` transfers weights."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tqdm import tqdm

from .cancel import NEVER, CancelToken
from .checkpoints import (
    checkpoint_dict,
    load_model,
    read_weights,
    save_checkpoint,
    transfer_matching,
)
from .errors import EngineError, ExportCheckFailed, ModelConfigError
from .events import Reporter
from .events import Warning as EngineWarning
from .nn import TaskModel, build_model
from .nn.summary import ModelSummary, summarize
from .runs.train_result import TrainResult
from .tasks import Task, find_task, task_for
from .weights import resolve_weights

if TYPE_CHECKING:
    from .export.result import ExportResult

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


class YOLO:
    """A model plus what it needs to train, validate, predict and export.

    ``YOLO('best.onnx')`` / ``YOLO('best.torchscript')`` hold an exported model: those
    predict and validate; training, ``info`` and export need the ``.pt`` or ``.yaml``.
    """

    def __init__(
        self,
        model: str | Path = "yolov8n.pt",
        task: str | None = None,
        *,
        num_classes: int | None = None,
        keypoint_shape: tuple[int, int] | None = None,
        in_channels: int | None = None,
        progress: Reporter | None = None,
        isolated: bool = False,
    ) -> None:
        self._progress = _default_reporter() if progress is None else progress
        self.checkpoint_path: Path | None = None
        self.checkpoint_meta: dict[str, Any] = {}
        self.transfer_report: TransferReport | None = None
        self.exported = None  # a Backend, for .onnx / .torchscript files
        self._backend = None
        source = str(model)
        self.source_stem = Path(source).stem
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
        elif _is_export(source):
            from .backends import load_backend

            self.model = None  # type: ignore[assignment]
            self.exported = load_backend(source, device="cpu", isolated=isolated)
            _warn_if_foreign(self.exported, self._progress)
            self.checkpoint_path = Path(source)
            self.checkpoint_meta = {"train_args": {"imgsz": _export_size(self.exported)}}
        else:
            raise ModelConfigError(
                "expected a model yaml (yolov8n-seg.yaml), a checkpoint (.pt) or an export "
                "(.onnx, .torchscript, best_openvino_model/ ...: see `yolo export`)",
                path=source,
            )
        if task is not None and task != self.task:
            raise ModelConfigError(
                f"is a {self.task} model, but task={task} was asked for", path=source
            )

    @property
    def task(self) -> str:
        return self.exported.task if self.model is None else self.model.task

    @property
    def names(self) -> dict[int, str]:
        return self.exported.names if self.model is None else self.model.names

    def _require_model(self, action: str) -> TaskModel:
        if self.model is None:
            raise ModelConfigError(
                f"is an exported model: it can predict and val, but not {action}. Use the "
                ".pt checkpoint it was exported from",
                path=self.checkpoint_path,
            )
        return self.model

    def load(self, weights: str | Path) -> YOLO:
        """Copy every tensor whose name and shape match from ``weights`` into this model."""
        model = self._require_model("load weights")
        path = resolve_weights(weights, progress=self._progress)
        target = list(model.state_dict())
        matched = set(transfer_matching(model, read_weights(path).state_dict))
        skipped = tuple(k for k in target if k not in matched)
        self.transfer_report = TransferReport(str(weights), len(matched), len(target), skipped)
        log.info("%s", self.transfer_report)
        return self

    def info(
        self, detailed: bool = False, verbose: bool = True, imgsz: int | None = None
    ) -> ModelSummary:
        """Layer table, parameters, gradients and GFLOPs; printed when ``verbose``."""
        summary = summarize(self._require_model("show its layers"), imgsz)
        if verbose:
            # The one place the facade writes to stdout: info() is a request to show it.
            print(summary if detailed else str(summary).splitlines()[-1], file=sys.stdout)
        return summary

    def fuse(self) -> YOLO:
        """Fold batch norms into convolutions for faster inference."""
        self._require_model("fuse").eval().fuse()
        return self

    def save(self, path: str | Path, *, half: bool = False) -> Path:
        """Write this model as a YOLO Studio checkpoint (atomically)."""
        meta = self.checkpoint_meta
        return save_checkpoint(
            path,
            checkpoint_dict(
                self._require_model("be saved as a checkpoint"),
                train_args=meta.get("train_args"),
                metrics=_float_metrics(meta),
                half=half,
            ),
        )

    def __repr__(self) -> str:
        if self.model is None:
            path = self.checkpoint_path.name if self.checkpoint_path else "?"
            return f"YOLO(task={self.task!r}, classes={len(self.names)}, export={path!r})"
        params = self.model.num_parameters()
        return f"YOLO(task={self.task!r}, classes={len(self.names)}, params={params:,})"

    # --- modes -----------------------------------------------------------------------------

    def _settings(self, mode: str, overrides: dict[str, Any], inherit: tuple[str, ...] = ()):
        """Settings for ``mode``: defaults, then what the checkpoint remembers (``inherit``
        keys), then the caller's keyword arguments (validated: unknown keys are errors)."""
        from .config import validate_settings

        remembered = self.checkpoint_meta.get("train_args") or {}
        values = {k: remembered[k] for k in inherit if remembered.get(k) is not None}
        task = find_task(self.task)
        if "imgsz" in inherit and "imgsz" not in values and task is not None:
            values["imgsz"] = task.imgsz  # the task's own size (classifiers: 224, not 640)
        values.update(overrides)
        values.update(mode=mode, task=self.task)
        return validate_settings(values, source=f"{mode}()")

    def mode_settings(self, mode: str, overrides: dict[str, Any],
                      inherit: tuple[str, ...] = ()):
        """The Settings this model runs ``mode`` with (see ``_settings``); for the benchmark
        (engine/benchmark.py), which drives this facade from above."""
        return self._settings(mode, overrides, inherit)

    def train(
        self, *, progress: Reporter | None = None, cancel: CancelToken | None = None, **kwargs
    ) -> TrainResult:
        """Train on ``data=`` (see ``yolo settings`` for every key); afterwards this object
        holds the best weights, and ``val()`` with no arguments scores them on the same data."""
        from .train.entry import start_training

        model = self._require_model("train")
        settings = self._settings("train", kwargs)
        reporter = self._progress if progress is None else progress

        def hooks_for(task: str, checkpoint: Path | None):
            return task_for(task, "training", path=checkpoint).hooks(reporter)

        result = start_training(
            model,
            settings,
            hooks_for=hooks_for,
            checkpoint=self.checkpoint_path,
            progress=reporter,
            cancel=NEVER if cancel is None else cancel,
        )
        best = result.best or result.last
        if best is not None and best.exists():
            self.model, weights = load_model(best)
            self.checkpoint_path, self.checkpoint_meta = best, weights.metadata
        return result

    def val(
        self, *, progress: Reporter | None = None, cancel: CancelToken | None = None, **kwargs
    ):
        """Score the model on ``data=`` (default: the data it was trained on); returns the
        task's metrics (``.top1``, ``.top5`` for classification)."""
        from .devices import select_device

        settings = self._settings("val", kwargs, inherit=("data", "imgsz", "batch"))
        task = task_for(self.task, "validating", path=self.checkpoint_path or self.source_stem)
        device = select_device(settings.device)
        imgsz = _one_size(settings.imgsz)
        validation, save_dir = task.validate(
            self._forward(task, device),
            self.names,
            settings,
            imgsz,
            device=device,
            progress=self._progress if progress is None else progress,
            cancel=NEVER if cancel is None else cancel,
        )
        metrics = validation.details
        metrics.save_dir = save_dir
        return metrics

    def _forward(self, task: Task, device):
        """The validator's forward on ``device`` for any kind of model, in the form the
        ``task``'s validation takes (classify: probabilities and logits or None)."""
        if self.model is not None:
            return task.val_forward(self.model.to(device).eval())
        backend = self.exported

        def forward(images: torch.Tensor):
            outputs = backend.forward(images.to(backend.device))
            if isinstance(outputs, torch.Tensor):  # classify, detect and pose: one output
                return outputs.to(images.device)
            return tuple(o.to(images.device) for o in outputs)

        return task.val_forward(forward)

    def backend(self, device=None):
        """The inference backend for this model (cached per device)."""
        from .backends import load_backend
        from .devices import select_device

        if self.model is None:
            return self.exported
        target = select_device(device)
        if self._backend is None or self._backend.device != target:
            self._backend = load_backend(self.model, device=target)
        return self._backend

    def predict(
        self,
        source=None,
        *,
        stream: bool = False,
        progress: Reporter | None = None,
        cancel: CancelToken | None = None,
        print_results: bool = False,
        **kwargs,
    ):
        """Predict on ``source`` (file, folder, glob, video, URL, array, camera index, or a
        list of these). Returns a list of ``Results``, or a generator when ``stream=True``."""
        from .predict.predictor import Predictor
        from .predict.task_steps import DetectOptions
        from .runs.run_dir import run_dir

        if source is not None:
            kwargs["source"] = str(source) if isinstance(source, Path) else source
        raw_source = kwargs.pop("source", None)
        settings = self._settings("predict", kwargs, inherit=("imgsz",))
        task = task_for(self.task, "predicting with",
                        path=self.checkpoint_path or self.source_stem)
        if raw_source is None:
            raise ModelConfigError("nothing to predict: pass source=<image, folder, video, URL "
                                   "or camera index>", key="source")
        save_dir = None
        save_images = settings.save and "save" in kwargs
        if save_images or settings.save_txt:
            save_dir = run_dir(self.task, "predict", project=settings.project,
                               name=settings.name, exist_ok=settings.exist_ok)
        backend, imgsz = self.backend(settings.device), _one_size(settings.imgsz)
        predictor = Predictor(
            backend, task.steps(backend, imgsz, DetectOptions.from_settings(settings)),
            imgsz=imgsz,
            batch=int(settings.batch) if "batch" in kwargs else 1,
            vid_stride=settings.vid_stride, save_dir=save_dir,
            progress=self._progress if progress is None else progress,
            cancel=NEVER if cancel is None else cancel,
            on_result=_result_sink(save_dir, print_results, images=save_images,
                                   labels=settings.save_txt, confidences=settings.save_conf),
        )
        generator = predictor.stream(raw_source)
        return generator if stream else list(generator)

    __call__ = predict

    def export(self, *, progress: Reporter | None = None, cancel: CancelToken | None = None,
               **kwargs) -> ExportResult:
        """Export to ``format=`` (see ``engine.export.EXPORT_FORMATS``), run the export beside
        this model and compare them (the parity gate); returns the ExportResult (path-like).

        ``data=`` (by default the dataset the model was trained on) gives the images for int8
        calibration and the check. Raises ExportCheckFailed, with the figures, when the export
        does not match the model; its files are kept for inspection.
        """
        from .export import check_imgsz, export_model, get_exporter

        model = self._require_model("export")
        settings = self._settings("export", kwargs, inherit=("imgsz", "data"))
        output = self.checkpoint_path or Path(f"{self.source_stem}.pt")
        stride = max(int(s) for s in model.strides)
        size, _ = check_imgsz(settings.imgsz, stride=stride, task=model.task)
        exporter = get_exporter(settings.format)
        calibrates = settings.int8 or getattr(exporter, "calibrates", False)  # Edge TPU: int8
        task = find_task(model.task)  # None: a model of a task without a module (its head's rule)
        samples = self._export_samples(task, settings, size, required=bool(calibrates))
        result = export_model(
            model, settings.format, output=output, imgsz=settings.imgsz, batch=int(settings.batch)
            if "batch" in kwargs else 1, half=settings.half, dynamic=settings.dynamic,
            simplify=settings.simplify, opset=settings.opset, optimize=settings.optimize,
            int8=settings.int8, nms=settings.nms, keras=settings.keras,
            workspace=settings.workspace, samples=samples,
            metadata={"names": dict(model.names)},
            parity=task.parity() if task is not None else None,
            progress=self._progress if progress is None else progress,
            cancel=NEVER if cancel is None else cancel,
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
        from .export import dataset_samples

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

    @torch.no_grad()
    def forward(self, images: torch.Tensor):
        """Run the network on a float tensor ``[N, C, H, W]`` in 0..1 (eval mode)."""
        return self.model.eval()(images)


def _is_export(source: str) -> bool:
    from .backends.loading import is_export

    return is_export(source)


_WARNED_FOREIGN: set[str] = set()


def _warn_if_foreign(backend, progress: Reporter) -> None:
    """Say once per file that an export written elsewhere is a program, not only weights."""
    from .formats.export_metadata import AUTHOR

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


def _result_sink(save_dir: Path | None, print_results: bool, *, images: bool = True,
                 labels: bool = False, confidences: bool = False):
    """Save annotated images (``images``) and label files (``labels``, under ``labels/``)
    and/or print each result as it is made (the CLI's line per image)."""
    if save_dir is None and not print_results:
        return None
    counter = {"n": 0}
    used: set[str] = set()

    def sink(result) -> None:
        counter["n"] += 1
        if save_dir is not None:
            name = _saved_name(result, counter["n"], used)
            if images:
                result.save(save_dir / name)
            if labels:
                result.save_txt(save_dir / "labels" / f"{Path(name).stem}.txt",
                                save_conf=confidences)
        if print_results:
            h, w = result.orig_img.shape[:2]
            speed = sum(result.speed.values())
            # tqdm.write keeps the line above the CLI's progress bar instead of through it
            tqdm.write(f"{counter['n']} {result.path}: {w}x{h} {result.verbose()} {speed:.1f}ms",
                       file=sys.stdout)

    return sink


_SAVED_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _saved_name(result, number: int, used: set[str]) -> str:
    """The source's file name (video frames get ``_<frame>`` and a .jpg; other formats .jpg);
    a name already written in this run gets ``_2``, ``_3`` … rather than overwriting it."""
    source = Path(result.path)
    stem = source.stem or f"image{number}"
    frame = getattr(result, "frame", None)
    suffix = source.suffix.lower() if source.suffix.lower() in _SAVED_SUFFIXES else ".jpg"
    if frame is not None:
        stem, suffix = f"{stem}_{frame}", ".jpg"
    name, copy = f"{stem}{suffix}", 2
    while name in used:
        name, copy = f"{stem}_{copy}{suffix}", copy + 1
    used.add(name)
    return name


def _one_size(imgsz: int | list[int]) -> int:
    return int(max(imgsz) if isinstance(imgsz, list) else imgsz)


def _float_metrics(meta: dict[str, Any]) -> dict[str, float]:
    metrics = meta.get("metrics") or meta.get("train_metrics") or {}
    return {str(k): float(v) for k, v in metrics.items() if isinstance(v, int | float)}


def _default_reporter() -> Reporter:
    from .reporting import TerminalReporter

    return TerminalReporter()
