"""Where a run stands between epochs, as one value that goes into last.pt and comes back out.

With the weights, optimizer, EMA, scaler and RNG states (``setup.restore``), this is all a
resumed run needs: resume is a pure function of (checkpoint, settings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LoopProgress:
    """The last finished epoch (0-based; -1 before the first), the best fitness so far and the
    epoch that reached it, and one results.csv row per finished epoch."""

    epoch: int = -1
    best_fitness: float | None = None
    best_epoch: int = -1
    history: tuple[Mapping[str, float], ...] = ()

    @property
    def next_epoch(self) -> int:
        """The epoch (0-based) the loop runs next."""
        return self.epoch + 1

    @property
    def epochs_completed(self) -> int:
        return self.epoch + 1

    @property
    def last_row(self) -> dict[str, float]:
        """The last finished epoch's results.csv row ({} before the first)."""
        return dict(self.history[-1]) if self.history else {}

    def after_epoch(
        self, epoch: int, metrics: Mapping[str, float], fitness: float
    ) -> tuple[LoopProgress, bool]:
        """This progress with ``epoch`` finished; True when its fitness is the best so far
        (ties go to the later epoch)."""
        is_best = self.best_fitness is None or fitness >= self.best_fitness
        row = {k: float(v) for k, v in metrics.items()}
        return LoopProgress(
            epoch,
            fitness if is_best else self.best_fitness,
            epoch if is_best else self.best_epoch,
            (*self.history, row),
        ), is_best

    def state(self) -> dict[str, Any]:
        """The keys this progress adds to a checkpoint's ``train_state`` (plain data)."""
        return {
            "best_fitness": self.best_fitness,
            "best_epoch": self.best_epoch,
            "history": [dict(row) for row in self.history],
        }

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping[str, Any]) -> LoopProgress:
        """The progress a last.pt holds (its ``epoch`` and ``train_state``). Checkpoints from
        before ``best_epoch`` and ``history`` were kept read as best at their own epoch, with
        no earlier rows."""
        state = checkpoint["train_state"]
        epoch = int(checkpoint["epoch"])
        return cls(
            epoch,
            state.get("best_fitness"),
            int(state.get("best_epoch", epoch)),
            tuple(dict(row) for row in state.get("history", [])),
        )
