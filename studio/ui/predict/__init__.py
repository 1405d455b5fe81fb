"""The Predict page: prediction overlays with live thresholds, and pre-labelling."""

from .page import PredictPage

__all__ = ["PredictPage"]
