"""Checkpoints: our plain-dict format, the official-checkpoint importer, and one loader."""

from .format import checkpoint_dict, save_checkpoint
from .loading import LoadedWeights, cast_like, load_model, read_weights, transfer_matching

__all__ = [
    "LoadedWeights",
    "cast_like",
    "checkpoint_dict",
    "load_model",
    "read_weights",
    "transfer_matching",
    "save_checkpoint",
]
