"""A run's set-up as one frozen value: the model on its device, image size, batch, gradient
accumulation, optimizer, learning-rate schedule, EMA and gradient scaler.

Everything here takes explicit arguments; the trainer reads the settings once and passes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import SettingsError
from ..nn.model import TaskModel
from ..process.threads import (
    CpuUseElsewhere,
    available_cores,
    busy_threads_elsewhere,
    training_threads,
)
from .auto_optimizer import OptimizerChoice
from .ema import ModelEMA
from .optim import build_optimizer, interpolate, lr_factor, warmup_steps
from .seeding import restore_rng_state

CPU_DEFAULT_BATCH = 16

Warn = Callable[..., None]


@dataclass(frozen=True)
class Schedule:
    """The learning rate per epoch (``lr_factor``), ramped up over the first ``warmup_steps``
    steps together with SGD's momentum and the gradient accumulation."""

    epochs: int
    steps_per_epoch: int
    warmup_steps: int
    accumulate: int
    lr_factor: Callable[[int], float]
    warmup_bias_lr: float
    warmup_momentum: float
    momentum: float

    def start_epoch(self, optimizer: torch.optim.Optimizer, epoch: int) -> None:
        """Each group's lr for ``epoch`` (warm-up steps then adjust it)."""
        factor = self.lr_factor(epoch)
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor

    def warm_up(self, optimizer: torch.optim.Optimizer, global_step: int, epoch: int) -> int:
        """Ramp lr (and SGD momentum) over the first steps; returns the accumulation now."""
        if global_step > self.warmup_steps:
            return self.accumulate
        span = (0, self.warmup_steps)
        accumulate = max(1, round(interpolate(global_step, span, (1, self.accumulate))))
        factor = self.lr_factor(epoch)
        for i, group in enumerate(optimizer.param_groups):
            start = self.warmup_bias_lr if i == 0 else 0.0
            group["lr"] = interpolate(global_step, span, (start, group["initial_lr"] * factor))
            if "momentum" in group:
                group["momentum"] = interpolate(
                    global_step, span, (self.warmup_momentum, self.momentum)
                )
        return accumulate


@dataclass(frozen=True)
class Setup:
    """What the loop trains with; built once per run by :func:`build_setup`."""

    model: TaskModel
    device: torch.device
    amp: bool
    imgsz: int
    batch: int
    memory_format: torch.memory_format
    choice: OptimizerChoice
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    ema: ModelEMA
    scaler: torch.amp.GradScaler
    val_each_epoch: bool = True
    """False: only the last epoch is validated (``val=False``)."""
    forward_model: torch.nn.Module | None = None
    """What the steps run forward through: ``model`` under DistributedDataParallel in a
    distributed run (None: ``model`` itself). ``model`` stays the bare model for the loss,
    the EMA and the checkpoints (no ``module.`` prefixes)."""

    @property
    def accumulate(self) -> int:
        return self.schedule.accumulate

    @property
    def forward(self) -> torch.nn.Module:
        return self.model if self.forward_model is None else self.forward_model


def build_setup(
    model: TaskModel,
    choice: OptimizerChoice,
    *,
    device: torch.device,
    amp: bool,
    imgsz: int,
    batch: int,
    memory_format: torch.memory_format,
    epochs: int,
    steps_per_epoch: int,
    nbs: int,
    weight_decay: float,
    lrf: float,
    cos_lr: bool,
    warmup_epochs: float,
    warmup_bias_lr: float,
    warmup_momentum: float,
    val_each_epoch: bool = True,
) -> Setup:
    """Optimizer, schedule, EMA and scaler for ``model`` (already on ``device``).

    Gradients are accumulated up to a nominal batch of ``nbs`` images, and weight decay scaled
    to it. ``optimizer='auto'`` (``choice.auto``) starts the bias lr's warm-up at 0.
    """
    accumulate = max(round(nbs / batch), 1)
    optimizer = build_optimizer(model, choice, weight_decay * batch * accumulate / nbs)
    factor = lr_factor(epochs, lrf, cos_lr)
    for group in optimizer.param_groups:
        group["initial_lr"] = group["lr"]
    ema = ModelEMA(model)
    allocate_gradients(model)
    schedule = Schedule(
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        warmup_steps=warmup_steps(warmup_epochs, epochs, steps_per_epoch),
        accumulate=accumulate,
        lr_factor=factor,
        warmup_bias_lr=0.0 if choice.auto else warmup_bias_lr,
        warmup_momentum=warmup_momentum,
        momentum=choice.momentum,
    )
    return Setup(model, device, amp, imgsz, batch, memory_format, choice, optimizer, schedule,
                 ema, torch.amp.GradScaler("cuda", enabled=amp), val_each_epoch)


def restore(setup: Setup, train_state: dict[str, Any], *, rank: int = 0,
            world: int = 1) -> str | None:
    """Put a last.pt's ``train_state`` back: weights, optimizer, EMA, scaler and every RNG
    (rank ``rank``'s of a distributed run, ``world`` processes). Returns a warning when the
    interrupted run had another number of processes (its random draws cannot all continue)."""
    setup.model.load_state_dict(train_state["model"])
    setup.optimizer.load_state_dict(train_state["optimizer"])
    setup.ema.load_state_dict(train_state["ema"])
    setup.scaler.load_state_dict(train_state.get("scaler", {}) or setup.scaler.state_dict())
    by_rank = train_state.get("rng_by_rank") or [train_state["rng"]]
    if len(by_rank) == world:
        restore_rng_state(by_rank[rank])
        return None
    restore_rng_state(by_rank[0])
    return (f"resumed on {world} training process(es) instead of {len(by_rank)}: the random "
            "draws (dropout) differ from the interrupted run's; the data order does not")


def round_imgsz(imgsz: int | list[int], stride: int, warn: Warn) -> int:
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


def resolve_batch(batch: int | float, warn: Warn) -> int:
    """``batch=`` as a number of images; automatic sizes (-1, fractions) need CUDA."""
    if isinstance(batch, float) and 0 < batch < 1 or batch == -1:
        warn(
            f"batch={batch} (automatic) needs a CUDA GPU to size itself; "
            f"using batch={CPU_DEFAULT_BATCH}"
        )
        return CPU_DEFAULT_BATCH
    if batch < 1:
        raise SettingsError(
            f"batch={batch} must be at least 1 (or -1 for automatic)", key="batch"
        )
    return int(batch)


class CpuThreads:
    """torch's thread count in a CPU run: one per core that other programs leave free
    (engine/process/threads.py), looked at when the run starts and before each epoch, never
    above the count torch had before the run, which is put back when the run ends."""

    def __init__(self, device: torch.device,
                 busy_threads: Callable[[], int | None] | None = None) -> None:
        self.active = device.type == "cpu"
        self.ceiling = torch.get_num_threads()
        self._busy_threads = busy_threads
        self._warned = False
        self._since_last: CpuUseElsewhere | None = None

    def adjust(self) -> str | None:
        """Set the count for what runs now; returns the warning to give the first time the
        run goes below the ceiling (None otherwise)."""
        if not self.active:
            return None
        busy = self._busy()
        threads = training_threads(self.ceiling, busy)
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        if threads >= self.ceiling or self._warned:
            return None
        self._warned = True
        return (
            f"the CPU is busy ({busy} threads of other programs running on "
            f"{available_cores()} cores): training on {threads} torch thread(s) instead of "
            f"{self.ceiling} while they run, which is faster (looked at again each epoch; "
            "results may differ in the last digits from a run on a free CPU). Set "
            "OMP_NUM_THREADS to choose")

    def _busy(self) -> int | None:
        """Other programs' busy threads: a look at the run queue when the run starts, then
        their average use since the last look (``CpuUseElsewhere``)."""
        if self._busy_threads is not None:
            return self._busy_threads()
        if self._since_last is None:
            self._since_last = CpuUseElsewhere()
            return busy_threads_elsewhere()
        return self._since_last()

    def restore(self) -> None:
        if self.active and torch.get_num_threads() != self.ceiling:
            torch.set_num_threads(self.ceiling)


def share_cores(device: torch.device, *loaders: Any) -> None:
    """Training on the CPU with a torch thread on every core: each loader decides whether to
    make its batches between steps instead (``BatchLoader.share_cores_with_training``)."""
    if device.type != "cpu" or torch.get_num_threads() < available_cores():
        return
    for loader in loaders:
        if loader is not None:
            loader.share_cores_with_training()


def place_model(
    model: TaskModel, device: torch.device, memory_format: torch.memory_format,
    names: dict[int, str],
) -> TaskModel:
    """``model`` on ``device`` in ``memory_format``, naming ``names``' classes."""
    model = model.to(device).to(memory_format=memory_format)
    model.names = dict(names)
    return model


def freeze_layers(model: TaskModel, freeze: int | list[int] | None) -> None:
    """``freeze=N``: the first N layers stay fixed; ``freeze=[i, j]``: those layers."""
    if freeze is None:
        return
    layers = list(range(freeze)) if isinstance(freeze, int) else list(freeze)
    prefixes = tuple(f"model.{i}." for i in layers)
    for name, param in model.named_parameters():
        if name.startswith(prefixes):
            param.requires_grad_(False)


def allocate_gradients(model: TaskModel) -> None:
    """Give every trained parameter its gradient buffer now, before any activation exists,
    and keep it for the whole run (steps zero it in place).

    Set to None after each step, gradients are re-allocated by every backward in the middle
    of its activations; with accumulation they outlive the step and pin the heap's free
    memory apart. Measured on the segment benchmark (3 epochs, one fixed batch): peak RSS
    grew 1578 → 1754 MiB from epoch 1 to 3 with lazy gradients, 1522 → 1541 MiB with these.
    (Creating the optimizer's state up front the same way measured worse: 1626 → 1668.)
    """
    for parameter in model.parameters():
        if parameter.requires_grad and parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
