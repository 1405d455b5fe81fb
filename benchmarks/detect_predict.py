"""Prediction latency of yolov8n-seg / -pose at 640, batch 1, on an 810×1080 photo (CPU).

Reference on this machine: segment 119 ms inference (PyTorch) and 72 ms through onnxruntime;
pose 100 ms and 71 ms. Prints our
per-stage medians (``Results.speed``: preprocess, inference, postprocess with masks) and the
end-to-end time of ``model(image)``. Random weights with a low confidence threshold give a
realistic number of masks to decode (``--conf``, ``--max-det``).

Run: .venv/bin/python benchmarks/detect_predict.py [--task segment|pose] [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from engine.process.threads import configure_threads

configure_threads()  # as the yolo command does, before torch loads

from classify_predict import photo  # noqa: E402

from engine import YOLO  # noqa: E402
from engine.data.images import read_image  # noqa: E402
from engine.events import ignore  # noqa: E402

REFERENCE = {
    "segment": {"inference": 119.0, "onnx_inference": 72.0},
    "pose": {"inference": 100.0, "onnx_inference": 71.0},
}


def measure(model: YOLO, image, runs: int, **options) -> dict[str, float]:
    for _ in range(3):
        model(image, **options)
    stages: dict[str, list[float]] = {"preprocess": [], "inference": [], "postprocess": []}
    total, counts = [], []
    for _ in range(runs):
        started = time.perf_counter()
        result = model(image, **options)[0]
        total.append((time.perf_counter() - started) * 1000)
        counts.append(len(result.boxes))
        for key in stages:
            stages[key].append(result.speed[key])
    out = {k: statistics.median(v) for k, v in stages.items()}
    out["end_to_end"] = statistics.median(total)
    out["objects"] = statistics.median(counts)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("segment", "pose"), default="segment")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--conf", type=float, default=0.01)
    parser.add_argument("--max-det", type=int, default=20)
    args = parser.parse_args()
    options = {"conf": args.conf, "max_det": args.max_det, "imgsz": 640}
    with tempfile.TemporaryDirectory() as tmp:
        image = read_image(photo(Path(tmp) / "photo.jpg"))
        checkpoint = YOLO(
            f"yolov8n-{'seg' if args.task == 'segment' else 'pose'}.yaml", progress=ignore
        ).save(Path(tmp) / "model.pt")
        model = YOLO(checkpoint, progress=ignore)
        ours = measure(model, image, args.runs, **options)
        onnx = YOLO(model.export(format="onnx", imgsz=640, progress=ignore), progress=ignore)
        ort = measure(onnx, image, args.runs, **options)
    print(
        f"image {image.shape[1]}x{image.shape[0]}, imgsz 640, batch 1, {args.runs} runs, "
        f"{ours['objects']:.0f} objects ({args.task})"
    )
    reference_of = REFERENCE[args.task]
    for label, figures, reference in (
        ("PyTorch", ours, reference_of["inference"]),
        ("ONNX   ", ort, reference_of["onnx_inference"]),
    ):
        print(
            f"{label}: preprocess {figures['preprocess']:.1f} ms, inference "
            f"{figures['inference']:.1f} ms, postprocess {figures['postprocess']:.1f} ms; "
            f"end to end {figures['end_to_end']:.1f} ms (reference inference {reference} ms;"
            f" ours end to end / reference = {figures['end_to_end'] / reference:.2f})"
        )


if __name__ == "__main__":
    sys.exit(main())
