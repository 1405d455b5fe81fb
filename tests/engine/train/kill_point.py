"""Test-only ``yolo``: the CLI in this process, killed with SIGKILL at one exact point of a save.

``YOLO_TEST_KILL=<when>:<file name>:<n>`` picks the n-th atomic write of a file of that name:
- ``open``: right after its temp file is created (a 0 B ``.<name>.<pid>.<random>.tmp`` is left);
- ``before``: when the temp file is complete, just before it replaces the file (a full-size
  temp file is left; the old file is untouched);
- ``after``: just after it replaced the file.
``YOLO_TEST_KILL_STEP=<rank>:<n>`` kills rank ``<rank>`` of a distributed run (torchrun's
``RANK``) at its n-th optimizer step (a rank that dies mid-epoch).
Without the variables it is the plain CLI. Usage: ``python kill_point.py classify train ...``
(or ``torchrun --nproc_per_node 2 kill_point.py ...``).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(spec: str) -> None:
    """Wrap ``os.replace`` and ``os.chmod`` (the atomic writer's rename and its first call on
    a new temp file) so the process dies at the point ``spec`` names."""
    when, name, nth = spec.split(":")
    count = {"open": 0, "replace": 0}
    real_replace, real_chmod = os.replace, os.chmod

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name != name:
            return real_replace(src, dst, *args, **kwargs)
        count["replace"] += 1
        hit = count["replace"] == int(nth)
        if hit and when == "before":
            _kill()
        real_replace(src, dst, *args, **kwargs)
        if hit and when == "after":
            _kill()

    def chmod(path, mode, *args, **kwargs):
        real_chmod(path, mode, *args, **kwargs)
        if when == "open" and Path(path).name.startswith(f".{name}."):
            count["open"] += 1
            if count["open"] == int(nth):
                _kill()

    os.replace, os.chmod = replace, chmod


def install_step_kill(spec: str) -> None:
    """Wrap the trainer's optimizer step so that rank ``<rank>`` dies at its n-th call."""
    rank, nth = (int(part) for part in spec.split(":"))
    if int(os.environ.get("RANK", "0")) != rank:
        return
    from engine.process.threads import configure_threads

    configure_threads()  # before the trainer's import loads torch, as the CLI does
    from engine.train import trainer

    real_step, count = trainer.optimizer_step, [0]

    def optimizer_step(*args, **kwargs):
        count[0] += 1
        if count[0] == nth:
            _kill()
        return real_step(*args, **kwargs)

    trainer.optimizer_step = optimizer_step


if __name__ == "__main__":
    if os.environ.get("YOLO_TEST_KILL"):
        install(os.environ["YOLO_TEST_KILL"])
    if os.environ.get("YOLO_TEST_KILL_STEP"):
        install_step_kill(os.environ["YOLO_TEST_KILL_STEP"])
    from engine.cli import main

    raise SystemExit(main(sys.argv[1:]))
