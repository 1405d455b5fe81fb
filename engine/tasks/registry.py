"""The registry: task names to ``Task`` values. A task module calls ``register`` once; a new
task is one module plus its import in ``engine/tasks/__init__.py``."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelConfigError
from ..version import __version__
from .base import Task

_TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add ``task`` under its name (a name registered twice is a programming error)."""
    if task.name in _TASKS:
        raise ValueError(f"task {task.name!r} is registered twice")
    _TASKS[task.name] = task
    return task


def all_tasks() -> tuple[Task, ...]:
    """Every registered task, in the order registered."""
    return tuple(_TASKS.values())


def task_names() -> tuple[str, ...]:
    """The registered names, in the order registered."""
    return tuple(_TASKS)


def find_task(name: str | None) -> Task | None:
    """The task called ``name``, or None."""
    return _TASKS.get(name) if name is not None else None


def get_task(name: str | None) -> Task:
    """The task called ``name``; a ModelConfigError naming the known tasks otherwise."""
    task = find_task(name)
    if task is None:
        raise ModelConfigError(
            f"unknown task {name!r}; the tasks are {', '.join(_TASKS)}", key="task"
        )
    return task


def task_for(name: str, doing: str, *, path: str | Path | None = None) -> Task:
    """The task called ``name``, for ``doing`` ("training", "validating", "predicting with").

    A model of a task this engine has no module for (a detection model from yolov8n.yaml, say)
    gets a message naming what is available, and the file when there is one.
    """
    task = find_task(name)
    if task is None:
        raise ModelConfigError(
            f"{doing} {name} models is not available in engine {__version__} yet; "
            f"{_titles()} are",
            path=path,
            key=None if path else "model",
        )
    return task


def _titles() -> str:
    titles = [task.title for task in _TASKS.values()]
    return " and ".join(titles) if len(titles) < 3 else f"{', '.join(titles[:-1])} and {titles[-1]}"
