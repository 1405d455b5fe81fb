"""Ending a child process that reads its work from stdin (the runtime workers, the studio's
training process)."""

from __future__ import annotations

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
