"""``YOLO``: the seed-compatible facade. ``YOLO('yolov8n-seg.yaml')`` builds a new model,
``YOLO('best.pt')`` rebuilds a trained one (ours or official), ``.load()`` transfers weights."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .cancel import NEVER, CancelToken
from .checkpoints import cast_like, checkpoint_dict, load_model, read_weights, save_checkpoint
from .errors import ModelConfigError
from .events import Reporter
from .nn import TaskModel, build_model
from .nn.summary import ModelSummary, summarize
from .train.trainer import TrainResult
from .weights import resolve_weights

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
    """A model plus what it needs to train, predict and export (those arrive in later modes)."""

    def __init__(
        self,
        model: str | Path = "yolov8n.pt",
        task: str | None = None,
        *,
        num_classes: int | None = None,
        keypoint_shape: tuple[int, int] | None = None,
        in_channels: int | None = None,
        progress: Reporter | None = None,
    ) -> None:
        self._progress = progress or _default_reporter()
        self.checkpoint_path: Path | None = None
        self.checkpoint_meta: dict[str, Any] = {}
        self.transfer_report: TransferReport | None = None
        source = str(model)
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
        else:
            raise ModelConfigError(
                "expected a model yaml (yolov8n-seg.yaml) or a checkpoint (.pt)", path=source
            )
        if task is not None and task != self.model.task:
            raise ModelConfigError(
                f"is a {self.model.task} model, but task={task} was asked for", path=source
            )

    @property
    def task(self) -> str:
        return self.model.task

    @property
    def names(self) -> dict[int, str]:
        return self.model.names

    def load(self, weights: str | Path) -> YOLO:
        """Copy every tensor whose name and shape match from ``weights`` into this model."""
        path = resolve_weights(weights, progress=self._progress)
        source = read_weights(path)
        target = self.model.state_dict()
        matched = {
            k: v for k, v in source.state_dict.items() if k in target and v.shape == target[k].shape
        }
        self.model.load_state_dict(cast_like(matched, target), strict=False)
        skipped = tuple(k for k in target if k not in matched)
        self.transfer_report = TransferReport(str(weights), len(matched), len(target), skipped)
        log.info("%s", self.transfer_report)
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

    def fuse(self) -> YOLO:
        """Fold batch norms into convolutions for faster inference."""
        self.model.eval().fuse()
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

    def __repr__(self) -> str:
        params = self.model.num_parameters()
        return f"YOLO(task={self.task!r}, classes={len(self.names)}, params={params:,})"

    # --- modes -----------------------------------------------------------------------------

    def _settings(self, mode: str, overrides: dict[str, Any], inherit: tuple[str, ...] = ()):
        """Settings for ``mode``: defaults, then what the checkpoint remembers (``inherit``
        keys), then the caller's keyword arguments (validated: unknown keys are errors)."""
        from .config import validate_settings

        remembered = self.checkpoint_meta.get("train_args") or {}
        values = {k: remembered[k] for k in inherit if remembered.get(k) is not None}
        values.update(overrides)
        values.update(mode=mode, task=self.task)
        return validate_settings(values, source=f"{mode}()")

    def train(
        self, *, progress: Reporter | None = None, cancel: CancelToken | None = None, **kwargs
    ) -> TrainResult:
        """Train on ``data=`` (see ``yolo settings`` for every key); afterwards this object
        holds the best weights, and ``val()`` with no arguments scores them on the same data."""
        from .train.entry import start_training

        settings = self._settings("train", kwargs)
        result = start_training(
            self.model,
            settings,
            checkpoint=self.checkpoint_path,
            progress=progress or self._progress,
            cancel=cancel or NEVER,
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
        from .val.classify_run import run_classify_val
        from .val.classify_validator import model_forward

        settings = self._settings("val", kwargs, inherit=("data", "imgsz", "batch"))
        if self.task != "classify":
            raise ModelConfigError(f"validating {self.task} models is not available yet")
        device = select_device(settings.device)
        imgsz = _one_size(settings.imgsz)
        validation, save_dir = run_classify_val(
            model_forward(self.model.to(device)),
            self.names,
            settings,
            imgsz,
            device=device,
            progress=progress or self._progress,
            cancel=cancel or NEVER,
        )
        metrics = validation.details
        metrics.save_dir = save_dir
        return metrics

    @torch.no_grad()
    def forward(self, images: torch.Tensor):
        """Run the network on a float tensor ``[N, C, H, W]`` in 0..1 (eval mode)."""
        return self.model.eval()(images)


def _one_size(imgsz: int | list[int]) -> int:
    return int(max(imgsz) if isinstance(imgsz, list) else imgsz)


def _float_metrics(meta: dict[str, Any]) -> dict[str, float]:
    metrics = meta.get("metrics") or meta.get("train_metrics") or {}
    return {str(k): float(v) for k, v in metrics.items() if isinstance(v, int | float)}


def _default_reporter() -> Reporter:
    from .reporting import TerminalReporter

    return TerminalReporter()
