"""``YOLO``: the seed-compatible facade, one constructor for the two kinds of model.

``YOLO('yolov8n-seg.yaml')`` and ``YOLO('best.pt')`` give a ``TrainableModel`` (trainable.py),
``YOLO('best.onnx')`` (any export, or the ExportResult ``export()`` returns) an
``ExportedModel`` (exported.py). Both are ``YOLO``s: what they share, predict and val, is here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cancel import NEVER, CancelToken
from ..errors import ModelConfigError
from ..events import Reporter
from ..tasks import Task, find_task, task_for
from .prediction_files import result_sink

if TYPE_CHECKING:
    import torch

    from ..backends.base import Backend

_DEFAULT_SOURCE = "yolov8n.pt"


class YOLO:
    """A model to predict and validate with; ``YOLO(source)`` is the one constructor.

    ``source`` is a model yaml (``yolov8n-seg.yaml``: a new model), a checkpoint (``best.pt``,
    ours or official; an official name is downloaded) or an export (``best.onnx``,
    ``best_openvino_model/`` ..., or an ExportResult). ``YOLO(source)`` returns the kind that
    holds it: a ``TrainableModel`` (train, val, predict, export, info, fuse, load, save) or an
    ``ExportedModel`` (predict and val through its runtime; the rest raise ModelConfigError
    saying to use the .pt). ``task`` checks the model's task. ``num_classes``,
    ``keypoint_shape`` and ``in_channels`` shape a model built from a yaml; ``isolated`` runs an
    export's runtime in a child process (its crash becomes an error). ``progress`` receives the
    engine's events (a terminal progress bar by default).
    """

    checkpoint_path: Path | None
    """The file the model was loaded from (None for a model built from a yaml)."""
    checkpoint_meta: dict[str, Any]
    """What that file says of its training (``train_args``, ``metrics`` ...)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> YOLO:
        if cls is not YOLO:  # a kind named directly, or a copy being made
            return super().__new__(cls)
        source = args[0] if args else kwargs.get("model", _DEFAULT_SOURCE)
        return super().__new__(_kind_for(str(source)))

    def __init__(
        self,
        model: str | os.PathLike = _DEFAULT_SOURCE,
        task: str | None = None,
        *,
        num_classes: int | None = None,
        keypoint_shape: tuple[int, int] | None = None,
        in_channels: int | None = None,
        progress: Reporter | None = None,
        isolated: bool = False,
    ) -> None:
        self._progress = _default_reporter() if progress is None else progress
        self.checkpoint_path = None
        self.checkpoint_meta = {}
        source = str(model)
        self.source_stem = Path(source).stem
        self._open(source, num_classes=num_classes, keypoint_shape=keypoint_shape,
                   in_channels=in_channels, isolated=isolated)
        if task is not None and task != self.task:
            raise ModelConfigError(
                f"is a {self.task} model, but task={task} was asked for", path=source
            )

    # --- what each kind provides ----------------------------------------------------------

    def _open(self, source: str, *, num_classes: int | None,
              keypoint_shape: tuple[int, int] | None, in_channels: int | None,
              isolated: bool) -> None:
        """Load or build what ``source`` holds (the constructor's arguments, checked)."""
        raise NotImplementedError

    @property
    def task(self) -> str:
        """``classify``, ``detect``, ``segment`` or ``pose``."""
        raise NotImplementedError

    @property
    def names(self) -> dict[int, str]:
        """Class index -> name."""
        raise NotImplementedError

    def backend(self, device=None) -> Backend:
        """The inference backend that predicts with this model."""
        raise NotImplementedError

    def _forward(self, task: Task, device: torch.device):
        """The validator's forward on ``device``, in the form the ``task``'s validation takes."""
        raise NotImplementedError

    def _predict_backend(self, settings, imgsz: int, progress: Reporter,
                         cancel: CancelToken) -> Backend:
        """The backend ``predict`` runs with ``settings`` (its ``runtime`` and ``device``)."""
        return self.backend(settings.device)

    def _val_forward(self, task: Task, settings, imgsz: int, progress: Reporter,
                     cancel: CancelToken):
        """The validator's forward for ``settings`` (its ``runtime`` and ``device``)."""
        from ..devices import select_device

        return self._forward(task, select_device(settings.device))

    # --- settings ---------------------------------------------------------------------------

    def _settings(self, mode: str, overrides: dict[str, Any], inherit: tuple[str, ...] = ()):
        """Settings for ``mode``: defaults, then what the checkpoint remembers (``inherit``
        keys), then the caller's keyword arguments (validated: unknown keys are errors)."""
        from ..config import validate_settings

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

    def _task(self, doing: str) -> Task:
        """This model's task from the registry (an unknown one names the file)."""
        return task_for(self.task, doing, path=self.checkpoint_path or self.source_stem)

    # --- modes both kinds run ---------------------------------------------------------------

    def val(
        self, *, progress: Reporter | None = None, cancel: CancelToken | None = None, **kwargs
    ):
        """Score the model on ``data=`` (default: the data it was trained on); returns the
        task's metrics (``.top1``, ``.top5`` for classification)."""
        from ..devices import select_device

        settings = self._settings("val", kwargs, inherit=("data", "imgsz", "batch"))
        task = self._task("validating")
        device = select_device(settings.device)
        imgsz = one_size(settings.imgsz)
        reporter = self._progress if progress is None else progress
        validation, save_dir = task.validate(
            self._val_forward(task, settings, imgsz, reporter, cancel or NEVER),
            self.names,
            settings,
            imgsz,
            device=device,
            progress=reporter,
            cancel=NEVER if cancel is None else cancel,
        )
        metrics = validation.details
        metrics.save_dir = save_dir
        return metrics

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
        from ..predict.predictor import Predictor
        from ..predict.task_steps import DetectOptions
        from ..runs.run_dir import run_dir

        if source is not None:
            kwargs["source"] = str(source) if isinstance(source, Path) else source
        raw_source = kwargs.pop("source", None)
        settings = self._settings("predict", kwargs, inherit=("imgsz",))
        task = self._task("predicting with")
        if raw_source is None:
            raise ModelConfigError("nothing to predict: pass source=<image, folder, video, URL "
                                   "or camera index>", key="source")
        save_dir = None
        save_images = settings.save and "save" in kwargs
        if save_images or settings.save_txt:
            save_dir = run_dir(self.task, "predict", project=settings.project,
                               name=settings.name, exist_ok=settings.exist_ok)
        imgsz, reporter = one_size(settings.imgsz), self._progress if progress is None else progress
        backend = self._predict_backend(settings, imgsz, reporter, cancel or NEVER)
        predictor = Predictor(
            backend, task.steps(backend, imgsz, DetectOptions.from_settings(settings)),
            imgsz=imgsz,
            batch=int(settings.batch) if "batch" in kwargs else 1,
            vid_stride=settings.vid_stride, save_dir=save_dir,
            progress=reporter,
            cancel=NEVER if cancel is None else cancel,
            on_result=result_sink(save_dir, print_results, images=save_images,
                                  labels=settings.save_txt, confidences=settings.save_conf),
        )
        generator = predictor.stream(raw_source)
        return generator if stream else list(generator)

    __call__ = predict


def _kind_for(source: str) -> type[YOLO]:
    """The kind of model ``source`` is: trainable (a yaml or a .pt) or exported."""
    from .exported import ExportedModel
    from .trainable import TrainableModel

    for kind in (TrainableModel, ExportedModel):
        if kind.opens(source):
            return kind
    raise ModelConfigError(
        "expected a model yaml (yolov8n-seg.yaml), a checkpoint (.pt) or an export "
        "(.onnx, .torchscript, best_openvino_model/ ...: see `yolo export`)",
        path=source,
    )


def one_size(imgsz: int | list[int]) -> int:
    """One side for ``imgsz`` (the longer of two)."""
    return int(max(imgsz) if isinstance(imgsz, list) else imgsz)


def _default_reporter() -> Reporter:
    from ..reporting import TerminalReporter

    return TerminalReporter()
