"""Where a run's time goes: seconds per phase (set-up, dataset, training, validation, the
epoch hooks, the ending), for ``TrainResult.phase_seconds`` and benchmarks/small_jobs.py."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator


class PhaseClock:
    """Adds up wall seconds by phase name; phases may nest (each counts its own span)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        started = self.clock()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + self.clock() - started
