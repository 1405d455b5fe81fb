"""The one training loop: warm-up, accumulation, AMP, EMA, validation, checkpoints, resume.

Tasks supply data, loss and validation through :class:`~engine.train.task.TaskHooks`.
Progress leaves as events; a :class:`~engine.cancel.CancelToken` stops the run between steps.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from ..cancel import NEVER, CancelToken
from ..checkpoints import checkpoint_dict, save_checkpoint
from ..config import Settings
from ..devices import select_device
from ..errors import Cancelled, EngineError, SettingsError
from ..events import (
    CheckpointSaved,
    EpochEnd,
    Reporter,
    RunFinished,
    RunStarted,
    StepEnd,
    Warning,
    frozen_metrics,
    ignore,
)
from ..nn.model import TaskModel
from ..nn.zoo import build_model
from ..runs.run_dir import remove_if_no_files, run_dir
from ..runs.train_result import TrainResult
from ..runs.validation import Validation
from ..utils.atomic import atomic_writer
from .auto_optimizer import resolve_optimizer
from .ema import ModelEMA
from .optim import build_optimizer, interpolate, lr_factor, warmup_steps
from .pretrained import transfer_pretrained
from .run_files import (
    disk_full_error,
    remove_interrupted_saves,
    write_final_validation,
    write_results_csv,
)
from .seeding import restore_rng_state, rng_state, seed_everything
from .task import TaskData, TaskHooks

MAX_GRAD_NORM = 10.0
# Steps with a non-finite loss are skipped; this many in a row stop the run.
MAX_NONFINITE_STEPS = 10
CPU_DEFAULT_BATCH = 16


class TrainingDiverged(EngineError):  # noqa: N818 - the name says what happened
    """The loss stayed NaN/inf; no checkpoint was written from the broken weights."""


def round_imgsz(imgsz: int | list[int], stride: int, warn) -> int:
    """One square size, rounded up to a multiple of ``stride`` (with a warning when changed)."""
    size = int(max(imgsz) if isinstance(imgsz, list) else imgsz)
    if size <= 0:
        raise SettingsError(f"imgsz={imgsz} must be a positive number of pixels", key="imgsz")
    rounded = max(math.ceil(size / stride) * stride, stride)
    if rounded != size:
        warn(
            f"imgsz={size} is not a multiple of the model's stride {stride}; using {rounded}", None
        )
    return rounded


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
    ) -> None:
        """``fresh``: the model is new (built from yaml); it is rebuilt after seeding so the
        initial weights, and so the whole run, follow ``seed``."""
        self.hooks = hooks
        self.model = model
        self.settings = settings
        self.progress = progress
        self.cancel = cancel
        self.resume_state = resume_state
        self.save_dir = save_dir
        self.fresh = fresh
        self.history: list[dict[str, float]] = list((resume_state or {}).get("history", []))

    # --- public --------------------------------------------------------------------------

    def train(self) -> TrainResult:
        """Run to the end, to early stop, or to cancel; always leaves a consistent run folder."""
        started = time.perf_counter()
        s = self.settings
        self.save_dir = self.save_dir or run_dir(
            self.hooks.task, "train", project=s.project, name=s.name, exist_ok=s.exist_ok
        )
        new_folder = not any(self.save_dir.iterdir())
        self.weights_dir = self.save_dir / "weights"
        self.weights_dir.mkdir(parents=True, exist_ok=True)
        # epoch (0-based) each file holds; None: stripped of its training state (run finished)
        self.saved: dict[str, int | None] = {}
        data: TaskData | None = None
        result = TrainResult(self.save_dir, "failed", 0)
        try:
            remove_interrupted_saves((self.weights_dir, self.save_dir), self._warn)
            data = self._setup()
            result = self._loop(data)
            result.status = "completed"
            self._finish(result, data)
        except Cancelled:
            result = self._result("cancelled")
            if new_folder:
                remove_if_no_files(self.save_dir)
        except BaseException as exc:
            if new_folder:
                remove_if_no_files(self.save_dir)  # a run that wrote nothing leaves no folder
            error = disk_full_error(exc, saved=self.saved, save_dir=self.save_dir,
                                    weights_dir=self.weights_dir, task=self.hooks.task)
            self.progress(
                RunFinished(
                    "train",
                    "failed",
                    str(self.save_dir),
                    message=str(error or exc),
                    seconds=time.perf_counter() - started,
                )
            )
            if error is None:
                raise
            raise error from exc
        finally:
            if data is not None:
                data.train.close()
                if data.val is not None:
                    data.val.close()
        result.seconds = time.perf_counter() - started
        self.progress(
            RunFinished(
                "train",
                result.status,
                str(self.save_dir),
                frozen_metrics(result.metrics),
                seconds=result.seconds,
            )
        )
        return result

    # --- setup ---------------------------------------------------------------------------

    def _warn(self, message: str, path: str | None = None) -> None:
        self.progress(Warning(message, path))

    def _setup(self) -> TaskData:
        s = self.settings
        seed_everything(s.seed, s.deterministic)
        if self.fresh:
            self.model = build_model(self.model.yaml)
        self.device = select_device(s.device)
        self.amp = bool(s.amp) and self.device.type == "cuda"
        self.imgsz = round_imgsz(s.imgsz, max(self.model.strides), self._warn)
        self.batch_size = self._batch_size()
        data = self.hooks.build_data(
            s, self.imgsz, self.batch_size, warn=self._warn, cancel=self.cancel
        )
        self.names = data.names
        self.model = self.hooks.adapt_model(self.model, data.names).to(self.device)
        self.memory_format = (
            torch.channels_last if getattr(self.hooks, "channels_last", False)
            else torch.contiguous_format
        )
        self.model = self.model.to(memory_format=self.memory_format)
        self.model.names = dict(data.names)
        if isinstance(s.pretrained, str) and not self.resume_state:
            # after the head fits the dataset, so a head of the same size transfers too
            transfer_pretrained(self.model, s.pretrained, self.progress)
        self._freeze()
        self.epochs = int(s.epochs)
        self.steps_per_epoch = len(data.train)
        self.accumulate = max(round(s.nbs / self.batch_size), 1)
        weight_decay = s.weight_decay * self.batch_size * self.accumulate / s.nbs
        self.choice = resolve_optimizer(
            s, train_images=data.train.num_images, batch=self.batch_size,
            num_classes=len(data.names),
        )
        self.warmup_bias_lr = 0.0 if self.choice.auto else s.warmup_bias_lr
        self.optimizer = build_optimizer(self.model, self.choice, weight_decay)
        self.lf = lr_factor(self.epochs, s.lrf, s.cos_lr)
        for group in self.optimizer.param_groups:
            group["initial_lr"] = group["lr"]
        self.ema = ModelEMA(self.model)
        self._allocate_gradients()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.start_epoch, self.best_fitness = 0, None
        if self.resume_state:
            self._restore(self.resume_state)
        self._write_args()
        self.progress(
            RunStarted(
                "train", self.hooks.task, str(self.save_dir), self.epochs, self._description(data)
            )
        )
        return data

    def _description(self, data: TaskData) -> str:
        return (
            f"{data.description} · {self.epochs} epochs · imgsz {self.imgsz} · batch "
            f"{self.batch_size} · {self.choice.name}(lr={self.choice.lr:g}) · {self.device}"
        )

    def _batch_size(self) -> int:
        batch = self.settings.batch
        if isinstance(batch, float) and 0 < batch < 1 or batch == -1:
            self._warn(
                f"batch={batch} (automatic) needs a CUDA GPU to size itself; "
                f"using batch={CPU_DEFAULT_BATCH}"
            )
            return CPU_DEFAULT_BATCH
        if batch < 1:
            raise SettingsError(
                f"batch={batch} must be at least 1 (or -1 for automatic)", key="batch"
            )
        return int(batch)

    def _freeze(self) -> None:
        freeze = self.settings.freeze
        if freeze is None:
            return
        layers = list(range(freeze)) if isinstance(freeze, int) else list(freeze)
        prefixes = tuple(f"model.{i}." for i in layers)
        for name, param in self.model.named_parameters():
            if name.startswith(prefixes):
                param.requires_grad_(False)

    def _write_args(self) -> None:
        args = self.settings.model_dump(mode="json")
        args.update(imgsz=self.imgsz, batch=self.batch_size, save_dir=str(self.save_dir))
        local = Path(str(args.get("data") or "")).expanduser()
        if args.get("data") and local.is_dir():  # so model.val() works from any folder
            args["data"] = str(local.resolve())
        with atomic_writer(self.save_dir / "args.yaml") as handle:
            handle.write(yaml.safe_dump(args, sort_keys=False).encode())
        self.train_args = args

    def _restore(self, state: dict[str, Any]) -> None:
        train_state = state["train_state"]
        self.model.load_state_dict(train_state["model"])
        self.optimizer.load_state_dict(train_state["optimizer"])
        self.ema.load_state_dict(train_state["ema"])
        self.scaler.load_state_dict(train_state.get("scaler", {}) or self.scaler.state_dict())
        self.start_epoch = int(state["epoch"]) + 1
        self.best_fitness = train_state.get("best_fitness")
        self.best_epoch = int(train_state.get("best_epoch", self.start_epoch - 1))
        self.history = list(train_state.get("history", []))
        self.epochs_completed = self.start_epoch
        restore_rng_state(train_state["rng"])
        # The interrupted run's files stay this run's: best.pt from before the resume is the
        # best until an epoch beats it (entry.py has made it agree with last.pt).
        last, best = self.weights_dir / "last.pt", self.weights_dir / "best.pt"
        if last.is_file():
            self.last, self.saved["last.pt"] = last, int(state["epoch"])
        if best.is_file():
            self.best, self.saved["best.pt"] = best, self.best_epoch

    # --- the loop ------------------------------------------------------------------------

    def _loop(self, data: TaskData) -> TrainResult:
        s = self.settings
        warmup = warmup_steps(s.warmup_epochs, self.epochs, self.steps_per_epoch)
        patience = s.patience or math.inf
        best_epoch = self._best_epoch()
        deadline = time.monotonic() + s.time * 3600 if s.time else None
        last_validation: Validation | None = None
        if self.resume_state and self.start_epoch - 1 - best_epoch >= patience:
            # stopped early, then killed before it finished: only the ending is left to do
            return self._result("completed")
        for epoch in range(self.start_epoch, self.epochs):
            epoch_started = time.perf_counter()
            self._set_epoch_lr(epoch)
            train_losses = self._train_epoch(data, epoch, warmup)
            lrs = {f"lr/pg{i}": g["lr"] for i, g in enumerate(self.optimizer.param_groups)}
            validation = self._validate(data, epoch)
            last_validation = validation or last_validation
            metrics = {"epoch": epoch + 1, **train_losses}
            if validation is not None:
                metrics.update(validation.metrics)
                metrics.update({f"val/{k}": v for k, v in validation.losses.items()})
            metrics.update(lrs)
            fitness = (
                validation.fitness
                if validation is not None
                else -train_losses[f"train/{self.hooks.loss_names[0]}"]
            )
            is_best = self.best_fitness is None or fitness >= self.best_fitness
            if is_best:
                self.best_fitness, best_epoch = fitness, epoch
            self.best_epoch = best_epoch
            self.history.append({k: float(v) for k, v in metrics.items()})
            write_results_csv(self.save_dir / "results.csv", self.history)
            self._save(epoch, metrics, is_best)
            stop = epoch - best_epoch >= patience
            if stop:
                self._warn(
                    f"no improvement for {s.patience} epochs (best: epoch {best_epoch + 1})"
                    "; stopping early. Raise patience= to train longer"
                )
            if deadline is not None and time.monotonic() > deadline:
                self._warn(f"time={s.time} hours reached; stopping")
                stop = True
            self.progress(
                EpochEnd(
                    epoch + 1,
                    self.epochs,
                    frozen_metrics(metrics),
                    time.perf_counter() - epoch_started,
                    self.best_fitness,
                    is_best,
                )
            )
            self.epochs_completed = epoch + 1
            if stop:
                break
        return self._result("completed", last_validation)

    def _best_epoch(self) -> int:
        state = (self.resume_state or {}).get("train_state", {})
        return int(state.get("best_epoch", self.start_epoch - 1))

    def _set_epoch_lr(self, epoch: int) -> None:
        factor = self.lf(epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor

    def _train_epoch(self, data: TaskData, epoch: int, warmup: int) -> dict[str, float]:
        self.model.train()
        data.train.set_epoch(epoch)
        steps = self.steps_per_epoch
        loss_sum: torch.Tensor | None = None
        counted, nonfinite, images, last_step = 0, 0, 0, -1
        window_start, window_images = time.perf_counter(), 0
        self.optimizer.zero_grad(set_to_none=False)
        for step, batch in enumerate(data.train):
            self.cancel.raise_if_cancelled()
            global_step = step + steps * epoch
            accumulate = self._warmup(global_step, warmup, epoch)
            if self.settings.plots and epoch == self.start_epoch and step < 3:
                self.hooks.plot_batch(batch, self.names, self.save_dir / f"train_batch{step}.jpg")
            batch = self._to_device(batch)
            with torch.autocast(self.device.type, enabled=self.amp):
                preds = self.model(batch["img"])
                loss, items = self.hooks.loss(self.model, preds, batch)
            if not torch.isfinite(loss):
                nonfinite += 1
                self._warn(
                    f"epoch {epoch + 1} step {step + 1}: the loss is {loss.item()}; the "
                    "step was skipped"
                )
                self.optimizer.zero_grad(set_to_none=False)
                if nonfinite >= MAX_NONFINITE_STEPS:
                    raise TrainingDiverged(
                        f"the loss was not finite in {nonfinite} steps of epoch {epoch + 1}; "
                        "training stopped with the last good checkpoint kept. Lower lr0, "
                        "check the labels, or set amp=False",
                        path=self.save_dir,
                    )
                continue
            nonfinite = 0
            self.scaler.scale(loss).backward()
            # Unlike the reference, the last batch of an epoch always steps: no gradient is
            # carried into the next epoch, so a checkpoint holds everything resume needs.
            if global_step - last_step >= accumulate or step == steps - 1:
                self._optimizer_step()
                last_step = global_step
            items = items.detach()
            loss_sum = items if loss_sum is None else loss_sum + items
            counted += 1
            n = len(batch["img"])
            images += n
            window_images += n
            if step % 5 == 4 or step == steps - 1:
                now = time.perf_counter()
                rate = window_images / max(now - window_start, 1e-9)
                window_start, window_images = now, 0
                self.progress(
                    StepEnd(
                        "train",
                        epoch + 1,
                        self.epochs,
                        step + 1,
                        steps,
                        frozen_metrics(self._named_losses(loss_sum, counted)),
                        self.optimizer.param_groups[0]["lr"],
                        rate,
                    )
                )
        if counted == 0:
            raise TrainingDiverged(
                f"the loss was not finite in any step of epoch {epoch + 1}; training stopped "
                "with the last good checkpoint kept. Lower lr0, check the labels, or set "
                "amp=False",
                path=self.save_dir,
            )
        return {f"train/{k}": v for k, v in self._named_losses(loss_sum, counted).items()}

    def _named_losses(self, loss_sum: torch.Tensor | None, count: int) -> dict[str, float]:
        if loss_sum is None:
            return {}
        values = (loss_sum / max(count, 1)).float().cpu().reshape(-1).tolist()
        return dict(zip(self.hooks.loss_names, values, strict=False))

    def _warmup(self, global_step: int, warmup: int, epoch: int) -> int:
        """Ramp lr (and SGD momentum) over the first steps; returns the accumulation now."""
        if global_step > warmup:
            return self.accumulate
        s = self.settings
        span = (0, warmup)
        accumulate = max(1, round(interpolate(global_step, span, (1, self.accumulate))))
        factor = self.lf(epoch)
        for i, group in enumerate(self.optimizer.param_groups):
            start = self.warmup_bias_lr if i == 0 else 0.0
            group["lr"] = interpolate(global_step, span, (start, group["initial_lr"] * factor))
            if "momentum" in group:
                group["momentum"] = interpolate(
                    global_step, span, (s.warmup_momentum, self.choice.momentum)
                )
        return accumulate

    def _optimizer_step(self) -> None:
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=MAX_GRAD_NORM)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=False)
        self.ema.update(self.model)

    def _allocate_gradients(self) -> None:
        """Give every trained parameter its gradient buffer now, before any activation exists,
        and keep it for the whole run (steps zero it in place).

        Set to None after each step, gradients are re-allocated by every backward in the middle
        of its activations; with accumulation they outlive the step and pin the heap's free
        memory apart. Measured on the segment benchmark (3 epochs, one fixed batch): peak RSS
        grew 1578 → 1754 MiB from epoch 1 to 3 with lazy gradients, 1522 → 1541 MiB with these.
        (Creating the optimizer's state up front the same way measured worse: 1626 → 1668.)
        """
        for parameter in self.model.parameters():
            if parameter.requires_grad and parameter.grad is None:
                parameter.grad = torch.zeros_like(parameter)

    def _to_device(self, batch: dict) -> dict:
        out = {
            k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()
        }
        out["img"] = out["img"].contiguous(memory_format=self.memory_format)
        return out

    def _validate(self, data: TaskData, epoch: int) -> Validation | None:
        if data.val is None or not self.settings.val and epoch + 1 < self.epochs:
            return None
        data.val.set_epoch(0)
        return self.hooks.validate(
            self.ema.ema, data.val, self.device, half=self.amp, cancel=self.cancel
        )

    # --- outputs -------------------------------------------------------------------------

    def _checkpoint(self, epoch: int, metrics: dict[str, float], with_state: bool) -> dict:
        extra: dict[str, Any] = {"best_fitness": self.best_fitness, "imgsz": self.imgsz}
        if with_state:
            extra["train_state"] = {
                "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
                "optimizer": self.optimizer.state_dict(),
                "ema": self.ema.state_dict(),
                "scaler": self.scaler.state_dict(),
                "rng": rng_state(),
                "best_fitness": self.best_fitness,
                "best_epoch": self.best_epoch,
                "history": self.history,
                "epochs": self.epochs,
            }
        return checkpoint_dict(
            self.ema.ema, train_args=self.train_args, metrics=metrics, epoch=epoch, extra=extra
        )

    def _save(self, epoch: int, metrics: dict[str, float], is_best: bool) -> None:
        if not all(
            torch.isfinite(p).all()
            for p in self.ema.ema.state_dict().values()
            if p.is_floating_point()
        ):
            raise TrainingDiverged(
                f"the weights became NaN/inf in epoch {epoch + 1}; the last good checkpoint "
                "was kept. Lower lr0 or set amp=False",
                path=self.save_dir,
            )
        checkpoint = self._checkpoint(epoch, metrics, with_state=True)
        # last.pt first: a kill between the two saves leaves last.pt recording this epoch as
        # the best while holding its EMA, from which a resume rewrites best.pt (entry.py).
        self.last = save_checkpoint(self.weights_dir / "last.pt", checkpoint)
        self.saved["last.pt"] = epoch
        self.progress(CheckpointSaved(str(self.last), epoch + 1))
        if is_best:
            checkpoint.pop("train_state")
            self.best = save_checkpoint(self.weights_dir / "best.pt", checkpoint)
            self.saved["best.pt"] = epoch
            self.progress(CheckpointSaved(str(self.best), epoch + 1, is_best=True))
        period = self.settings.save_period
        if period > 0 and (epoch + 1) % period == 0:
            save_checkpoint(self.weights_dir / f"epoch{epoch + 1}.pt", checkpoint)

    def _result(self, status: str, validation: Validation | None = None) -> TrainResult:
        last_metrics = self.history[-1] if self.history else {}
        return TrainResult(
            self.save_dir,
            status,
            getattr(self, "epochs_completed", 0),
            best=getattr(self, "best", None),
            last=getattr(self, "last", None),
            metrics=dict(last_metrics),
            best_fitness=self.best_fitness if hasattr(self, "best_fitness") else None,
            validation=validation,
        )

    def _finish(self, result: TrainResult, data: TaskData | None) -> None:
        """Drop the training state from last.pt (a finished run has nothing to resume), then
        validate best.pt once more for the final plots."""
        if result.last is not None and result.last.exists():
            from ..checkpoints.loading import finished_checkpoint, read_weights

            save_checkpoint(result.last, finished_checkpoint(read_weights(result.last)))
            self.saved["last.pt"] = None
        if data is not None and data.val is not None and result.best:
            # The run's result is best.pt's score, as the reference reports it.
            from ..checkpoints import load_model

            best, _ = load_model(result.best)
            try:
                validation = self.hooks.validate(
                    best.to(self.device), data.val, self.device, half=False, cancel=self.cancel
                )
            except Cancelled:  # every epoch is done and saved: only the final report is lost
                self._warn("final validation of best.pt skipped: stopped on request")
                return
            result.validation = validation
            result.final_metrics = dict(validation.metrics)
            problem = write_final_validation(self.save_dir, validation, self.hooks.task,
                                             result.best, self.saved.get("best.pt"))
            if problem:
                self._warn(problem, str(self.save_dir))
            if self.settings.plots:
                self.hooks.final_plots(validation, self.save_dir, self.names)
        if self.settings.plots and (self.save_dir / "results.csv").exists():
            try:
                from ..plots import plot_results

                plot_results(self.save_dir / "results.csv")
            except EngineError as exc:
                self._warn(f"results.png was not drawn: {exc}")
