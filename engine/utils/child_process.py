"""Ending a child process that reads its work from stdin (the runtime workers, the studio's
training process)."""

from __future__ import annotations

import signal
import subprocess
from typing import IO, Any


def stop_child(process: subprocess.Popen, stderr: IO[Any], *, timeout: float = 5.0) -> None:
    """Close the child's stdin (it exits when its input ends), give it ``timeout`` seconds to
    do so, else kill it; then close its stdout and the file its stderr went to."""
    try:
        if process.stdin:
            process.stdin.close()
        process.wait(timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()
    finally:
        if process.stdout:
            process.stdout.close()
        stderr.close()


def describe_exit(runtime: str, returncode: int | None, doing: str = "") -> str:
    """``the OpenVINO runtime crashed (signal 6, SIGABRT) while exporting`` for a child killed
    by a signal (a native abort, a segfault, the kernel's out-of-memory killer), else ``the
    OpenVINO worker process stopped (exit code 1)``."""
    while_doing = f" while {doing}" if doing else ""
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        hint = " (out of memory?)" if -returncode == signal.SIGKILL else ""
        return f"the {runtime} runtime crashed (signal {-returncode}, {name}){hint}{while_doing}"
    return f"the {runtime} worker process stopped (exit code {returncode}){while_doing}"
