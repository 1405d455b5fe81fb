"""The tasks: one module per task, each registering one ``Task`` (base.py) with the registry.

``get_task("segment")`` gives everything the code asks about a task: its model names, default
image size, key metric and fitness, what the studio annotates for it, and the pieces the lower
packages run (training hooks, the val run, prediction steps, the export's parity rule and
sample images). A new task is one module here plus its import below.

This package sits above engine.train / val / predict / export and below engine.api, engine.cli
and engine.benchmark: those lower packages never import it, they are handed its pieces.
"""

# Each module registers its task; the order here is the registry's, which messages follow.
# isort: off
from . import classify  # noqa: F401
from . import segment  # noqa: F401
from . import pose  # noqa: F401
from . import detect  # noqa: F401

# isort: on
from .base import Task
from .registry import all_tasks, find_task, get_task, register, task_for, task_names

__all__ = ["Task", "all_tasks", "find_task", "get_task", "register", "task_for", "task_names"]
