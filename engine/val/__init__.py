"""Validation: metrics accumulated over batches (the validators arrive with each task)."""

from .classify_metrics import ClassifyMetrics

__all__ = ["ClassifyMetrics"]
