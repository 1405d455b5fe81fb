"""Checkpoints: our plain-dict format, the official-checkpoint importer, and one loader."""

from .format import checkpoint_dict, save_checkpoint
from .loading import LoadedWeights, load_model, read_weights

__all__ = ["LoadedWeights", "checkpoint_dict", "load_model", "read_weights", "save_checkpoint"]
