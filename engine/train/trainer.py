"""The one training loop: warm-up, accumulation, AMP, EMA, validation, checkpoints, resume.

Tasks supply data, loss and validation through :class:`~engine.train.task.TaskHooks`; the run's
policies (results.csv, checkpoints, early stopping, time limit, plots) are
:mod:`~engine.train.epoch_hooks`. Progress leaves as events; a
:class:`~engine.cancel.CancelToken` stops the run between steps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path
from typing import Any

import torch

from ..cancel import NEVER, CancelToken
from ..config import Settings
from ..devices import select_device
from ..errors import Cancelled
from ..events import (
    EpochEnd,
    Reporter,
    RunStarted,
    StepEnd,
    Warning,
    frozen_metrics,
    ignore,
    reported_run,
)
from ..nn.model import TaskModel
from ..nn.zoo import build_model
from ..runs.run_dir import remove_if_no_files, run_dir
from ..runs.train_result import TrainResult
from ..runs.validation import Validation
from . import distributed
from .auto_optimizer import resolve_optimizer
from .distributed import Dist
from .epoch_hooks import (
    Checkpoints,
    EarlyStopping,
    EpochHook,
    EpochOutcome,
    Plots,
    ResultsCsv,
    TimeLimit,
)
from .loop_progress import LoopProgress
from .phase_clock import PhaseClock
from .pretrained import transfer_pretrained
from .run_files import (
    disk_full_error,
    remove_interrupted_saves,
    write_final_validation,
    write_run_args,
)
from .seeding import seed_everything
from .setup import (
    CpuThreads,
    Setup,
    build_setup,
    freeze_layers,
    place_model,
    resolve_batch,
    restore,
    round_imgsz,
    share_cores,
)
from .steps import LossMeter, TrainingDiverged, optimizer_step, skip_step, to_device
from .task import TaskData, TaskHooks

__all__ = ["Trainer", "TrainingDiverged"]


class Trainer:
    """Runs ``settings.epochs`` epochs of ``hooks``' task on ``model``."""

    def __init__(
        self,
        hooks: TaskHooks,
        model: TaskModel,
        settings: Settings,
        *,
        progress: Reporter = ignore,
        cancel: CancelToken = NEVER,
        resume_state: dict[str, Any] | None = None,
        save_dir: Path | None = None,
        fresh: bool = False,
        dist: Dist = distributed.SINGLE,
    ) -> None:
        """``resume_state``: the interrupted run's last.pt (its metadata, with
        ``train_state``). ``fresh``: the model is new (built from yaml); it is rebuilt after
        seeding so the initial weights, and so the whole run, follow ``seed``. ``dist``: this
        process's rank in a distributed run (engine/train/distributed.py); rank 0 alone
        validates, writes the run's files and reports, the others only train."""
        self.hooks = hooks
        self.model = model
        self.settings = settings
        self.dist = dist
        self.progress = progress if dist.is_main else distributed.rank_reporter(dist.rank)
        self.cancel = cancel
        self.resume_state = resume_state
        self.save_dir = save_dir
        self.fresh = fresh
        self.loop = LoopProgress()  # the resumed run's, once its state is restored
        self.saved: dict[str, int | None] = {}  # see Checkpoints.saved
        self._threads: CpuThreads | None = None  # torch's threads on a busy CPU
        self._threads_warning: str | None = None  # said once the run has started
        self._best_validation: tuple[int, Validation] | None = None  # (epoch, its validation)
        self.phases = PhaseClock()  # TrainResult.phase_seconds
        self._rng_by_rank: list | None = None  # every rank's RNG at the epoch's end
        self._last_validation: Validation | None = None
        self._amp_skipped = 0  # optimizer steps mixed precision skipped this epoch
        self._trace = distributed.Trace.from_env(dist)  # YOLO_DDP_TRACE (tests)

    # --- public --------------------------------------------------------------------------

    def train(self) -> TrainResult:
        """Run to the end, to early stop, or to cancel; always leaves a consistent run folder
        and closes the run with one ``RunFinished``."""
        started = time.perf_counter()
        s = self.settings
        if self.save_dir is None:  # chosen once, by rank 0, for every rank of the run
            self.save_dir = Path(self.dist.share(lambda: str(run_dir(
                self.hooks.task, "train", project=s.project, name=s.name, exist_ok=s.exist_ok
            ))))
        save_dir = self.save_dir
        with reported_run("train", self.progress) as record:
            record.save_dir = str(save_dir)
            result = self._run(save_dir)
            result.seconds = time.perf_counter() - started
            result.phase_seconds = dict(self.phases.seconds)
            record.results, record.status = result.metrics, result.status
        return result

    # --- the run, in order ---------------------------------------------------------------

    def _run(self, save_dir: Path) -> TrainResult:
        """Set up, train, finish; a cancel returns what was saved, a full disk says what."""
        main = self.dist.is_main  # only rank 0 touches the run folder
        new_folder = main and not any(save_dir.iterdir())
        weights_dir = save_dir / "weights"
        if main:
            weights_dir.mkdir(parents=True, exist_ok=True)
        data: TaskData | None = None
        hooks: list[EpochHook] = []
        try:
            if main:
                remove_interrupted_saves((weights_dir, save_dir), self._warn)
            with self.phases("setup"):
                run, data = self._setup()
                hooks = self._start(run, data, save_dir)
            last_validation = self._loop(run, data, hooks)
            if main:  # the hooks finish their files (checkpoints land) before the result
                with self.phases("end/after_train"):
                    for hook in hooks:
                        hook.after_train(self.loop)
            result = self._result(save_dir, "completed", last_validation)
            if self._trace is not None:
                self._trace.finish(run.model, run.ema.ema)
            if main:  # no collective after the loop: the other ranks are done
                with self.phases("end"):
                    self._finish(result, run, data, hooks)
            return result
        except Cancelled:
            _close(hooks)  # the checkpoints being written land before the folder is judged
            if new_folder:
                remove_if_no_files(save_dir)
            return self._result(save_dir, "cancelled")
        except BaseException as exc:
            _close(hooks)
            if new_folder:
                remove_if_no_files(save_dir)  # a run that wrote nothing leaves no folder
            if self.dist.active and distributed.is_peer_failure(exc):
                raise distributed.peer_stopped_error(self.saved.get("last.pt"),
                                                     weights_dir / "last.pt") from exc
            error = disk_full_error(exc, saved=self.saved, save_dir=save_dir,
                                    weights_dir=weights_dir, task=self.hooks.task)
            if error is None:
                raise
            raise error from exc
        finally:
            _close(hooks)
            if data is not None:
                data.train.close()
                if data.val is not None:
                    data.val.close()
            if self._threads is not None:
                self._threads.restore()

    def _setup(self) -> tuple[Setup, TaskData]:
        """Seed, data, the model on its device, then optimizer, schedule, EMA and scaler, and a
        resumed run's state on top. The settings are read here, once."""
        s = self.settings
        seed_everything(s.seed, s.deterministic)
        model = build_model(self.model.yaml) if self.fresh else self.model
        device = select_device(s.device)  # in a distributed run: this rank's
        self.dist.set_device(device)
        self._threads = CpuThreads(device)
        self._threads_warning = self._threads.adjust()
        imgsz = round_imgsz(s.imgsz, max(model.strides), self._warn)
        # batch is the total over the ranks (as in the reference); each loads its share
        batch = (self.dist.total_batch(s.batch) if self.dist.active
                 else resolve_batch(s.batch, self._warn))
        with self.phases("setup/dataset"):
            data = self.hooks.build_data(s, imgsz, batch // self.dist.world, warn=self._warn,
                                         cancel=self.cancel)
        self._shard(data)
        share_cores(device, data.train, data.val)
        memory_format = (torch.channels_last if getattr(self.hooks, "channels_last", False)
                         else torch.contiguous_format)
        model = place_model(self.hooks.adapt_model(model, data.names), device, memory_format,
                            data.names)
        if isinstance(s.pretrained, str) and not self.resume_state:
            # after the head fits the dataset, so a head of the same size transfers too
            transfer_pretrained(model, s.pretrained, self.progress)
        freeze_layers(model, s.freeze)
        forward_model = self.dist.wrap(model, device)  # DDP: rank 0's weights on every rank
        choice = resolve_optimizer(s, train_images=data.train.num_images, batch=batch,
                                   num_classes=len(data.names))
        run = build_setup(
            model, choice, device=device, amp=bool(s.amp) and device.type == "cuda",
            imgsz=imgsz, batch=batch, memory_format=memory_format, epochs=int(s.epochs),
            steps_per_epoch=len(data.train), nbs=s.nbs, weight_decay=s.weight_decay,
            lrf=s.lrf, cos_lr=s.cos_lr, warmup_epochs=s.warmup_epochs,
            warmup_bias_lr=s.warmup_bias_lr, warmup_momentum=s.warmup_momentum,
            val_each_epoch=s.val,
        )
        if forward_model is not model:
            run = dataclasses.replace(run, forward_model=forward_model)
        if self.resume_state:
            problem = restore(run, self.resume_state["train_state"], rank=self.dist.rank,
                              world=self.dist.world)
            if problem:
                self._warn(problem)
            self.loop = LoopProgress.from_checkpoint(self.resume_state)
        return run, data

    def _shard(self, data: TaskData) -> None:
        """In a distributed run: each rank trains on its share of each epoch; rank 0 alone
        validates. The loaders no longer stop on cancel by themselves: a rank that stopped
        alone would leave the others waiting in the next step's collective, so the step
        flags stop every rank at the same step."""
        if not self.dist.active:
            return
        data.train.shard(self.dist.rank, self.dist.world)
        data.train.cancel = NEVER
        if not self.dist.is_main and data.val is not None:
            data.val.close()
            data.val = None

    def _start(self, run: Setup, data: TaskData, save_dir: Path) -> list[EpochHook]:
        """args.yaml, the run's hooks, then ``RunStarted`` (rank 0 alone: the others have no
        hooks)."""
        if not self.dist.is_main:
            return []
        s = self.settings
        hooks: list[EpochHook] = [ResultsCsv(save_dir / "results.csv")]
        if s.plots:  # before Checkpoints: the figures are handed over first at the run's end
            hooks.append(Plots(self.hooks, save_dir, data.names, first_epoch=self.loop.next_epoch,
                               warn=self._warn))
        hooks.append(Checkpoints(
            save_dir / "weights", run, write_run_args(save_dir, s, run.imgsz, run.batch),
            progress=self.loop, saved=self.saved, save_period=s.save_period,
            report=self.progress,
            rng_by_rank=(lambda: self._rng_by_rank) if self.dist.active else None,
        ))
        if s.patience:
            hooks.append(EarlyStopping(s.patience, self._warn))
        if s.time:
            hooks.append(TimeLimit(s.time, self._warn))
        processes = (f" · {self.dist.world} processes ({self.dist.backend})"
                     if self.dist.active else "")
        description = (
            f"{data.description} · {run.schedule.epochs} epochs · imgsz {run.imgsz} · batch "
            f"{run.batch} · {run.choice.name}(lr={run.choice.lr:g}) · {run.device}{processes}"
        )
        self.progress(RunStarted("train", self.hooks.task, str(save_dir), run.schedule.epochs,
                                 description))
        if self._threads_warning:
            self._warn(self._threads_warning)
        return hooks

    def _loop(self, run: Setup, data: TaskData, hooks: list[EpochHook]) -> Validation | None:
        """Epochs until the last, an early stop or the time limit; the last validation.

        In a distributed run every rank trains the epoch, then rank 0 validates, saves and
        decides whether to stop, and every rank follows its decision."""
        self._last_validation = None
        if self.dist.share(lambda: any([hook.before_train(self.loop) for hook in hooks])):
            return None
        first = self.loop.next_epoch
        for epoch in range(first, run.schedule.epochs):
            started = time.perf_counter()
            if epoch > first:
                self._adjust_threads()
            run.schedule.start_epoch(run.optimizer, epoch)
            with self.phases("train"):
                train_losses = self._train_epoch(run, data, epoch, hooks)
            train_losses = self._epoch_sync(run, train_losses)
            stop = self.dist.share(
                lambda e=epoch, t=train_losses, st=started: self._epoch_end(run, data, e, t,
                                                                            hooks, st)
            )
            if stop:
                break
        return self._last_validation

    def _epoch_sync(self, run: Setup, train_losses: dict[str, float]) -> dict[str, float]:
        """A distributed run's epoch end on every rank: BatchNorm statistics (model and EMA)
        averaged, so every rank holds the same state; the losses' means over all the ranks;
        every rank's RNG for last.pt (an exact resume)."""
        if not self.dist.active:
            return train_losses
        self.dist.average_buffers(run.model, run.ema.ema)
        from .seeding import rng_state

        self._rng_by_rank = self.dist.gather_object(rng_state())
        return self.dist.mean(train_losses)

    def _epoch_end(self, run: Setup, data: TaskData, epoch: int, train_losses: dict[str, float],
                   hooks: list[EpochHook], started: float) -> bool:
        """Rank 0's part of an epoch's end: validate, record, save; True to stop the run."""
        metrics, fitness, validation = self._epoch(run, data, epoch, train_losses)
        self._last_validation = validation or self._last_validation
        self.loop, is_best = self.loop.after_epoch(epoch, metrics, fitness)
        if is_best and validation is not None:
            self._best_validation = (epoch, validation)
        outcome = EpochOutcome(epoch, metrics, is_best, self.loop)
        with self.phases("epoch_hooks"):  # results.csv, checkpoints, stopping rules
            stop = any([hook.after_epoch(outcome) for hook in hooks])
        self.progress(EpochEnd(epoch + 1, run.schedule.epochs, frozen_metrics(metrics),
                               time.perf_counter() - started, self.loop.best_fitness,
                               is_best))
        return stop

    def _finish(self, result: TrainResult, run: Setup, data: TaskData,
                hooks: list[EpochHook]) -> None:
        """The epochs are over and the hooks have closed their files: best.pt is validated
        once more (the run's result is best.pt's score, as the reference reports it), then
        the final reports. A cancel during that validation loses only the reports."""
        final = None
        if data.val is not None and result.best:
            try:
                with self.phases("end/final_validation"):
                    final = self._best_pt_validation(result.best, run, data)
            except Cancelled:  # every epoch is done and saved: only the final report is lost
                self._warn("final validation of best.pt skipped: stopped on request")
                return
            result.validation, result.final_metrics = final, dict(final.metrics)
            problem = write_final_validation(result.save_dir, final, self.hooks.task,
                                             result.best, self.saved.get("best.pt"))
            if problem:
                self._warn(problem, str(result.save_dir))
        with self.phases("end/after_final"):  # waits for the plots
            for hook in hooks:
                hook.after_final(final)

    def _best_pt_validation(self, best: Path, run: Setup, data: TaskData) -> Validation:
        """best.pt's validation: the one its epoch already ran where that was the same
        computation, else best.pt loaded and validated.

        The same computation: best.pt holds exactly the EMA weights its epoch validated (saved
        right after, in fp32), on the same loader and device, without autocast, in the memory
        layout a loaded checkpoint has (the detection tasks train channels-last, whose kernels
        may round differently). On the digits run this saves loading and validating best.pt.
        """
        self.cancel.raise_if_cancelled()
        kept = self._best_validation
        same = (kept is not None and kept[0] == self.saved.get("best.pt") and not run.amp
                and (run.memory_format == torch.contiguous_format
                     or getattr(self.hooks, "validates_as_loaded", False)))
        if same:
            return kept[1]
        from ..checkpoints import load_model

        model, _ = load_model(best)
        return self.hooks.validate(model.to(run.device), data.val, run.device, half=False,
                                   cancel=self.cancel)

    # --- one epoch -----------------------------------------------------------------------

    def _epoch(self, run: Setup, data: TaskData, epoch: int, train_losses: dict[str, float],
               ) -> tuple[dict[str, float], float, Validation | None]:
        """Validate the trained ``epoch``: its results.csv row, its fitness, its validation."""
        lrs = {f"lr/pg{i}": g["lr"] for i, g in enumerate(run.optimizer.param_groups)}
        with self.phases("val"):
            validation = self._validate(run, data, epoch)
        metrics = {"epoch": epoch + 1, **train_losses}
        if validation is not None:
            metrics.update(validation.metrics)
            metrics.update({f"val/{k}": v for k, v in validation.losses.items()})
        metrics.update(lrs)
        fitness = (validation.fitness if validation is not None
                   else -train_losses[f"train/{self.hooks.loss_names[0]}"])
        return metrics, fitness, validation

    def _train_epoch(self, run: Setup, data: TaskData, epoch: int,
                     hooks: list[EpochHook]) -> dict[str, float]:
        """One pass over the training data; the mean of each loss as ``train/<name>``."""
        run.forward.train()
        data.train.set_epoch(epoch)
        steps = run.schedule.steps_per_epoch
        meter = LossMeter(self.hooks.loss_names)
        nonfinite, last_step = 0, -1
        self._amp_skipped = 0
        # DDP averages the gradients over the ranks: a loss summed over the batch (the detect
        # family's) is scaled back up to the total batch's; a mean loss (classify) already is
        # the mean over the total batch
        loss_scale = self.dist.world if getattr(self.hooks, "loss_sums_batch", False) else 1
        run.optimizer.zero_grad(set_to_none=False)
        for step, batch in enumerate(data.train):
            if not self.dist.active:
                self.cancel.raise_if_cancelled()
            global_step = step + steps * epoch
            accumulate = run.schedule.warm_up(run.optimizer, global_step, epoch)
            # Unlike the reference, the last batch of an epoch always steps: no gradient is
            # carried into the next epoch, so a checkpoint holds everything resume needs.
            steps_now = global_step - last_step >= accumulate or step == steps - 1
            for hook in hooks:
                hook.before_step(epoch, step, batch)
            if self._trace is not None:
                self._trace.step(epoch, step, batch)
            batch = to_device(batch, run)
            with self._sync_unless(run, steps_now):
                with torch.autocast(run.device.type, enabled=run.amp):
                    loss, items = self.hooks.loss(run.model, run.forward(batch["img"]), batch)
                bad = not torch.isfinite(loss)
                if self.dist.active:  # every rank stops, or skips, at the same step
                    cancelled, bad = self.dist.step_flags(self.cancel.cancelled, bad)
                    if cancelled:
                        raise Cancelled("stopped on request")
                if bad:
                    nonfinite += 1
                    skip_step(run, loss, epoch=epoch, step=step, nonfinite=nonfinite,
                              save_dir=self.save_dir, warn=self._warn)
                    continue
                nonfinite = 0
                run.scaler.scale(loss * loss_scale if loss_scale != 1 else loss).backward()
            if steps_now:
                self._amp_skipped += not optimizer_step(run)
                last_step = global_step
            meter.add(items, len(batch["img"]))
            if step % 5 == 4 or step == steps - 1:
                self.progress(StepEnd("train", epoch + 1, run.schedule.epochs, step + 1, steps,
                                      frozen_metrics(meter.means()),
                                      run.optimizer.param_groups[0]["lr"],
                                      meter.rate() * self.dist.world))
        if self._amp_skipped:
            self._warn(f"epoch {epoch + 1}: mixed precision skipped {self._amp_skipped} "
                       "optimizer step(s) with inf/NaN gradients (its scale was lowered); "
                       "amp=False trains without it")
        if meter.count == 0:
            raise TrainingDiverged(
                f"the loss was not finite in any step of epoch {epoch + 1}; training stopped "
                "with the last good checkpoint kept. Lower lr0, check the labels, or set "
                "amp=False",
                path=self.save_dir,
            )
        return {f"train/{k}": v for k, v in meter.means().items()}

    @staticmethod
    def _sync_unless(run: Setup, steps_now: bool) -> contextlib.AbstractContextManager:
        """DDP's ``no_sync`` for a step that only accumulates: its gradients are averaged
        over the ranks together with the next step's (a speed-up; the sum is the same)."""
        if run.forward_model is None or steps_now:
            return contextlib.nullcontext()
        return run.forward_model.no_sync()

    def _validate(self, run: Setup, data: TaskData, epoch: int) -> Validation | None:
        if data.val is None or not run.val_each_epoch and epoch + 1 < run.schedule.epochs:
            return None
        data.val.set_epoch(0)
        model = run.ema.ema
        if (getattr(self.hooks, "validates_as_loaded", False)
                and run.memory_format != torch.contiguous_format):
            # in the layout best.pt loads in, so that its final validation is this one
            model = run.ema.contiguous_copy()
        return self.hooks.validate(model, data.val, run.device, half=run.amp,
                                   cancel=self.cancel)

    # --- outputs -------------------------------------------------------------------------

    def _adjust_threads(self) -> None:
        """Follow the other programs' load between epochs (the run's start looked already)."""
        warning = self._threads.adjust() if self._threads is not None else None
        if warning:
            self._warn(warning)

    def _warn(self, message: str, path: str | None = None) -> None:
        self.progress(Warning(message, path))

    def _result(self, save_dir: Path, status: str,
                validation: Validation | None = None) -> TrainResult:
        weights = save_dir / "weights"
        return TrainResult(
            save_dir,
            status,
            self.loop.epochs_completed,
            best=weights / "best.pt" if "best.pt" in self.saved else None,
            last=weights / "last.pt" if "last.pt" in self.saved else None,
            metrics=self.loop.last_row,
            best_fitness=self.loop.best_fitness,
            validation=validation,
        )


def _close(hooks: list[EpochHook]) -> None:
    """Close each hook once (the list is emptied)."""
    while hooks:
        hooks.pop(0).close()
