"""One validation pass's figures, as training and ``yolo val`` both report them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Validation:
    """One validation pass: ``metrics`` use results.csv column names; higher fitness is better."""

    metrics: Mapping[str, float]
    fitness: float
    losses: Mapping[str, float] = field(default_factory=dict)
    details: Any = None  # the task's own metrics object (confusion matrix, per-class figures)
