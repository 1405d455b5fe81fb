"""Train, Evaluate, Predict and Export pages until they are built: each says plainly what it
will do and how to do it today with the ``yolo`` command."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from .empty_state import EmptyState

TEXTS = {
    "Train": "Point-and-click training with live plots is not in this version yet. Until it "
             "is: File → Export dataset → YOLO format, then `yolo TASK train "
             "data=<folder>/data.yaml model=yolov8n-TASK.yaml`.",
    "Evaluate": "Metrics, confusion matrices and PR curves of a run are not in this version "
                "yet. `yolo TASK val model=best.pt` writes them to runs/.",
    "Predict": "The prediction overlay viewer is not in this version yet. `yolo TASK predict "
               "model=best.pt source=<images> save=True` draws predictions on your images.",
    "Export": "The export wizard is not in this version yet. `yolo export model=best.pt "
              "format=onnx` (or openvino, tflite, …) exports and checks a model.",
}


class ComingPage(QWidget):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addWidget(EmptyState(f"{title} — coming in the next version", TEXTS[title]))
