"""Run folders and what a run yields: ``runs/<task>/<mode>N`` folders, one validation pass's
figures (:class:`Validation`) and a training run's outcome (:class:`TrainResult`).

Below both ``engine.train`` and ``engine.val``: each reads and writes these, neither imports
the other for them.
"""

from .run_dir import latest_checkpoint, remove_if_no_files, run_dir
from .train_result import TrainResult
from .validation import Validation

__all__ = ["TrainResult", "Validation", "latest_checkpoint", "remove_if_no_files", "run_dir"]
