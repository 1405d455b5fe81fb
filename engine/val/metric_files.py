"""The CSV files of the detection metrics (confusion matrix, curves), each written atomically."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..utils.atomic import atomic_writer


def write_csv(path: str | Path, rows: list[list[str]]) -> Path:
    """Write ``rows`` as CSV (UTF-8, ``\\n`` line ends) to ``path`` atomically; return the path."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    with atomic_writer(path) as handle:
        handle.write(buffer.getvalue().encode("utf-8"))
    return Path(path)


def write_curve_csv(
    path: Path, x_label: str, x: np.ndarray, y: np.ndarray, labels: Sequence[str]
) -> Path:
    """One row per x value: x, the mean over classes ('all'), then one column per class."""
    mean = y.mean(0) if len(y) else np.full(len(x), math.nan)
    rows = [[x_label.lower(), "all", *labels]]
    rows += [
        [f"{x[i]:.6g}", f"{mean[i]:.6g}", *(f"{value:.6g}" for value in y[:, i])]
        for i in range(len(x))
    ]
    return write_csv(path, rows)
