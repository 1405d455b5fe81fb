"""A tiny TF.js graph model written without TensorFlow, for tests of the TF.js runner's set-up.

``write_web_model`` writes a ``*_web_model/`` folder as the TF.js exporter lays it out
(``model.json``, one weight shard, ``metadata.yaml``) holding a 3-class classifier: the image's
mean colour times a 3x3 matrix, then a softmax. ``expected_probs`` computes the same in NumPy,
so what the runner answers can be checked without TensorFlow (a real export needs a TensorFlow
conversion, which is slow; tests/engine/export/test_tensorflow.py covers those).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

WEIGHTS = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0], [2.0, 1.0, 1.0]], dtype=np.float32)
NAMES = {0: "red", 1: "green", 2: "blue"}
SIZE = 32
_F32 = {"type": "DT_FLOAT"}
_I32 = {"type": "DT_INT32"}


def _dims(*sizes: int) -> dict:
    return {"dim": [{"size": str(size)} for size in sizes]}


def _const(name: str, dtype: dict, *shape: int) -> dict:
    """A graph constant whose values come from the weight shard (by its node name)."""
    return {"name": name, "op": "Const", "attr": {
        "dtype": dtype, "value": {"tensor": {"dtype": dtype["type"], "tensorShape": _dims(*shape)}}
    }}


def _graph() -> list[dict]:
    channels, classes = WEIGHTS.shape
    return [
        {"name": "images", "op": "Placeholder",
         "attr": {"dtype": _F32, "shape": {"shape": _dims(1, SIZE, SIZE, channels)}}},
        _const("axes", _I32, 2),
        _const("weights", _F32, channels, classes),
        {"name": "mean", "op": "Mean", "input": ["images", "axes"],
         "attr": {"T": _F32, "Tidx": _I32, "keep_dims": {"b": False}}},
        {"name": "logits", "op": "MatMul", "input": ["mean", "weights"],
         "attr": {"T": _F32, "transpose_a": {"b": False}, "transpose_b": {"b": False}}},
        {"name": "probs", "op": "Softmax", "input": ["logits"], "attr": {"T": _F32}},
        {"name": "Identity", "op": "Identity", "input": ["probs"], "attr": {"T": _F32}},
    ]


def write_web_model(folder: Path) -> Path:
    """The tiny classifier as ``folder`` (a ``*_web_model`` name), ready for ``YOLO(folder)``."""
    folder.mkdir(parents=True)
    channels, classes = WEIGHTS.shape
    manifest = {
        "format": "graph-model", "generatedBy": "tests", "convertedBy": "tests",
        "signature": {
            "inputs": {"images:0": {"name": "images:0", "dtype": "DT_FLOAT",
                                    "tensorShape": _dims(1, SIZE, SIZE, channels)}},
            "outputs": {"output0": {"name": "Identity:0", "dtype": "DT_FLOAT",
                                    "tensorShape": _dims(1, classes)}},
        },
        "modelTopology": {"node": _graph(), "library": {}, "versions": {}},
        "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": [
            {"name": "axes", "shape": [2], "dtype": "int32"},
            {"name": "weights", "shape": [channels, classes], "dtype": "float32"},
        ]}],
    }
    (folder / "model.json").write_text(json.dumps(manifest))
    shard = np.array([1, 2], "<i4").tobytes() + WEIGHTS.astype("<f4").tobytes()  # H, W axes
    (folder / "group1-shard1of1.bin").write_bytes(shard)
    metadata = {"description": "tiny TF.js test classifier", "author": "YOLO Studio",
                "names": NAMES, "channels": channels, "task": "classify", "stride": 1,
                "imgsz": [SIZE, SIZE], "batch": 1, "args": {"imgsz": SIZE, "batch": 1}}
    (folder / "metadata.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))
    return folder


def expected_probs(images_nchw: np.ndarray) -> np.ndarray:
    """What the model answers for a float32 NCHW batch."""
    logits = images_nchw.mean(axis=(2, 3)) @ WEIGHTS
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)
