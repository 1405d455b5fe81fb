"""Prediction: frames from any source, batched through a backend, as ``Results``.

Classification preprocessing is one crop and one resize per frame (centre square of the short
side, straight to ``imgsz``), then BGR→RGB and scaling in a single tensor op; it is the same
transform validation uses, so predictions and val metrics agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from ..backends.base import Backend
from ..cancel import NEVER, CancelToken
from ..data.classify_augment import center_crop_resize
from ..data.loader import to_tensor
from ..errors import EngineError
from ..events import Reporter, RunStarted, StepEnd, Warning, ignore, reported_run
from .results import Probs, Results
from .sources import Frame, iter_batches, open_source


class Predictor:
    """Runs ``backend`` on ``source``; iterate :meth:`stream` for one ``Results`` per frame."""

    def __init__(
        self,
        backend: Backend,
        *,
        imgsz: int,
        batch: int = 1,
        vid_stride: int = 1,
        save_dir: Path | None = None,
        progress: Reporter = ignore,
        cancel: CancelToken = NEVER,
        on_result: Callable[[Results], None] | None = None,
    ) -> None:
        if backend.task != "classify":
            raise EngineError(f"is a {backend.task} model; predicting with {backend.task} "
                              "models is not available in this engine yet (classification is)",
                              path=backend.source)
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
            with open_source(source, vid_stride=self.vid_stride, cancel=self.cancel,
                             on_warning=self._warn) as frames:
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
                            self.on_result(result)
                        yield result
                    self.progress(StepEnd("predict", 0, 0, count, frames.total or 0,
                                          images_per_s=rate))
            record.results = {"images": float(count)}

    def _warm_up(self) -> None:
        warmed = self.backend.__dict__.setdefault("warmed_sizes", set())
        if self.imgsz not in warmed:  # once per backend and size, not per call
            self.backend.warmup(self.imgsz)
            warmed.add(self.imgsz)

    @torch.inference_mode()
    def _predict_batch(self, frames: list[Frame]) -> list[Results]:
        t0 = time.perf_counter()
        images = to_tensor([center_crop_resize(f.image, self.imgsz) for f in frames])
        images = images.to(self.backend.device)
        t1 = time.perf_counter()
        probs = self.backend.forward(images)
        if isinstance(probs, tuple):
            probs = probs[0]
        probs = probs.float().cpu()
        t2 = time.perf_counter()
        n = len(frames)
        results = [
            Results(f.image, f.path, self.backend.names, Probs(probs[i]), frame=f.frame)
            for i, f in enumerate(frames)
        ]
        t3 = time.perf_counter()
        speed = {"preprocess": (t1 - t0) * 1000 / n, "inference": (t2 - t1) * 1000 / n,
                 "postprocess": (t3 - t2) * 1000 / n}
        for result in results:
            result.speed = dict(speed)
        return results
