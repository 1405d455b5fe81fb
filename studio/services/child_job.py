"""One job in a child Python process, so that native code that crashes takes only the child.

Exports (and the runtimes their parity checks load) are third-party native code: OpenVINO
aborted the whole app beside a preloaded allocator, a broken install can segfault at import.
Run in ``python -m MODULE``, such a crash ends the child, and the parent turns its exit status
into words (``the OpenVINO runtime crashed (signal 6, SIGABRT) while exporting``).

Protocol: the parent writes the job as one JSON line to the child's stdin; the child answers
with one JSON line, ``{"result": ...}``, ``{"cancelled": true}`` or ``{"error": message}``. A
line ``cancel`` on its stdin (or stdin closing) sets the child's cancel token. The child's fd 1
is its stderr for everything but the answer, so nothing a runtime prints can corrupt it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from typing import IO, Any

from engine.cancel import CancelToken
from engine.errors import Cancelled, EngineError
from engine.process.allocator import without_allocator
from engine.utils.child_process import describe_exit, stop_child

CHILD_EXIT_S = 30.0


class ChildCrashed(EngineError):
    """The child ended without an answer (a native crash, a kill); ``message`` says how."""

    def __init__(self, message: str, *, returncode: int | None, details: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.details = details


def run_child(module: str, job: Mapping[str, Any], *, cancel: CancelToken, runtime: str,
              doing: str) -> Any:
    """Run ``job`` in ``python -m module``; return its result. Raises ``Cancelled``, an
    ``EngineError`` with the child's message, or ``ChildCrashed`` naming ``runtime`` and
    ``doing`` (``OpenVINO``, ``exporting``) with the child's last words as ``details``."""
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop_child
    process = subprocess.Popen([sys.executable, "-m", module], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1,
                               env=without_allocator())
    done = threading.Event()
    threading.Thread(target=forward_cancel, args=(process, cancel, done), daemon=True).start()
    try:
        process.stdin.write(json.dumps(dict(job)) + "\n")
        process.stdin.flush()
        line = process.stdout.readline()
    except (BrokenPipeError, OSError):
        line = ""
    finally:
        done.set()
    if not line:  # it ended without answering: its exit status and last words say how
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=CHILD_EXIT_S)
        details = _tail(stderr)
        stop_child(process, stderr, timeout=CHILD_EXIT_S)
        raise ChildCrashed(describe_exit(runtime, process.returncode, doing),
                           returncode=process.returncode, details=details)
    stop_child(process, stderr, timeout=CHILD_EXIT_S)
    answer = json.loads(line)
    if answer.get("cancelled"):
        raise Cancelled("stopped on request")
    if "error" in answer:
        raise EngineError(answer["error"])
    return answer["result"]


def _tail(stderr: IO[Any], lines: int = 8) -> str:
    stderr.seek(0)
    text = stderr.read().decode("utf-8", "replace").strip().splitlines()
    return "\n".join(text[-lines:]) or "(it printed nothing)"


def forward_cancel(process: subprocess.Popen, cancel: CancelToken,
                   done: threading.Event) -> None:
    """Write ``cancel`` to the child's stdin once ``cancel`` is set (until ``done``)."""
    while not done.wait(0.1):
        if cancel.cancelled:
            try:
                process.stdin.write("cancel\n")
                process.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass
            return


# -- the child ------------------------------------------------------------------------------


def serve(work: Callable[[Mapping[str, Any], CancelToken], Any]) -> None:
    """The child's main: read the job, run ``work(job, cancel)``, answer once, exit."""
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else printed, by Python or native code, goes to stderr
    sys.stdout = sys.stderr
    job = json.loads(sys.stdin.readline())
    cancel = CancelToken()
    threading.Thread(target=listen_for_cancel, args=(cancel,), daemon=True).start()
    try:
        answer: dict[str, Any] = {"result": work(job, cancel)}
    except (Cancelled, KeyboardInterrupt):
        answer = {"cancelled": True}
    except EngineError as exc:
        answer = {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - every failure goes to the parent as words
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    answers.write(json.dumps(answer) + "\n")
    answers.flush()


def listen_for_cancel(cancel: CancelToken) -> None:
    """In the child: set ``cancel`` on a ``cancel`` line or when stdin ends."""
    for line in sys.stdin:
        if line.strip() == "cancel":
            break
    cancel.cancel()  # asked to, or the parent went away: stop at the next safe point
