"""Every export format for yolov8n-cls@224, yolov8n-seg@640 and yolov8n-pose@640: export time,
size, the parity check against PyTorch, and CPU latency at batch 1.

Reference (Ultralytics 8.4) ONNX Runtime inference on this machine: classify 3.6 ms, segment
72 ms, pose 71 ms. Models are built from their yamls (1000, 80 and 1 classes, as the official
weights) with decisive random weights (engine/export/decisive.py: clear top-1 classes, a few
confident detections), since export and latency do not depend on the weights' values but the
parity gate's decisions need some to compare. The parity check and int8 calibration (Edge TPU)
use images of a generated dataset (coloured discs, shapes, stick figures) at the model's size
and one photo-like image (benchmarks/classify_predict.py's), letterboxed.

Run: .venv/bin/python benchmarks/export_formats.py [--tasks classify segment pose]
     [--formats onnx openvino ...] [--runs 20]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from engine.process.threads import configure_threads

configure_threads()  # as the yolo command does, before torch loads

import torch  # noqa: E402
from classify_predict import photo  # noqa: E402

from engine.backends import load_backend  # noqa: E402
from engine.benchmark import batch_one_latency  # noqa: E402
from engine.data.figure_samples import make_figures_dataset  # noqa: E402
from engine.data.shape_samples import make_shapes_dataset  # noqa: E402
from engine.errors import EngineError  # noqa: E402
from engine.export import EXPORT_FORMATS, dataset_samples, export_model  # noqa: E402
from engine.export.decisive import make_decisive  # noqa: E402
from engine.nn import build_model  # noqa: E402
from engine.tasks import get_task  # noqa: E402

MODELS = {"classify": ("yolov8n-cls.yaml", 224), "segment": ("yolov8n-seg.yaml", 640),
          "pose": ("yolov8n-pose.yaml", 640)}
REFERENCE_ORT_MS = {"classify": 3.6, "segment": 72.0, "pose": 71.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--formats", nargs="+", default=list(EXPORT_FORMATS))
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        for task in args.tasks:
            config, size = MODELS[task]
            torch.manual_seed(0)
            model = make_decisive(build_model(config), imgsz=size)
            data = sample_dataset(task, folder / f"{task}_data", size, photo(folder / "photo.jpg"))
            sample = dataset_samples(data, get_task(task).samples(), (size, size))
            pytorch_ms = batch_one_latency(load_backend(model), size, args.runs)
            print(f"\n{config[:-5]} @ {size}: PyTorch {pytorch_ms:.1f} ms/image")
            print(f"{'format':<14} {'export s':>8} {'MB':>7} {'ms/image':>9}  parity")
            for fmt in args.formats:
                print(row(model, fmt, size, sample, folder / task, args.runs), flush=True)
            print(f"reference ONNX Runtime: {REFERENCE_ORT_MS[task]} ms/image")


def sample_dataset(task: str, root: Path, size: int, photo_file: Path) -> Path:
    """A few validation images for ``task`` (the photo among them)."""
    if task == "segment":
        data = make_shapes_dataset(root, size=size, train=1, val=7)
    elif task == "pose":
        data = make_figures_dataset(root, size=size, train=1, val=7)
    else:
        import cv2
        import numpy as np

        rng = np.random.default_rng(0)
        for index, colour in enumerate(((40, 40, 220), (60, 180, 60), (200, 90, 30))):
            target = root / "val" / f"colour{index}"
            target.mkdir(parents=True)
            for count in range(2):
                image = rng.integers(60, 200, (size, size, 3), dtype=np.uint8)
                cv2.circle(image, (size // 2, size // 2), size // 3, colour, -1)
                cv2.imwrite(str(target / f"{count}.jpg"), image)
        (root / "train").symlink_to(root / "val")
        data = root
    folder = root / "val" / "photo" if task == "classify" else data.parent / "images" / "val"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(photo_file, folder / "photo.jpg")
    return data


def row(model, fmt: str, size: int, sample, folder: Path, runs: int) -> str:
    exporter = EXPORT_FORMATS[fmt]
    if not exporter.available():
        reason = getattr(exporter, "unavailable_reason", lambda: "not installed")()
        return f"{exporter.name:<14} {'-':>8} {'-':>7} {'-':>9}  unavailable: {reason}"
    try:
        result = export_model(model, fmt, output=folder / "model.pt", imgsz=size,
                              samples=sample)
    except EngineError as exc:
        # Edge TPU: the full-integer TFLite is written; only Google's compiler is missing here
        status = "not compiled" if "edgetpu_compiler" in str(exc) else "failed"
        return f"{exporter.name:<14} {'-':>8} {'-':>7} {'-':>9}  {status}: {exc.message}"
    latency = "-"
    if result.parity.status != "unchecked":
        latency = f"{batch_one_latency(load_backend(result.path), size, runs):.1f}"
    return (f"{exporter.name:<14} {result.seconds:>8.1f} {result.size_mb:>7.1f} {latency:>9}  "
            f"{result.parity.summary()}")


if __name__ == "__main__":
    sys.exit(main())
