"""Prediction: frames from any source, batched through a backend, as ``Results``.

What differs by task (how frames become a batch, how outputs become ``Results``) is the
``steps`` object the caller passes: the task's own (:mod:`engine.predict.task_steps`, chosen
through the task registry, engine/tasks/).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import torch

from ..backends.base import Backend
from ..cancel import NEVER, CancelToken
from ..events import Reporter, RunStarted, StepEnd, Warning, ignore, reported_run
from ..utils.atomic import DiskFullError, disk_full_cause, disk_full_target
from .results import Results
from .sources import Frame, iter_batches, open_source


class Steps(Protocol):
    """A task's prediction steps: frames to a batch, and outputs to ``Results``."""

    def preprocess(self, frames: list[Frame]) -> tuple[torch.Tensor, Any]: ...

    def postprocess(self, outputs: Any, frames: list[Frame], context: Any) -> list[Results]: ...


class Predictor:
    """Runs ``backend`` on ``source`` with the task's ``steps``; iterate :meth:`stream` for one
    ``Results`` per frame."""

    def __init__(
        self,
        backend: Backend,
        steps: Steps,
        *,
        imgsz: int,
        batch: int = 1,
        vid_stride: int = 1,
        save_dir: Path | None = None,
        progress: Reporter = ignore,
        cancel: CancelToken = NEVER,
        on_result: Callable[[Results], None] | None = None,
    ) -> None:
        self.steps = steps
        self.backend = backend
        self.imgsz = imgsz
        self.batch = max(int(batch), 1)
        self.vid_stride = vid_stride
        self.save_dir = save_dir
        self.progress = progress
        self.cancel = cancel
        self.on_result = on_result

    def _warn(self, message: str, path: str | None = None) -> None:
        self.progress(Warning(message, path))

    def stream(self, source) -> Iterator[Results]:
        """One ``Results`` per image or video frame, produced lazily.

        Ends with one ``RunFinished`` event: completed, cancelled (the token, or the consumer
        closing the generator early) or failed.
        """
        count = 0
        save_dir = str(self.save_dir) if self.save_dir else None
        with reported_run("predict", self.progress) as record:
            record.save_dir = save_dir
            with open_source(
                source, vid_stride=self.vid_stride, cancel=self.cancel, on_warning=self._warn
            ) as frames:
                self.progress(RunStarted("predict", self.backend.task, save_dir, frames.total))
                self._warm_up()
                for group in iter_batches(frames, self.batch):
                    self.cancel.raise_if_cancelled()
                    started = time.perf_counter()
                    results = self._predict_batch(group)
                    rate = len(results) / max(time.perf_counter() - started, 1e-9)
                    for result in results:
                        count += 1
                        if self.on_result is not None:
                            self._deliver(result, count)
                        yield result
                    self.progress(
                        StepEnd("predict", 0, 0, count, frames.total or 0, images_per_s=rate)
                    )
            record.results = {"images": float(count)}

    def _deliver(self, result: Results, number: int) -> None:
        """Hand ``result`` to ``on_result`` (which saves it); a full disk says what was saved."""
        try:
            self.on_result(result)
        except Exception as exc:
            if disk_full_cause(exc) is None:
                raise
            saved, target = number - 1, disk_full_target(exc)
            what = target.name if target is not None else "a result"
            raise DiskFullError(
                f"the disk is full: {what} could not be saved. The results of {saved} "
                f"image(s) before it are saved here, complete; those of image {number} "
                f"({result.path}) and after are not. Free some space and predict again",
                path=self.save_dir or (target.parent if target else None),
                target=target,
            ) from exc

    def _warm_up(self) -> None:
        warmed = self.backend.__dict__.setdefault("warmed_sizes", set())
        if self.imgsz not in warmed:  # once per backend and size, not per call
            self.backend.warmup(self.imgsz)
            warmed.add(self.imgsz)

    @torch.inference_mode()
    def _predict_batch(self, frames: list[Frame]) -> list[Results]:
        t0 = time.perf_counter()
        images, context = self.steps.preprocess(frames)
        images = images.to(self.backend.device)
        t1 = time.perf_counter()
        outputs = self.backend.forward(images)
        t2 = time.perf_counter()
        results = self.steps.postprocess(outputs, frames, context)
        t3 = time.perf_counter()
        n = len(frames)
        speed = {
            "preprocess": (t1 - t0) * 1000 / n,
            "inference": (t2 - t1) * 1000 / n,
            "postprocess": (t3 - t2) * 1000 / n,
        }
        for result in results:
            result.speed = dict(speed)
        return results
