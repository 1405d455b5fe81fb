"""Network blocks, heads, the yaml builder and the packaged model configs."""

from .model import TaskModel
from .zoo import build_model, resolve_model_spec, zoo_names

__all__ = ["TaskModel", "build_model", "resolve_model_spec", "zoo_names"]
