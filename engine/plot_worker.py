"""A child process that loads matplotlib while a run trains, then draws the run's last figures
side by side.

Why: on a small job the end of a run was mostly drawing. On the digits benchmark (yolov8n-cls,
32 px, 10 epochs, 2 cores) results.png and the two confusion matrices took 1.3-1.5 s after the
last epoch, one after the other: importing matplotlib (0.35 s), its first figure (fonts), then
0.25-0.5 s per figure. So the worker starts with the run: ``yolo train`` and the studio's
training process start it before they import torch (:func:`prestart`), else
``Plots.before_train`` does. It imports matplotlib and draws one throwaway figure at the
lowest priority, on CPU time the run leaves idle (the torch import keeps one core; a
yolov8n-cls epoch at 32 px ~1.6 of 2), then waits. At the end the run hands it each figure call
(``engine.plots.drawn_elsewhere``); each is drawn at once in a forked copy of the worker (on
Linux), so the figures are drawn in parallel, not in turn. A worker thread in the training
process was measured slower than no worker: the import takes the interpreter lock from the
training loop's many small operators. A process does not.

Nothing depends on the worker: a figure it could not draw (it failed to start, died, or the
call failed) is drawn again in the run's own process by :class:`FigureJobs`, so errors and
their messages are exactly those of drawing in-process.

Protocol, one JSON line each way: the run sends
``{"id": N, "function": NAME, "args": [...], "kwargs": {...}}`` (NAME one of
``engine.plots.FIGURE_FUNCTIONS``; numpy arrays as ``{"ndarray": [...], "dtype": "..."}``);
the worker answers ``{"id": N, "error": null}`` or the error's text. It exits when its stdin
closes, after the figures in hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .utils.child_process import stop_child

MODULE = "engine.plot_worker"


# -- the run's side ---------------------------------------------------------------------------


class PlotWorker:
    """The started worker process; :meth:`start` gives None where it cannot start."""

    def __init__(self, process: subprocess.Popen, stderr: Any) -> None:
        self._process = process
        self._stderr = stderr
        self._next_id = 0
        self._answers: dict[int, str | None] = {}
        self._lock = threading.Lock()
        self.alive = True

    @classmethod
    def start(cls, environment: dict[str, str] | None = None) -> PlotWorker | None:
        """The worker :func:`prestart` started for this run, else a new one (returns at once;
        it warms up on its own)."""
        global _PRESTARTED
        worker, _PRESTARTED = _PRESTARTED, None
        if worker is not None and worker.alive and worker._process.poll() is None:
            return worker
        return cls._launch(environment)

    @classmethod
    def _launch(cls, environment: dict[str, str] | None = None) -> PlotWorker | None:
        from .process.allocator import without_allocator

        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop_child
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=stderr, env=without_allocator(environment),
            )
        except OSError:
            stderr.close()
            return None
        return cls(process, stderr)

    def send(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
        """Hand one figure call to the worker: its job id, or None if the worker is gone."""
        with self._lock:
            if not self.alive:
                return None
            job = self._next_id
            self._next_id += 1
            line = json.dumps({"id": job, "function": function, "args": _encode(list(args)),
                               "kwargs": _encode(kwargs)})
            try:
                self._process.stdin.write(line.encode() + b"\n")
                self._process.stdin.flush()
            except (OSError, ValueError):
                self.alive = False
                return None
            return job

    def wait(self, jobs: set[int]) -> dict[int, str | None]:
        """Block until each of ``jobs`` is answered: job id -> None (drawn) or why not (an
        error, or the worker stopped). Answers to other jobs are kept for their own wait."""
        with self._lock:
            while jobs - self._answers.keys() and self.alive:
                line = self._process.stdout.readline()
                if not line:
                    self.alive = False
                    break
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    answer = json.loads(line)
                    if "id" in answer:
                        self._answers[int(answer["id"])] = answer.get("error")
            return {job: self._answers.pop(job, "the plot worker stopped") for job in jobs}

    def close(self, *, wait: bool = True) -> None:
        """Stop the worker (it finishes the figures in hand first). ``wait=False``, once every
        figure is answered, leaves its exit (~0.1 s, matplotlib's teardown) to a daemon
        thread instead of the run."""
        with self._lock:
            self.alive = False
        if wait:
            stop_child(self._process, self._stderr)
        else:
            threading.Thread(target=stop_child, args=(self._process, self._stderr),
                             name="plot-worker-exit", daemon=True).start()


_PRESTARTED: PlotWorker | None = None


def prestart() -> None:
    """Start the worker for the run this process is about to train, before it imports torch:
    matplotlib then loads on the core that import leaves idle (``yolo train`` and the studio's
    training process call it; the run's ``PlotWorker.start`` takes it over)."""
    global _PRESTARTED
    if _PRESTARTED is None:
        _PRESTARTED = PlotWorker._launch()


class FigureJobs:
    """Figure calls handed to a worker, each drawn in this process if the worker did not."""

    def __init__(self, worker: PlotWorker | None) -> None:
        self.worker = worker
        self._calls: dict[int, tuple[str, tuple, dict]] = {}
        self._local: list[tuple[str, tuple, dict]] = []

    def __call__(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """The ``engine.plots.drawn_elsewhere`` delegate."""
        job = self.worker.send(function, args, kwargs) if self.worker is not None else None
        if job is None:
            self._local.append((function, args, kwargs))
        else:
            self._calls[job] = (function, args, kwargs)

    @contextlib.contextmanager
    def delegated(self) -> Iterator[None]:
        """Inside, ``engine.plots``' figure functions come here instead of drawing."""
        from .plots import drawn_elsewhere

        with drawn_elsewhere(self):
            yield

    def finish(self) -> None:
        """Wait for the worker's figures, then draw here those it did not (in the order they
        were asked for); an error of that drawing is raised as it would be without a worker."""
        from .plots import FIGURE_FUNCTIONS

        answers = self.worker.wait(set(self._calls)) if self.worker is not None else {}
        again = [call for job, call in sorted(self._calls.items()) if answers.get(job)]
        self._calls = {}
        local, self._local = [*again, *self._local], []
        for function, args, kwargs in local:
            FIGURE_FUNCTIONS[function](*args, **kwargs)


def _encode(value: Any) -> Any:
    """JSON-ready arguments: arrays tagged with their dtype, paths as text, tuples as lists."""
    if isinstance(value, np.ndarray):
        return {"ndarray": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"ndarray", "dtype"}:
            return np.asarray(value["ndarray"], dtype=np.dtype(value["dtype"]))
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


# -- the worker's side ------------------------------------------------------------------------


def _warm_up() -> None:
    """Import matplotlib and draw one small figure with text (loads the fonts)."""
    import io

    from .plots import _new_figure

    figure = _new_figure((2.0, 1.5))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], marker=".")
    axes.set_title("warm-up")
    figure.savefig(io.BytesIO(), format="png")


def _draw(job: dict[str, Any]) -> str | None:
    """Run one figure call; None, or what went wrong."""
    from .plots import FIGURE_FUNCTIONS

    function = FIGURE_FUNCTIONS.get(str(job.get("function")))
    if function is None:
        return f"no figure function named {job.get('function')!r}"
    try:
        function(*_decode(job.get("args", [])), **_decode(job.get("kwargs", {})))
    except Exception as exc:  # noqa: BLE001 - reported; the run draws it again and raises
        return f"{type(exc).__name__}: {exc}"
    return None


class _Server:
    """Reads jobs from stdin and draws each in a forked child (Linux), answering as each ends."""

    def __init__(self, warm_up: _WarmUp) -> None:
        self.warm_up = warm_up
        self.selector = selectors.DefaultSelector()
        self.stdin = sys.stdin.buffer.fileno()
        self.selector.register(self.stdin, selectors.EVENT_READ)
        self.pending = b""
        self.children: dict[int, tuple[int, int, bytearray]] = {}  # read end -> (id, pid, text)
        self.can_fork = sys.platform.startswith("linux")

    def reply(self, job: int, error: str | None) -> None:
        os.write(sys.stdout.fileno(), json.dumps({"id": job, "error": error}).encode() + b"\n")

    def serve(self) -> None:
        reading = True
        while reading or self.children:
            for key, _ in self.selector.select():
                if key.fd == self.stdin:
                    reading = self._read_jobs()
                else:
                    self._read_child(key.fd)

    def _read_jobs(self) -> bool:
        data = os.read(self.stdin, 1 << 16)
        if not data:
            self.selector.unregister(self.stdin)
            return False
        self.pending += data
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            if line.strip():
                self._start(json.loads(line))
        return True

    def _start(self, job: dict[str, Any]) -> None:
        job_id = int(job.get("id", -1))
        self.warm_up.join()  # no thread but this one when forking
        if self.warm_up.error:
            self.reply(job_id, self.warm_up.error)
            return
        if not self.can_fork:
            self.reply(job_id, _draw(job))
            return
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the copy: draw, say how it went, leave without the parent's cleanup
            code = 1
            try:
                os.close(read_end)
                error = _draw(job)
                os.write(write_end, (error or "").encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        self.children[read_end] = (job_id, pid, bytearray())
        self.selector.register(read_end, selectors.EVENT_READ)

    def _read_child(self, fd: int) -> None:
        job_id, pid, text = self.children[fd]
        data = os.read(fd, 1 << 16)
        if data:
            text.extend(data)
            return
        self.selector.unregister(fd)
        os.close(fd)
        del self.children[fd]
        _, status = os.waitpid(pid, 0)
        if status != 0:
            self.reply(job_id, f"the figure's process stopped (status {status})")
        else:
            self.reply(job_id, text.decode("utf-8", "replace") or None)


def main() -> int:
    """The worker: warm up on a low-priority thread, draw until stdin closes."""
    warm_up = _WarmUp()
    warm_up.start()
    _Server(warm_up).serve()
    return 0


class _WarmUp(threading.Thread):
    """Imports matplotlib and draws a throwaway figure at the lowest priority (nice 19, this
    thread only, Linux): it takes only CPU time the training leaves idle. The figures
    themselves are drawn by forks of the main thread, at the normal priority."""

    def __init__(self) -> None:
        super().__init__(name="plot-worker-warm-up", daemon=True)
        self.error: str | None = None

    def run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # only where threads have a nice
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        try:
            _warm_up()
        except Exception as exc:  # noqa: BLE001 - each figure is then drawn by the run
            self.error = f"matplotlib could not be loaded: {exc}"


if __name__ == "__main__":
    sys.exit(main())
