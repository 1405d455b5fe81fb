"""The one adapter from the engine's events to a Job's progress.

A Job's work function reports ``progress(done, total, text)``; the engine reports frozen events
to a Reporter. :class:`ProgressReporter` is that Reporter: a ``StepEnd`` becomes a progress call
(across all epochs while training, batch by batch otherwise), a ``Warning`` is kept for the
result, and every event can go on to ``forward`` (the training feed). Training, evaluation and
predictions all use it, so an event reads the same wherever it arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.events import RunStarted, StepEnd, Warning

from .image_files import Progress, no_progress


def step_progress(event: StepEnd, what: str = "") -> tuple[int, int, str]:
    """``(done, total, text)`` of a step: over every epoch of a training run ("epoch 3/30"),
    else over the batches of one pass ("validating: batch 2 of 5")."""
    if event.epochs:
        done = (event.epoch - 1) * event.steps + event.step
        return done, event.epochs * event.steps, f"epoch {event.epoch}/{event.epochs}"
    text = f"batch {event.step} of {event.steps}"
    return event.step, event.steps, f"{what}: {text}" if what else text


def say_compiling(event: Any, progress: Progress) -> None:
    """Show what a checkpoint's first prediction compiles, if ``event`` says so: the engine's
    fast CPU path exports it once for a faster runtime (a run of mode ``export``)."""
    if isinstance(event, RunStarted) and event.mode == "export" and event.description:
        progress(0, 0, event.description)


@dataclass
class ProgressReporter:
    """An engine Reporter for a Job (see the module docstring).

    ``mode`` limits the progress to the steps of one mode ("train": a training run's validation
    batches do not move its bar); ``what`` names a pass that has no epochs ("validating").
    """

    progress: Progress = no_progress
    what: str = ""
    mode: str | None = None
    forward: Callable[[Any], None] | None = None
    warnings: list[Warning] = field(default_factory=list)
    """The run's warnings, oldest first."""

    def __call__(self, event: Any) -> None:
        if self.forward is not None:
            self.forward(event)
        if isinstance(event, StepEnd):
            if self.mode is None or event.mode == self.mode:
                self.progress(*step_progress(event, self.what))
        elif isinstance(event, Warning):
            self.warnings.append(event)
        else:
            say_compiling(event, self.progress)

    @property
    def messages(self) -> list[str]:
        """The warnings' messages, oldest first."""
        return [warning.message for warning in self.warnings]
