"""How torch and onnxruntime share the CPU in one process (measured in benchmarks/ort_threads.py).

Both runtimes keep worker threads that busy-wait ("spin") after each parallel region: torch's
OpenMP threads (libgomp, which spins 300,000 rounds by default) and onnxruntime's own pool.
When anything else wants a core (a second runtime, a loader thread, the GUI, another program) a
spinning pool holds the core that the thread it waits for needs: on 2 cores with one busy
process beside it, a yolov8n-cls training step took 2.2-3 s instead of 25 ms, and a frame of
torch pre-processing plus an onnxruntime call took 6.5 ms instead of 2.5 ms even without one.

- ``GOMP_SPINCOUNT=10000`` (``configure_threads``) cuts torch's spinning short:
  no measurable cost when the CPU is free (24.8 vs 24.5 ms per training step, 4.6 ms per
  224px inference), 7-17x faster steps beside a busy process. ``OMP_WAIT_POLICY=PASSIVE`` is
  rejected: it also cures contention but makes torch 2.4x slower on a free CPU (60 ms per step,
  13.5 ms per inference). libgomp reads the variable once, when torch is imported, so this must
  run before the first ``import torch`` of the process; a user's own setting is kept.
- onnxruntime sessions (``session_options``) spin only inside ``run``: its workers are parked
  the moment a run returns (``session.force_spinning_stop``), so they never hold a core that
  torch's pre- and post-processing, a second runtime or the GUI needs between runs. Within a
  run, spinning is what makes small graphs fast: turned off altogether, yolov8n-cls at 224 took
  about 1.4 ms longer per image (interleaved with plain onnxruntime on this machine).
  Measured with ``benchmarks/ort_threads.py`` (one process per scenario, torch loaded,
  ``GOMP_SPINCOUNT=10000``, yolov8n-cls at 224): onnxruntime 3.62 ms spinning inside runs only,
  4.08 ms never spinning, 3.65 ms with onnxruntime's default; a whole frame (torch
  pre-processing then the run) 5.97, 5.15 and 7.43 ms.
- Training on the CPU uses one torch thread per core that other programs leave free
  (``training_threads``, counted when a run starts and again before each epoch). Every
  parallel region of torch's OpenMP team ends at a barrier that waits for all of its
  threads, so a team with more threads than free cores waits, at every small operator, for
  a thread the system has put aside: on the 2-core machine with about nine other threads
  running, 3 epochs of yolov8n-cls on digits (32 px, batch 64) took 58-64 s with 2 threads
  and 20-23 s with 1. On a free machine every core is used, as before. The count changes
  kernels' summation order (weights after 3 epochs agreed to 1e-4, metrics to the printed
  digits), so a run on a busy machine says so in a warning; ``OMP_NUM_THREADS`` set by the
  user is kept.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

OPENMP_SETTINGS = {"GOMP_SPINCOUNT": "10000"}
"""What ``configure_threads`` puts in the environment (libgomp: torch's OpenMP on Linux)."""
_USER_CHOICES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def configure_threads(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Shorten OpenMP spinning unless the user chose a policy; returns what it set.

    Call it before torch is imported (libgomp reads the environment once, when it loads);
    once torch is in ``sys.modules`` it changes nothing. ``environ`` defaults to
    ``os.environ``; passing a mapping only fills that mapping (for tests and subprocesses).
    """
    env = os.environ if environ is None else environ
    if any(name in env for name in _USER_CHOICES):
        return {}
    if environ is None and "torch" in sys.modules:
        log.debug("OpenMP settings left alone: torch is already imported, so they would not count")
        return {}
    env.update(OPENMP_SETTINGS)
    return dict(OPENMP_SETTINGS)


def available_cores() -> int:
    """The cores this process may run on (its affinity where the system says, else all)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def busy_threads_elsewhere(*, samples: int = 5, interval_s: float = 0.002,
                           proc: Path = Path("/proc")) -> int | None:
    """Threads of other programs running or ready to run now (Linux), the fewest of a few
    looks; None where the system does not say.

    ``/proc/loadavg``'s fourth field counts the runnable threads of the whole system, this
    process's own among them (at least the one reading), so those are taken off. The two are
    read at different instants, so one look can count this run's own threads (waking between
    operators) or a kernel worker as another program's; a program that keeps a core busy is
    runnable in every look, so the fewest is kept (the median still saw 2 busy threads on an
    idle 2-core machine in about one run out of two).
    """
    counts = []
    for index in range(max(samples, 1)):
        if index:
            time.sleep(interval_s)
        try:
            runnable = int((proc / "loadavg").read_text().split()[3].split("/")[0])
        except (OSError, IndexError, ValueError):
            return None
        counts.append(max(runnable - _own_runnable_threads(proc), 0))
    return min(counts)


def _own_runnable_threads(proc: Path) -> int:
    """This process's threads in state R (the reading thread is always one), and those of
    its child processes (a run's plot worker, engine/plot_worker.py, is the run's own load)."""
    running = _runnable_in(proc / "self") + sum(_runnable_in(proc / pid)
                                                for pid in _child_pids(proc))
    return max(running, 1)


def _child_pids(proc: Path) -> list[str]:
    """The pids of this process's children (each thread lists those it started)."""
    pids: list[str] = []
    for children in (proc / "self").glob("task/*/children"):
        try:
            pids += children.read_text().split()
        except OSError:
            continue
    return pids


def _runnable_in(process: Path) -> int:
    """The threads in state R of the process whose /proc folder is ``process``."""
    running = 0
    for stat in (process / "task").glob("*/stat"):
        try:
            # "pid (name) S ...": the state follows the last ')' (a name may hold spaces)
            state = stat.read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        running += state == "R"
    return running


class CpuUseElsewhere:
    """Cores other programs kept busy, on average, since the last call (Linux); None where
    the system does not say.

    The whole system's busy time (``/proc/stat``) less this process's and its children's
    (``/proc/<pid>/stat``; a run's plot worker is its own load), over the time between two
    calls. Used between epochs instead of :func:`busy_threads_elsewhere`'s glance at the run
    queue: a program that wakes often without using much (the terminal or the benchmark
    script reading the progress bar) was runnable at the glance and counted as a busy core,
    and the run dropped to one thread for an epoch; over a whole epoch it uses a few percent.
    A program that keeps a core busy uses most of one even beside the run's threads.
    """

    def __init__(self, proc: Path = Path("/proc")) -> None:
        self.proc = proc
        self._last = self._sample()

    def __call__(self) -> int | None:
        now = self._sample()
        last, self._last = self._last, now
        if now is None or last is None:
            return None
        busy, total, ours = (a - b for a, b in zip(now[:3], last[:3], strict=True))
        if total <= 0:
            return None
        cpus = now[3]
        return int(max(busy - ours, 0) / total * cpus + 0.5)

    def _sample(self) -> tuple[int, int, int, int] | None:
        """(busy, busy + idle) clock ticks of all CPUs, this process's and its children's
        ticks, and the CPU count."""
        try:
            lines = (self.proc / "stat").read_text().splitlines()
            values = [int(v) for v in lines[0].split()[1:]]
            cpus = sum(1 for line in lines[1:] if line.startswith("cpu"))
            ours = _process_ticks(self.proc / "self", reaped=True)
        except (OSError, IndexError, ValueError):
            return None
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        total = sum(values[:8])  # user nice system idle iowait irq softirq steal
        ours += sum(_process_ticks(self.proc / pid) for pid in _child_pids(self.proc))
        return total - idle, total, ours, max(cpus, 1)


def _process_ticks(process: Path, *, reaped: bool = False) -> int:
    """utime + stime of the process whose /proc folder is ``process`` (with ``reaped``, its
    waited-for children's too); 0 for one that has gone."""
    try:
        fields = (process / "stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0
    # after the name: state(0) ... utime(11) stime(12) cutime(13) cstime(14)
    ticks = int(fields[11]) + int(fields[12])
    return ticks + (int(fields[13]) + int(fields[14]) if reaped else 0)


def training_threads(current: int, busy: int | None, *, cores: int | None = None,
                     environ: Mapping[str, str] | None = None) -> int:
    """torch threads for a CPU training run: one per core that other programs leave free,
    at least 1 and at most ``current`` (torch's count now). ``busy``: threads of other
    programs running (``busy_threads_elsewhere``). ``current`` where the user chose
    (``OMP_NUM_THREADS``) or nothing is known of the rest (see the module docstring).
    """
    env = os.environ if environ is None else environ
    if env.get("OMP_NUM_THREADS") or busy is None:
        return current
    free = (available_cores() if cores is None else cores) - busy
    return max(1, min(current, free))


def session_options(*, intra_op_threads: int = 0, spinning: bool = True) -> Any:
    """onnxruntime SessionOptions for running beside torch: worker threads spin only while a
    ``run`` is in progress (``spinning=False``: never).

    ``intra_op_threads=0`` lets onnxruntime use one thread per physical core; the graph runs
    sequentially, so one inter-op thread is enough.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    flag = "1" if spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", flag)
    options.add_session_config_entry("session.inter_op.allow_spinning", flag)
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return options
