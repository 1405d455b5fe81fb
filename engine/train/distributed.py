"""Training across processes with ``torch.distributed`` (DDP): one process per GPU (NCCL) or
per CPU worker (gloo), started by torchrun, by a cluster's scheduler or by ``device=0,1``.

Everything here is read from the environment that torchrun sets (``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``): there is no launcher of
our own and no process group unless ``WORLD_SIZE`` > 1. With it unset a run is exactly a
single-process run: :class:`Dist` of world 1 makes every collective a no-op.

The rules that keep the ranks in step (a rank that skips a collective the others enter hangs
them all until the timeout):

- every rank-divergent decision goes through a collective: the per-step flags (cancel, a
  non-finite loss) and rank 0's end-of-epoch decision (stop, cancelled, an error);
- rank 0 alone validates, writes files and reports events; the others train and wait;
- BatchNorm statistics (model and EMA) are averaged over the ranks at each epoch end instead
  of SyncBatchNorm (CPU-less, and it would drop the fused BN+SiLU path), so every rank holds
  the same state at every epoch end.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
import inspect
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from ..cancel import CancelToken
from ..devices import parse_devices
from ..errors import Cancelled, EngineError, SettingsError
from ..events import Event, Reporter
from ..events import Warning as WarningEvent

DEFAULT_TIMEOUT_S = 1800.0  # torch's own default: rank 0 validates while the others wait
PARENT_GRACE_S = 20.0  # after the launcher died: time to stop cleanly before exiting hard
_log = logging.getLogger("engine.train")
_T = TypeVar("_T")


@dataclass
class Dist:
    """This process's place in a run: rank ``rank`` of ``world`` (``local_*`` on this machine).

    World 1 (the default) is a single-process run: every method returns at once.
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    owns_group: bool = False
    """True when this run created the process group (and so destroys it at the end)."""
    backend: str = ""
    _device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # --- batch ---------------------------------------------------------------------------

    def total_batch(self, requested: int | float) -> int:
        """``batch=`` of a distributed run: the total over the ranks (as in the reference),
        each rank loading ``total // world``. A total that does not split evenly, or an
        automatic one (-1, a fraction: sized on one GPU's memory), is refused."""
        if isinstance(requested, float) and 0 < requested < 1 or requested == -1:
            raise SettingsError(
                f"batch={requested} (automatic) cannot be sized across {self.world} training "
                f"processes; give the total, a multiple of {self.world}, e.g. "
                f"batch={16 * self.world}",
                key="batch",
            )
        batch = int(requested)
        if batch < self.world or batch % self.world:
            example = max(self.world, batch - batch % self.world)
            raise SettingsError(
                f"batch={requested} does not split over {self.world} processes; batch is the "
                f"total across them: use a multiple of {self.world}, e.g. batch={example}",
                key="batch",
            )
        return batch

    def share(self, work: Callable[[], _T]) -> _T:
        """Rank 0 runs ``work``; every rank returns its result. What ``work`` raises on rank 0
        is raised on every rank (Cancelled as Cancelled, anything else as an EngineError
        with its message), so no rank is left waiting for the others."""
        if not self.active:
            return work()
        if not self.is_main:
            outcome = self.broadcast_object(None)
            if outcome["kind"] == "ok":
                return outcome["value"]
            if outcome["kind"] == "cancelled":
                raise Cancelled("stopped on request")
            raise StoppedByRankZero(f"rank 0 stopped the run: {outcome['message']}")
        try:
            value = work()
        except BaseException as exc:
            kind = "cancelled" if isinstance(exc, Cancelled | KeyboardInterrupt) else "error"
            with contextlib.suppress(Exception):  # the others may be gone already
                self.broadcast_object({"kind": kind, "message": str(exc)})
            raise
        self.broadcast_object({"kind": "ok", "value": value})
        return value

    # --- collectives ---------------------------------------------------------------------

    def step_flags(self, cancelled: bool, nonfinite: bool) -> tuple[bool, bool]:
        """(any rank cancelled, any rank's loss not finite): one small all_reduce per step, so
        every rank stops, or skips the step, at the same step."""
        if not self.active:
            return cancelled, nonfinite
        flags = torch.tensor([float(cancelled), float(nonfinite)], device=self._device)
        torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
        values = flags.tolist()
        return values[0] > 0, values[1] > 0

    def broadcast_object(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (the others' ``value`` is ignored)."""
        if not self.active:
            return value
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0, device=self._object_device())
        return box[0]

    def gather_object(self, value: Any) -> list[Any]:
        """Every rank's ``value``, by rank."""
        if not self.active:
            return [value]
        out: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(out, value)
        return out

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Each value's mean over the ranks (the keys are the same on every rank)."""
        if not self.active or not values:
            return values
        keys = list(values)  # the same order on every rank: the task's loss names
        tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64,
                              device=self._device)
        torch.distributed.all_reduce(tensor)
        return dict(zip(keys, (tensor / self.world).tolist(), strict=True))

    def average_buffers(self, *modules: torch.nn.Module) -> None:
        """Average the floating-point buffers (BatchNorm's running statistics) of ``modules``
        over the ranks, in place: one all_reduce of a flat copy."""
        if not self.active:
            return
        buffers = [b for m in modules for b in m.buffers() if b.is_floating_point()]
        if not buffers:
            return
        flat = torch.cat([b.detach().reshape(-1).to(torch.float64) for b in buffers])
        torch.distributed.all_reduce(flat)
        flat /= self.world
        offset = 0
        with torch.no_grad():
            for b in buffers:
                n = b.numel()
                b.copy_(flat[offset: offset + n].view_as(b).to(b.dtype))
                offset += n

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """``model`` under DistributedDataParallel (its forward averages the gradients over
        the ranks during backward); ``model`` itself in a single-process run.

        ``broadcast_buffers=False``: BatchNorm statistics stay each rank's own during the
        epoch and are averaged at its end (``average_buffers``), rather than rank 0's copied
        over the others' at every forward. ``find_unused_parameters=False``: every trained
        tensor of our heads takes part in the loss; a head that left one out would fail loudly
        at the first step instead of costing a graph walk at every step.
        """
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        # torch 2.13 renamed the switch (the new one still syncs the buffers once at the
        # start, as wanted: every rank starts from rank 0's state)
        buffers = ("forward_sync_buffers" if "forward_sync_buffers"
                   in inspect.signature(DistributedDataParallel.__init__).parameters
                   else "broadcast_buffers")
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=False,
                                       **{buffers: False})

    def set_device(self, device: torch.device) -> None:
        """The device this rank's collectives use (its GPU under NCCL, else the CPU)."""
        self._device = device if self.backend == "nccl" else torch.device("cpu")

    def _object_device(self) -> torch.device | None:
        return self._device if self.backend == "nccl" else None


class StoppedByRankZero(EngineError):  # noqa: N818 - the name says what happened
    """Rank 0 failed at an epoch's end (its message is the run's); the other ranks stop with
    this, which the CLI does not print a second time."""


SINGLE = Dist()
"""The single-process run."""


# --- start and stop ----------------------------------------------------------------------


def from_env(environ: dict[str, str] | None = None) -> Dist:
    """This process's rank and world from torchrun's variables (world 1 when they are unset)."""
    env = os.environ if environ is None else environ
    world = int(env.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return Dist()
    rank = int(env.get("RANK", "0"))
    return Dist(rank=rank, world=world, local_rank=int(env.get("LOCAL_RANK", str(rank))),
                local_world=int(env.get("LOCAL_WORLD_SIZE", str(world))))


def timeout_seconds(environ: dict[str, str] | None = None) -> float:
    """How long a rank waits in a collective for the others: ``YOLO_DDP_TIMEOUT_S``."""
    env = os.environ if environ is None else environ
    raw = env.get("YOLO_DDP_TIMEOUT_S", "")
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise SettingsError(
            f"YOLO_DDP_TIMEOUT_S={raw!r} is not a positive number of seconds; unset it for "
            f"{DEFAULT_TIMEOUT_S:.0f} s", key="YOLO_DDP_TIMEOUT_S"
        )
    return value


def backend_for(device: Any) -> str:
    """NCCL for CUDA GPUs where torch has it, gloo otherwise (the CPU, or no NCCL)."""
    names = parse_devices(device)
    on_cuda = (names[0].startswith("cuda") if names else torch.cuda.is_available())
    if on_cuda and torch.distributed.is_nccl_available():
        return "nccl"
    return "gloo"


def init_from_env(device: Any = None) -> Dist:
    """Join the run's process group (``env://``: torchrun's variables) when ``WORLD_SIZE`` > 1;
    a caller's own group is reused as it is. Returns world 1 when there is no run to join.

    ``device``: the run's ``device=`` (NCCL for GPUs, gloo for the CPU)."""
    env = os.environ
    dist = from_env(env)
    if not dist.active:
        return dist
    if not torch.distributed.is_available():
        raise EngineError("WORLD_SIZE is set but this torch has no torch.distributed; "
                          "unset WORLD_SIZE to train in one process")
    dist.backend = backend_for(device)
    if torch.distributed.is_initialized():
        dist.backend = torch.distributed.get_backend()
        return dist
    if dist.backend == "gloo" and dist.local_world == dist.world:
        # one machine: gloo would otherwise bind the address the hostname resolves to, which
        # in containers is often one the other ranks cannot reach (a hang, not an error)
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    if dist.backend == "nccl":
        from ..devices import select_device

        torch.cuda.set_device(select_device(device))
    timeout = datetime.timedelta(seconds=timeout_seconds(env))
    try:
        torch.distributed.init_process_group(dist.backend, init_method="env://",
                                             timeout=timeout)
    except Exception as exc:
        error = _port_error(exc, env)
        if error is None:
            raise
        raise error from exc
    dist.owns_group = True
    return dist


def _port_error(exc: Exception, env: Any) -> EngineError | None:
    """A rendezvous port that another program holds, as one clear line."""
    text = str(exc)
    taken = (getattr(exc, "errno", None) == errno.EADDRINUSE or "EADDRINUSE" in text
             or "address already in use" in text.lower())
    if not taken:
        return None
    port = env.get("MASTER_PORT", "29500")
    return EngineError(
        f"port {port} (MASTER_PORT) is already in use; set MASTER_PORT to a free port "
        "(or with torchrun: --master_port PORT, or --rdzv_endpoint host:PORT)"
    )


def teardown(dist: Dist) -> None:
    """Leave the process group this run created (a caller's own group stays)."""
    if dist.owns_group and torch.distributed.is_initialized():
        with contextlib.suppress(Exception):  # a peer already gone: nothing left to agree on
            torch.distributed.destroy_process_group()
        dist.owns_group = False


@contextlib.contextmanager
def session(device: Any, cancel: CancelToken) -> Iterator[Dist]:
    """The run's :class:`Dist`; in a distributed run also the process group, SIGTERM/SIGINT
    handlers (the first sets ``cancel``: torchrun stops its workers with SIGTERM) and the
    parent watchdog, all undone at the end."""
    dist = init_from_env(device)
    if not dist.active:
        yield dist
        return
    stop_watch = threading.Event()
    previous = _install_signal_handlers(cancel)
    watchdog = threading.Thread(target=_watch_parent, args=(os.getppid(), cancel, stop_watch),
                                name="yolo-ddp-parent", daemon=True)
    watchdog.start()
    try:
        yield dist
    finally:
        stop_watch.set()
        teardown(dist)  # first: torchrun's SIGTERM during it must not kill this rank silently
        _restore_signal_handlers(previous)


def _install_signal_handlers(cancel: CancelToken) -> dict[int, Any]:
    """SIGTERM and SIGINT set ``cancel`` (the run stops at the same step on every rank); a
    second one interrupts at once. Only the main thread may install handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def on_signal(signum, _frame) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, on_signal)
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _watch_parent(parent: int, cancel: CancelToken, stop: threading.Event,
                  interval: float = 1.0, grace: float = PARENT_GRACE_S) -> None:
    """The launcher (torchrun) died without stopping us (SIGKILL): stop the run, and leave
    no orphan if it does not end within ``grace`` seconds."""
    while not stop.wait(interval):
        if os.getppid() != parent:
            _log.warning("the process that started this training ended; stopping")
            cancel.cancel()
            if not stop.wait(grace):
                os._exit(1)
            return


# --- errors ------------------------------------------------------------------------------


def is_peer_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective that failed because another rank went away."""
    dist_error = getattr(torch.distributed, "DistError", ())
    if dist_error and isinstance(exc, dist_error):
        return True
    if not isinstance(exc, RuntimeError):
        return False
    text = str(exc)
    return any(mark in text for mark in (
        "Connection closed by peer", "Connection reset by peer", "gloo", "Gloo", "NCCL",
        "ProcessGroup", "Broken pipe",
    ))


def peer_stopped_error(last_epoch: int | None, last_pt: Path | None) -> EngineError:
    """The one line a rank gives when another rank of the run died."""
    if last_pt is not None and last_pt.is_file():
        held = f" (epoch {last_epoch + 1})" if last_epoch is not None else ""
        kept = f"{last_pt}{held} is kept: resume with resume=True model={last_pt}"
    else:
        kept = "no checkpoint was written yet: start the run again"
    return EngineError(
        f"another training process of this run stopped; this one stopped too. {kept}"
    )


# --- reporting ---------------------------------------------------------------------------


def rank_reporter(rank: int) -> Reporter:
    """What ranks other than 0 report: warnings to the ``logging`` module as ``[rank N]``;
    rank 0 alone sends the run's events."""

    def report(event: Event) -> None:
        if isinstance(event, WarningEvent):
            _log.warning("[rank %d] %s%s", rank, event.message,
                         f" ({event.path})" if event.path else "")

    return report


# --- tests' trace ------------------------------------------------------------------------


class Trace:
    """``YOLO_DDP_TRACE=<folder>``: each rank writes ``rank<R>.jsonl``, a header (pid, world),
    the image paths of each step, and at the end digests of its weights (tests check the
    shards and that the ranks agree). Off (None from :meth:`from_env`) unless the variable is
    set."""

    def __init__(self, folder: Path, dist: Dist) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"rank{dist.rank}.jsonl"
        self._write({"pid": os.getpid(), "rank": dist.rank, "world": dist.world,
                     "time": time.time()}, mode="w")

    @classmethod
    def from_env(cls, dist: Dist) -> Trace | None:
        folder = os.environ.get("YOLO_DDP_TRACE")
        return cls(Path(folder), dist) if folder else None

    def step(self, epoch: int, step: int, batch: dict) -> None:
        self._write({"epoch": epoch, "step": step, "paths": list(batch.get("paths", []))})

    def finish(self, model: torch.nn.Module, ema: torch.nn.Module) -> None:
        self._write({"params": _digest(p for p in model.parameters()),
                     "state": _digest(model.state_dict().values()),
                     "ema": _digest(ema.state_dict().values())})

    def _write(self, record: dict, mode: str = "a") -> None:
        with self.path.open(mode, encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def _digest(tensors) -> str:
    sha = hashlib.sha256()
    for t in tensors:
        sha.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return sha.hexdigest()
