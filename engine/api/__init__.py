"""The facade: ``YOLO(source)`` opens a model, whatever ``source`` holds.

- ``YOLO('yolov8n-seg.yaml')`` builds a new model and ``YOLO('best.pt')`` loads a trained one
  (ours or official): a ``TrainableModel`` (trainable.py), which trains, validates, predicts,
  exports, shows its layers (``info``), fuses, transfers weights (``load``) and saves.
- ``YOLO('best.onnx')`` (any export, or the ExportResult ``export()`` returns) opens an
  ``ExportedModel`` (exported.py), which predicts and validates through its runtime; what only
  the .pt can do raises ModelConfigError naming the file.

Both are ``YOLO``s (facade.py: the constructor and what they share, predict and val).
"""

from .exported import ExportedModel
from .facade import YOLO
from .trainable import TrainableModel, TransferReport

__all__ = ["YOLO", "ExportedModel", "TrainableModel", "TransferReport"]
