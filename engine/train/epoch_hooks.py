"""The run's policies as small hooks the loop calls at fixed points (detectron2's HookBase):
results.csv, checkpoints, early stopping, the time limit and the plots. Each can be built and
called alone; the loop knows none of them."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checkpoints import checkpoint_dict, save_checkpoint
from ..checkpoints.loading import finished_checkpoint, read_weights
from ..errors import EngineError
from ..events import CheckpointSaved, Reporter
from ..plot_worker import FigureJobs, PlotWorker
from ..runs.validation import Validation
from .checkpoint_writer import CheckpointWriter, Written
from .loop_progress import LoopProgress
from .run_files import write_results_csv
from .seeding import rng_state
from .setup import Setup
from .steps import check_finite_weights
from .task import TaskHooks

Warn = Callable[[str], None]


@dataclass(frozen=True)
class EpochOutcome:
    """A finished epoch (0-based), its results.csv row, and the progress after it."""

    epoch: int
    metrics: Mapping[str, float]
    is_best: bool
    progress: LoopProgress


class EpochHook:
    """A policy the loop calls at fixed points; each method does nothing unless overridden.

    ``before_train`` and ``after_epoch`` return True to stop the loop (every hook is still
    called). ``after_train`` runs when the epochs are over, before best.pt's final validation;
    ``after_final`` after it, with that validation (None when there was none). ``close``
    runs last in every run, finished, stopped or failed.
    """

    def before_train(self, progress: LoopProgress) -> bool:
        return False

    def before_step(self, epoch: int, step: int, batch: dict) -> None:
        return None

    def after_epoch(self, outcome: EpochOutcome) -> bool:
        return False

    def after_train(self, progress: LoopProgress) -> None:
        return None

    def after_final(self, validation: Validation | None) -> None:
        return None

    def close(self) -> None:
        """The run is over, however it ended: release what the hook holds."""
        return None


class ResultsCsv(EpochHook):
    """results.csv rewritten after each epoch with every row so far."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def after_epoch(self, outcome: EpochOutcome) -> bool:
        write_results_csv(self.path, outcome.progress.history)
        return False


class Checkpoints(EpochHook):
    """last.pt every epoch (with the training state a resume needs), best.pt when the epoch is
    the best, epoch<N>.pt every ``save_period`` epochs; at the end last.pt loses its training
    state (a finished run has nothing to resume).

    ``saved`` records the epoch (0-based) each file holds (None: last.pt of a finished run);
    the run's full-disk message says what was kept from it. The files are written in the
    background while the next epoch trains (checkpoint_writer.py); each is recorded and
    reported as saved once it is on disk, at the next epoch's end, the run's end or ``close``.
    """

    def __init__(self, weights_dir: Path, setup: Setup, train_args: dict[str, Any], *,
                 progress: LoopProgress, saved: dict[str, int | None], save_period: int = -1,
                 report: Reporter,
                 rng_by_rank: Callable[[], list[dict[str, Any]] | None] | None = None) -> None:
        """``rng_by_rank``: every rank's RNG at the epoch's end, in a distributed run (each
        resumes its own)."""
        self.weights_dir = weights_dir
        self.rng_by_rank = rng_by_rank
        self.setup = setup
        self.train_args = train_args
        self.saved = saved
        self.save_period = save_period
        self.report = report
        self._writer = CheckpointWriter()
        self._finished: dict[str, Any] | None = None  # the last epoch's, for after_train
        # A resumed run's files stay its own: best.pt from before the resume is the best until
        # an epoch beats it (entry.py has made it agree with last.pt).
        if progress.epoch >= 0:
            for name, epoch in (("last.pt", progress.epoch), ("best.pt", progress.best_epoch)):
                if (weights_dir / name).is_file():
                    saved[name] = epoch

    def after_epoch(self, outcome: EpochOutcome) -> bool:
        self._record(self._writer.finished(wait=True))  # the last epoch's: written meanwhile
        epoch, ema = outcome.epoch, self.setup.ema.ema
        check_finite_weights(ema, epoch, self.weights_dir.parent)
        checkpoint = self.checkpoint(outcome)
        self._finished = {k: v for k, v in checkpoint.items() if k != "train_state"}
        # last.pt first: a kill between the two saves leaves last.pt recording this epoch as
        # the best while holding its EMA, from which a resume rewrites best.pt (entry.py).
        self._writer.write(self.weights_dir / "last.pt", checkpoint, epoch=epoch)
        if outcome.is_best:
            checkpoint.pop("train_state")
            self._writer.write(self.weights_dir / "best.pt", checkpoint, epoch=epoch,
                               is_best=True)
        if self.save_period > 0 and (epoch + 1) % self.save_period == 0:
            self._writer.write(self.weights_dir / f"epoch{epoch + 1}.pt", checkpoint,
                               epoch=epoch, report=False)
        return False

    def checkpoint(self, outcome: EpochOutcome) -> dict[str, Any]:
        """last.pt's contents after ``outcome``: the EMA weights and the training state."""
        setup, progress = self.setup, outcome.progress
        train_state = {
            "model": {k: v.detach().cpu().clone() for k, v in setup.model.state_dict().items()},
            "optimizer": setup.optimizer.state_dict(),
            "ema": setup.ema.state_dict(),
            "scaler": setup.scaler.state_dict(),
            "rng": rng_state(),
            **progress.state(),
            "epochs": setup.schedule.epochs,
        }
        by_rank = self.rng_by_rank() if self.rng_by_rank is not None else None
        if by_rank:
            train_state["rng_by_rank"] = by_rank
        extra = {"best_fitness": progress.best_fitness, "imgsz": setup.imgsz,
                 "train_state": train_state}
        return checkpoint_dict(setup.ema.ema, train_args=self.train_args,
                               metrics=dict(outcome.metrics), epoch=outcome.epoch, extra=extra)

    def after_train(self, progress: LoopProgress) -> None:
        """last.pt without its training state (a finished run has nothing to resume): written
        in the background from the last epoch's checkpoint, waited for in ``after_final``."""
        self._record(self._writer.finished(wait=True))
        last = self.weights_dir / "last.pt"
        if "last.pt" not in self.saved or not last.exists():
            return
        if self._finished is not None and self.saved["last.pt"] == self._finished["epoch"]:
            self._writer.write(last, self._finished, epoch=self._finished["epoch"], report=False)
        else:  # no epoch trained in this process
            save_checkpoint(last, finished_checkpoint(read_weights(last)))
        self.saved["last.pt"] = None

    def after_final(self, validation: Validation | None) -> None:
        self._writer.finished(wait=True)  # last.pt of the finished run

    def close(self) -> None:
        """Wait for the writes handed over; record those that landed (a run that stopped or
        failed says what it kept)."""
        self._writer.close()
        self._record(self._writer.settled())

    def _record(self, written: list[Written]) -> None:
        for file in written:
            if not file.report:
                continue
            self.saved[file.path.name] = file.epoch
            self.report(CheckpointSaved(str(file.path), file.epoch + 1, is_best=file.is_best))


class EarlyStopping(EpochHook):
    """Stop after ``patience`` epochs without a better fitness."""

    def __init__(self, patience: int, warn: Warn) -> None:
        self.patience = patience
        self.warn = warn

    def before_train(self, progress: LoopProgress) -> bool:
        # a run that stopped early and was killed before it finished: only the ending is left
        return progress.epoch - progress.best_epoch >= self.patience

    def after_epoch(self, outcome: EpochOutcome) -> bool:
        best = outcome.progress.best_epoch
        if outcome.epoch - best < self.patience:
            return False
        self.warn(f"no improvement for {self.patience} epochs (best: epoch {best + 1}); "
                  "stopping early. Raise patience= to train longer")
        return True


class TimeLimit(EpochHook):
    """Stop after the epoch that ends past ``hours`` from the start of the loop."""

    def __init__(self, hours: float, warn: Warn,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hours = hours
        self.warn = warn
        self.clock = clock
        self.deadline: float | None = None

    def before_train(self, progress: LoopProgress) -> bool:
        self.deadline = self.clock() + self.hours * 3600
        return False

    def after_epoch(self, outcome: EpochOutcome) -> bool:
        if self.deadline is None or self.clock() <= self.deadline:
            return False
        self.warn(f"time={self.hours} hours reached; stopping")
        return True


class Plots(EpochHook):
    """train_batch0-2.jpg from the first epoch this run trains, then results.png and best.pt's
    validation plots, drawn by a plot worker started with the run (engine/plot_worker.py).

    The worker loads matplotlib on the core the training leaves idle. results.png is handed to
    it as soon as results.csv is complete, so the detection tasks' second validation of best.pt
    runs meanwhile; the final figures follow, and the worker draws them side by side.
    ``after_final`` waits for every figure, so all are in place when the run ends; a figure
    the worker could not draw is drawn here, and its errors surface on the run's thread as
    they would without the worker. ``use_worker=False`` draws everything here.
    """

    def __init__(self, task: TaskHooks, save_dir: Path, names: dict[int, str], *,
                 first_epoch: int, warn: Warn, use_worker: bool = True) -> None:
        self.task = task
        self.save_dir = save_dir
        self.names = names
        self.first_epoch = first_epoch
        self.warn = warn
        self.use_worker = use_worker
        self._worker: PlotWorker | None = None
        self._results: FigureJobs | None = None

    def before_train(self, progress: LoopProgress) -> bool:
        if self.use_worker and self._worker is None:
            self._worker = PlotWorker.start()
        return False

    def before_step(self, epoch: int, step: int, batch: dict) -> None:
        if epoch == self.first_epoch and step < 3:
            self.task.plot_batch(batch, self.names, self.save_dir / f"train_batch{step}.jpg")

    def after_train(self, progress: LoopProgress) -> None:
        self._results = self._draw_results()  # results.csv is complete

    def after_final(self, validation: Validation | None) -> None:
        try:
            results = self._results or self._draw_results()
            final = FigureJobs(self._worker)
            if validation is not None:
                with final.delegated():
                    self.task.final_plots(validation, self.save_dir, self.names)
            try:
                results.finish()
            except EngineError as exc:
                self.warn(f"results.png was not drawn: {exc}")
            final.finish()
            self._stop_worker(wait=False)  # every figure is in place
        finally:
            self.close()

    def close(self) -> None:
        """Stop the worker (after the figure in hand); figures not drawn yet are dropped."""
        self._stop_worker(wait=True)
        self._results = None

    def _stop_worker(self, *, wait: bool) -> None:
        if self._worker is not None:
            self._worker.close(wait=wait)
            self._worker = None

    def _draw_results(self) -> FigureJobs:
        """results.png, handed to the worker (drawn by ``finish``)."""
        jobs = FigureJobs(self._worker)
        results = self.save_dir / "results.csv"
        if results.exists():
            from ..plots import plot_results

            with jobs.delegated():
                plot_results(results)
        return jobs
