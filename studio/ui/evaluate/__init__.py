"""The Evaluate page (metrics, confusion matrix, PR curves, the images behind them)."""

from .page import EvaluatePage

__all__ = ["EvaluatePage"]
