"""Prediction latency of yolov8n-cls at 224, batch 1, on an 810×1080 photo-sized JPEG (CPU).

Reference on this machine: 4.9 ms preprocess + 7.7 ms inference (PyTorch); 3.6 ms inference
through onnxruntime. Prints our per-stage medians (the ``Results.speed`` of each call) and the
end-to-end time of ``model(image)`` on a decoded image.

Run: .venv/bin/python benchmarks/classify_predict.py [--runs 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from engine.process.threads import configure_threads

configure_threads()  # as the yolo command does, before torch loads

from engine import YOLO  # noqa: E402
from engine.data.images import read_image  # noqa: E402
from engine.events import ignore  # noqa: E402

REFERENCE = {"preprocess": 4.9, "inference": 7.7, "onnx_inference": 3.6}


def photo(path: Path) -> Path:
    """A 1080×810 (portrait) JPEG with photo-like structure: gradients, shapes and noise."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:1080, 0:810].astype(np.float32)
    image = np.stack([x / 810 * 255, y / 1080 * 255, (x + y) / 1890 * 255], -1)
    for _ in range(40):
        centre = (int(rng.integers(0, 810)), int(rng.integers(0, 1080)))
        cv2.circle(image, centre, int(rng.integers(10, 120)), rng.integers(0, 255, 3).tolist(), -1)
    image += rng.normal(0, 12, image.shape)
    cv2.imwrite(str(path), np.clip(image, 0, 255).astype(np.uint8))
    return path


def measure(model: YOLO, image: np.ndarray, runs: int) -> dict[str, float]:
    for _ in range(10):
        model(image)
    stages: dict[str, list[float]] = {"preprocess": [], "inference": [], "postprocess": []}
    total = []
    for _ in range(runs):
        started = time.perf_counter()
        result = model(image)[0]
        total.append((time.perf_counter() - started) * 1000)
        for key in stages:
            stages[key].append(result.speed[key])
    out = {k: statistics.median(v) for k, v in stages.items()}
    out["end_to_end"] = statistics.median(total)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        image = read_image(photo(Path(tmp) / "photo.jpg"))
        checkpoint = YOLO("yolov8n-cls.yaml", progress=ignore).save(Path(tmp) / "n-cls.pt")
        torch_model = YOLO(checkpoint, progress=ignore)
        ours = measure(torch_model, image, args.runs)
        onnx_path = torch_model.export(format="onnx", imgsz=224, progress=ignore)
        onnx_model = YOLO(onnx_path, progress=ignore)
        ort = measure(onnx_model, image, args.runs)
    reference_total = REFERENCE["preprocess"] + REFERENCE["inference"]
    print(f"image {image.shape[1]}x{image.shape[0]}, imgsz 224, batch 1, {args.runs} runs")
    print(f"PyTorch : preprocess {ours['preprocess']:.2f} ms, inference {ours['inference']:.2f} "
          f"ms, postprocess {ours['postprocess']:.2f} ms; end to end {ours['end_to_end']:.2f} ms")
    print(f"          reference {REFERENCE['preprocess']} + {REFERENCE['inference']} = "
          f"{reference_total:.1f} ms; ours/reference = {ours['end_to_end'] / reference_total:.2f}"
          " (target <= 0.70)")
    print(f"ONNX    : preprocess {ort['preprocess']:.2f} ms, inference {ort['inference']:.2f} ms; "
          f"end to end {ort['end_to_end']:.2f} ms (reference inference "
          f"{REFERENCE['onnx_inference']} ms)")


if __name__ == "__main__":
    sys.exit(main())
