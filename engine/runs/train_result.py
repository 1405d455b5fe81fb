"""What a finished (or stopped) training run left behind."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .validation import Validation


@dataclass
class TrainResult:
    """What a finished (or stopped) run left behind."""

    save_dir: Path
    status: str
    epochs_completed: int
    best: Path | None = None
    last: Path | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    best_fitness: float | None = None
    seconds: float = 0.0
    validation: Validation | None = None
    final_metrics: dict[str, float] = field(default_factory=dict)
    """best.pt's validation metrics (``metrics`` is the last epoch's results.csv row)."""
    phase_seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds by phase of the run (``setup``, ``dataset``, ``train``, ``val``,
    ``epoch_hooks``, ``end``, ...): where the time went, for benchmarks and the curious."""

    def __getattr__(self, name: str):
        """``result.top1`` etc.: the task's metrics of best.pt (e.g. ClassifyMetrics)."""
        details = getattr(self.__dict__.get("validation"), "details", None)
        if details is not None and not name.startswith("_"):
            return getattr(details, name)
        raise AttributeError(name)
