"""What a task plugs into the shared training loop: its data, its loss, its validation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from ..cancel import CancelToken
from ..config import Settings
from ..data.loader import BatchLoader
from ..nn.model import TaskModel
from ..runs.validation import Validation


@dataclass
class TaskData:
    """Loaders and class names for one run (``val`` is None when there is nothing to validate)."""

    train: BatchLoader
    val: BatchLoader | None
    names: dict[int, str]
    root: Path
    description: str = ""


WarningSink = Callable[[str, str | None], None]


class TaskHooks(Protocol):
    """The task-specific half of training. ``loss_names`` label the columns ``train/<name>``.

    A task whose loss is the batch's sum rather than its mean sets ``loss_sums_batch = True``
    (a class attribute, False when absent): a distributed run then scales it by the number of
    processes, so that the same total batch gives the same gradient.
    """

    task: str
    loss_names: tuple[str, ...]

    def build_data(
        self,
        settings: Settings,
        imgsz: int,
        batch: int,
        *,
        warn: WarningSink,
        cancel: CancelToken,
    ) -> TaskData: ...

    def adapt_model(self, model: TaskModel, names: dict[int, str]) -> TaskModel: ...

    def loss(
        self, model: TaskModel, preds: Any, batch: dict
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def validate(
        self,
        model: TaskModel,
        loader: BatchLoader,
        device: torch.device,
        *,
        half: bool,
        cancel: CancelToken,
    ) -> Validation: ...

    def plot_batch(self, batch: dict, names: dict[int, str], path: Path) -> None: ...

    def final_plots(
        self, validation: Validation, save_dir: Path, names: dict[int, str]
    ) -> None: ...
