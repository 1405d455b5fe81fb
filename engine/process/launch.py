"""One training process per device, started through torch's elastic launcher (torchrun's).

``yolo train device=0,1`` (and ``model.train(device=[0, 1])``) runs :func:`run`: it starts the
worker command once per device with torchrun's agent (``elastic_launch``), in this process, so
the workers are the same program as under a hand-typed ``torchrun`` (env:// init, one code path
on one machine or many). Not ``torch.multiprocessing.spawn``: it pickles a function, and we would
still have to choose the port, watch the workers and stop the survivors when one dies, which
torchrun's agent already does (``max_restarts=0``, SIGTERM then SIGKILL after ``SHUTDOWN_S``).

The launcher and its workers share one job folder:

- ``events.jsonl``: rank 0 appends each engine event as a JSON line (:class:`EventWriter`); the
  caller's thread reads it every 0.1 s and hands the events to its reporter, so the CLI's
  progress bar and the studio's relay see what a one-process run sends, on the same thread;
- ``stop``: made when the caller's cancel token is set; every worker polls it (a thread sets the
  worker's token), and the run stops at the same step on every rank;
- ``pids/<rank>``: each worker's pid, so nothing outlives the launcher (killed in ``finally``).

The agent runs on a helper thread: the caller's thread keeps its own signal handlers (the CLI's
Ctrl+C sets its token, as in a one-process run). Without the agent's handlers, a launcher that
dies would orphan the workers, so each worker asks the kernel for SIGTERM when its parent dies
(``prctl(PR_SET_PDEATHSIG)``, Linux) and stops as on Ctrl+C.

torch is imported inside the functions that need it (``make test`` runs before torch exists).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cancel import CancelToken
from ..errors import SettingsError
from ..events import Event, event_from_payload, event_payload, json_default
from ..utils.log_filter import filtered

WORKER_FILE = "worker.json"
EVENTS_FILE = "events.jsonl"
STOP_FILE = "stop"
PIDS_FOLDER = "pids"
PROCESSES_VARIABLE = "YOLO_DDP_CPU_PROCESSES"
"""``device=cpu`` trains in this many gloo processes (tests and trying DDP on a laptop)."""
PORT_VARIABLES = ("YOLO_DDP_PORT", "MASTER_PORT")
"""A port the run's rendezvous must use; unset, a free one is picked."""
SHUTDOWN_S = 15
"""How long workers get to stop after SIGTERM before SIGKILL (torchrun's default is 30)."""
POLL_S = 0.1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Launched:
    """How the workers ended: ``exit_codes`` by rank for those that failed (a negative code is
    the signal that killed it); empty when every worker exited 0."""

    exit_codes: Mapping[int, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.exit_codes)


def processes_for(devices: Sequence[str], environ: Mapping[str, str] | None = None) -> int:
    """How many processes a run on ``devices`` (``engine.devices.parse_devices``) starts: one
    per GPU, or ``$YOLO_DDP_CPU_PROCESSES`` for ``["cpu"]``; 1 means train in this process."""
    env = os.environ if environ is None else environ
    if len(devices) > 1:
        return len(devices)
    if list(devices) == ["cpu"] and env.get(PROCESSES_VARIABLE):
        raw = env[PROCESSES_VARIABLE]
        if not raw.strip().isdigit() or int(raw) < 1:
            raise SettingsError(f"{PROCESSES_VARIABLE}={raw} is not a process count; give a "
                                "whole number such as 2, or unset it")
        return int(raw)
    return 1


def in_distributed_run(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process is already one rank of a run (torchrun or :func:`run` started it)."""
    env = os.environ if environ is None else environ
    return "WORLD_SIZE" in env or "TORCHELASTIC_RUN_ID" in env


# -- the launcher ------------------------------------------------------------------------------


def run(command: Sequence[str], *, nprocs: int, folder: Path,
        on_event: Callable[[Event], None], cancel: CancelToken) -> Launched:
    """Run ``command`` (``python -m ...``) as ``nprocs`` ranks on this machine, relaying rank
    0's events from ``folder`` to ``on_event`` on this thread until every rank has exited.

    ``cancel`` stops every rank at its next step. A second KeyboardInterrupt (Ctrl+C twice)
    stops them at once. Raises ``SettingsError`` for a taken port.
    """
    from torch.distributed.launcher.api import LaunchConfig

    (folder / PIDS_FOLDER).mkdir(parents=True, exist_ok=True)
    (folder / WORKER_FILE).write_text(json.dumps({"threads": _threads_each(nprocs)}))
    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=nprocs, run_id=uuid.uuid4().hex,
        rdzv_backend="c10d", rdzv_endpoint=_endpoint(), max_restarts=0, monitor_interval=0.2,
        shutdown_timeout=SHUTDOWN_S, logs_specs=_logs_specs(folder / "logs"),
    )
    agent = _Agent(config, list(command))
    relay = _Relay(folder / EVENTS_FILE, on_event)
    try:
        with _quiet_child_thread_warning(), _environment_kept("TORCHELASTIC_SIGNALS_TO_HANDLE"):
            agent.start()
            _watch(agent, relay, cancel, folder)
        relay.drain()
        return agent.outcome()
    except KeyboardInterrupt:
        (folder / STOP_FILE).touch()
        _signal_workers(folder, signal.SIGTERM)  # their second signal: stop now
        agent.join(SHUTDOWN_S)
        relay.drain()
        raise
    finally:
        _signal_workers(folder, signal.SIGKILL)  # whatever is left: no orphans, ever


def _watch(agent: _Agent, relay: _Relay, cancel: CancelToken, folder: Path) -> None:
    """Relay events and pass a cancel on until the agent has seen every worker exit."""
    stop = folder / STOP_FILE
    while agent.is_alive():
        relay.drain()
        if cancel.cancelled and not stop.exists():
            stop.touch()
        agent.join(POLL_S)


class _Agent(threading.Thread):
    """torchrun's agent (``elastic_launch``) on a thread; ``outcome()`` after it ends."""

    def __init__(self, config: Any, command: list[str]) -> None:
        super().__init__(name="ddp-agent", daemon=True)
        self.config, self.command = config, command
        self.error: BaseException | None = None

    def run(self) -> None:
        from torch.distributed.launcher.api import elastic_launch

        try:
            elastic_launch(self.config, self.command[0])(*self.command[1:])
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self.error = exc

    def outcome(self) -> Launched:
        from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

        if self.error is None:
            return Launched()
        if isinstance(self.error, ChildFailedError):
            return Launched({rank: failure.exitcode
                             for rank, failure in self.error.failures.items()})
        raise _port_error(self.error) or self.error


class _Relay:
    """Reads new whole lines of ``events.jsonl`` and passes their events on."""

    def __init__(self, path: Path, on_event: Callable[[Event], None]) -> None:
        self.path, self.on_event = path, on_event
        self.offset = 0

    def drain(self) -> None:
        try:
            with self.path.open("rb") as file:
                file.seek(self.offset)
                chunk = file.read()
        except FileNotFoundError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits
        self.offset += len(complete)
        for line in complete.decode("utf-8").splitlines():
            event = event_from_line(line)
            if event is not None:
                self.on_event(event)


def _threads_each(nprocs: int) -> int | None:
    """Each rank's share of the cores (torchrun gives 1); None when the user set
    ``OMP_NUM_THREADS`` (the workers inherit it)."""
    from .threads import available_cores

    if os.environ.get("OMP_NUM_THREADS"):
        return None
    return max(1, available_cores() // nprocs)


def _endpoint(environ: Mapping[str, str] | None = None) -> str:
    """``localhost:PORT`` for a port the user chose (checked free), else ``localhost:0``."""
    env = os.environ if environ is None else environ
    for name in PORT_VARIABLES:
        raw = env.get(name, "").strip()
        if not raw:
            continue
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise SettingsError(f"{name}={raw} is not a port number; set {name} to a free port "
                                "such as 29501, or unset it and yolo picks a free one")
        check_port_free(int(raw), name)
        return f"localhost:{raw}"
    return "localhost:0"


def check_port_free(port: int, variable: str) -> None:
    """Raise a ``SettingsError`` naming ``port`` and ``variable`` when the port is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError as exc:
            raise SettingsError(_taken(port, variable)) from exc


def _taken(port: int | str, variable: str) -> str:
    return (f"port {port} ({variable}) is already in use; set {variable} to a free port (e.g. "
            f"{variable}=29501), or unset it and yolo picks a free one")


def _port_error(error: BaseException) -> SettingsError | None:
    """The taken-port error for a rendezvous that lost a race for the user's port."""
    text = str(error).lower()
    if "address already in use" not in text and "eaddrinuse" not in text:
        return None
    for name in PORT_VARIABLES:
        if os.environ.get(name):
            return SettingsError(_taken(os.environ[name], name))
    return SettingsError(f"the run's rendezvous port is already in use ({error}); set "
                         "YOLO_DDP_PORT to a free port")


def _logs_specs(folder: Path) -> Any:
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs

    return DefaultLogsSpecs(log_dir=str(folder))


@contextlib.contextmanager
def _environment_kept(*names: str) -> Iterator[None]:
    """``launch_agent`` sets variables in this process's environment: put them back after."""
    before = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _ChildThreadWarning(logging.Filter):
    """The agent warns that off the main thread it installs no signal handlers; the workers
    take care of that themselves (PDEATHSIG, see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "running on a child thread" not in record.getMessage()


def _quiet_child_thread_warning():
    return filtered("torch.distributed.elastic.multiprocessing.api", _ChildThreadWarning())


def _signal_workers(folder: Path, signum: int) -> None:
    """Send ``signum`` to every worker of this run still alive (pids from ``pids/``): only to
    a child of this process, never to a process that took an exited worker's pid."""
    for pid in worker_pids(folder).values():
        if _child_of_this_process(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signum)


def _child_of_this_process(pid: int) -> bool:
    """Whether ``pid`` is a live (not yet reaped) child of this process (Linux ``/proc``;
    elsewhere False: torchrun's agent stops the workers there)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields_after_name = stat[stat.rfind(")") + 2:].split()  # the name may hold spaces
    return len(fields_after_name) > 1 and fields_after_name[1] == str(os.getpid())


def worker_pids(folder: Path) -> dict[int, int]:
    """The pid of each rank of the run in ``folder``, as the workers recorded them."""
    pids = {}
    for pid_file in (folder / PIDS_FOLDER).glob("*"):
        with contextlib.suppress(ValueError, OSError):
            pids[int(pid_file.name)] = int(pid_file.read_text())
    return pids


# -- the workers' side ------------------------------------------------------------------------


def prepare_worker(folder: str | Path) -> None:
    """First thing in a worker, before torch loads: its stdout goes to stderr (the launcher's
    stdout may be a protocol: the studio's child), then its share of the cores and OpenMP's
    settings (engine/process/threads.py), which only count before torch is imported."""
    from .threads import configure_threads

    os.dup2(2, 1)
    settings = json.loads((Path(folder) / WORKER_FILE).read_text(encoding="utf-8"))
    if settings.get("threads"):
        os.environ.setdefault("OMP_NUM_THREADS", str(settings["threads"]))
    configure_threads()


def join_run(folder: Path, cancel: CancelToken, rank: int) -> None:
    """In a worker: record this process's pid, ask for SIGTERM when the launcher dies, and
    set ``cancel`` once the launcher makes the stop file."""
    _die_with_parent()
    pid_file = folder / PIDS_FOLDER / str(rank)
    temp = pid_file.with_name(f".{rank}.tmp")
    temp.write_text(str(os.getpid()))
    os.replace(temp, pid_file)  # the launcher never reads half a pid
    threading.Thread(target=_poll_stop, args=(folder / STOP_FILE, cancel), daemon=True,
                     name="ddp-stop-file").start()


def _poll_stop(stop: Path, cancel: CancelToken) -> None:
    while not cancel.wait(POLL_S):
        if stop.exists():
            cancel.cancel()
            return


def _die_with_parent() -> None:
    """SIGTERM (the worker's stop signal) when the process that started this one dies."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the call above: nobody will send the signal
        os.kill(os.getpid(), signal.SIGTERM)


class EventWriter:
    """A Reporter that appends each event to the run's ``events.jsonl`` (rank 0)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / EVENTS_FILE
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = event_line(event)
        if line is None:
            return
        with self._lock, self.path.open("a", encoding="utf-8") as file:
            file.write(line + "\n")  # one write of a whole line: the reader waits for "\n"


def event_line(event: Any) -> str | None:
    """An engine event as one JSON line (None for anything that is not one)."""
    payload = event_payload(event)
    return None if payload is None else json.dumps(payload, default=json_default)


def event_from_line(line: str) -> Event | None:
    """The event of a line made by :func:`event_line` (None for a blank or foreign line)."""
    try:
        return event_from_payload(json.loads(line))
    except (ValueError, KeyError, TypeError):
        return None


