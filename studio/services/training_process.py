"""Training in a child process, so the window's event loop never waits on it.

Trained on a thread of the app's own process, the engine held Python's lock for 100–300 ms
twice an epoch, and the window froze that long: the event loop's p99 gap was 107 ms over the
demo's 20 epochs (benchmarks/studio_train_stall.py). Here the engine trains in ``python -m
studio.services.training_process`` at a lower priority (nice 10): p99 18 ms. The parent keeps
the database and the project lock.

Protocol: the parent writes one JSON line (the job) to the child's stdin; the child answers with
one JSON line per engine event (``{"event": "EpochEnd", "fields": {...}}``), then
``{"finished": status}`` or ``{"error": message}``. A line ``cancel`` on its stdin sets the
child's cancel token (the engine stops at its next safe point, as on Ctrl+C).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine import events as engine_events
from engine.cancel import CancelToken
from engine.errors import EngineError
from engine.process.allocator import training_environment
from engine.utils.child_process import stop_child

from .child_job import forward_cancel, listen_for_cancel

CHILD_EXIT_S = 30.0
"""How long the training process may take to exit once its input is closed, before a kill."""


class ChildTrainingFailed(EngineError):
    """The child process reported a failure (its message is meant for the user)."""


@dataclass(frozen=True)
class ChildResult:
    status: str


def train_in_child(job: Mapping[str, Any], reporter: Callable[[Any], None],
                   cancel: CancelToken) -> ChildResult:
    """Run ``job`` (see ``_train``) in a child process; its events go to ``reporter``."""
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "studio.services.training_process"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1,
        env=training_environment(),  # the faster allocator, as `yolo train` has it
    )
    stop_watch = threading.Event()
    watcher = threading.Thread(target=forward_cancel, args=(process, cancel, stop_watch),
                               daemon=True)
    answered = False
    try:
        process.stdin.write(json.dumps(dict(job)) + "\n")
        process.stdin.flush()
        watcher.start()
        for line in process.stdout:
            answer = json.loads(line)
            if "event" in answer:
                reporter(engine_events.event_from_payload(answer))
            elif "finished" in answer:
                answered = True
                return ChildResult(answer["finished"])
            elif "error" in answer:
                answered = True
                raise ChildTrainingFailed(answer["error"])
        process.wait()
        stderr.seek(0)
        last = stderr.read().decode("utf-8", "replace").strip().splitlines()[-1:] or ["none"]
        raise ChildTrainingFailed(f"the training process stopped (exit code "
                                  f"{process.returncode}); its last words: {last[0][:300]}")
    finally:
        stop_watch.set()
        if answered:  # the outcome is known and its files written: the child's own exit (torch's
            # teardown, about 0.5 s) need not delay the window's Stop; it is reaped aside
            threading.Thread(target=stop_child, args=(process, stderr),
                             kwargs={"timeout": CHILD_EXIT_S}, daemon=True).start()
        else:
            stop_child(process, stderr, timeout=CHILD_EXIT_S)


# -- the child ------------------------------------------------------------------------------


_PROTOCOL: list[Any] = []  # the child's real stdout, once main() has moved sys.stdout aside


def _send(payload: Mapping[str, Any]) -> None:
    out = _PROTOCOL[0] if _PROTOCOL else sys.stdout
    out.write(json.dumps(payload, default=engine_events.json_default) + "\n")
    out.flush()


def _report(event: Any) -> None:
    payload = engine_events.event_payload(event)
    if payload is not None:
        _send(payload)


def _train(job: Mapping[str, Any], cancel: CancelToken) -> str:
    """``job``: ``model`` (yaml or checkpoint), ``build`` (yaml overrides), ``resume`` (bool),
    ``settings`` (train settings)."""
    from engine import YOLO

    model = YOLO(job["model"], **dict(job.get("build") or {}))
    resume = {"resume": True} if job.get("resume") else {}
    return model.train(progress=_report, cancel=cancel, **resume,
                       **dict(job.get("settings") or {})).status


def main() -> None:
    """The child: read the job, train, report; never anything else on stdout."""
    from engine.process.threads import configure_threads

    configure_threads()
    if hasattr(os, "nice"):
        os.nice(10)  # the window first: it gets the CPU whenever it needs it
    from engine.errors import Cancelled

    from .training import failure_message

    _PROTOCOL.append(sys.stdout)
    sys.stdout = sys.stderr  # anything else printed must not break the protocol
    job = json.loads(sys.stdin.readline())
    if (job.get("settings") or {}).get("plots", True) is not False:
        from engine.plot_worker import prestart

        prestart()  # matplotlib loads while this process imports torch
    cancel = CancelToken()
    threading.Thread(target=listen_for_cancel, args=(cancel,), daemon=True).start()
    try:
        status = _train(job, cancel)
    except (Cancelled, KeyboardInterrupt):
        status = "cancelled"
    except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent as words
        _send({"error": failure_message(exc)})
        sys.exit(1)
    _send({"finished": status})


if __name__ == "__main__":
    main()
