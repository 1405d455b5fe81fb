"""ONNX Runtime prediction, ours against the reference itself, on the same exported file.

Issue 6 quotes the reference's ONNX Runtime inference on this machine (yolov8n-cls at 224:
3.6 ms; -seg at 640: 72 ms; -pose at 640: 71 ms, batch 1). This machine's speed drifts by up to
2x over minutes, so instead of a figure from another day this runs the reference's own
``YOLO(model.onnx).predict`` and ours on one exported file and one image, in alternating
processes, and compares the "inference" times both report per image (``Results.speed``).

The reference (ultralytics 8.4.190 with onnxruntime) is installed separately, e.g.

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install ultralytics==8.4.190 torch==2.13.0 onnxruntime==1.32.0

Run: .venv/bin/python benchmarks/reference_ort_predict.py --python /tmp/refvenv/bin/python
     [--tasks classify segment pose] [--rounds 4] [--images 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import cv2
import numpy as np
import torch
from reference_shim import TORCHVISION_SHIM

from engine.export import export_model
from engine.export.decisive import make_decisive
from engine.nn import build_model

MODELS = {
    "classify": ("yolov8n-cls.yaml", 224, 3.6),
    "segment": ("yolov8n-seg.yaml", 640, 72.0),
    "pose": ("yolov8n-pose.yaml", 640, 71.0),
}

# One process per side and round: load the model, predict the image `images` times, print the
# per-image inference times. The reference's side first registers pure-torch NMS kernels
# (reference_shim.py): its NMS calls torchvision, whose C operators do not load here.
REFERENCE_CHILD = TORCHVISION_SHIM + textwrap.dedent(
    """
    import json, sys
    from ultralytics import YOLO

    path, image, size, task, images = sys.argv[1:6]
    model = YOLO(path, task=task)
    times = []
    for i in range(int(images) + 5):
        result = model.predict(image, imgsz=int(size), device="cpu", verbose=False)[0]
        if i >= 5:
            times.append(result.speed["inference"])
    print("TIMES " + json.dumps(times))
    """
)

OUR_CHILD = textwrap.dedent(
    """
    import json, sys
    from engine.backends.threads import configure_threads
    configure_threads()  # as the yolo command does
    from engine import YOLO

    path, image, size, task, images = sys.argv[1:6]
    model = YOLO(path, task=task)
    times = []
    for i in range(int(images) + 5):
        result = model.predict(image, imgsz=int(size), device="cpu", verbose=False)[0]
        if i >= 5:
            times.append(result.speed["inference"])
    print("TIMES " + json.dumps(times))
    """
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="a Python with ultralytics installed")
    parser.add_argument("--tasks", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--rounds", type=int, default=4, help="alternating processes per side")
    parser.add_argument("--images", type=int, default=60, help="timed predictions per process")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load {_load()}")
    print("| model | reference inference ms | ours ms | ours / reference | issue's figure ms |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        image = _photo(Path(folder))
        for task in args.tasks:
            config, size, quoted = MODELS[task]
            path = _export(Path(folder), config, size)
            common = [str(path), str(image), str(size), task, str(args.images)]
            reference: list[float] = []
            ours: list[float] = []
            for _ in range(args.rounds):
                reference += _times([args.python, "-c", REFERENCE_CHILD, *common], folder)
                ours += _times([sys.executable, "-c", OUR_CHILD, *common], folder)
            ref_ms, our_ms = statistics.median(reference), statistics.median(ours)
            print(f"| {config[:-5]}@{size} | {ref_ms:.2f} | {our_ms:.2f} | "
                  f"{our_ms / ref_ms:.2f} | {quoted} |", flush=True)
    print(f"load afterwards {_load()}")
    return 0


def _export(folder: Path, config: str, size: int) -> Path:
    torch.manual_seed(0)
    model = make_decisive(build_model(config), imgsz=size)
    result = export_model(model, "onnx", output=folder / f"{config[:-5]}.pt", imgsz=size,
                          verify=False)
    return Path(result.path)


def _photo(folder: Path) -> Path:
    """An 810×1080 test picture (the issues' photo size): smooth colour fields and noise."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:1080, 0:810]
    image = np.stack([(xs * 255 / 810), (ys * 255 / 1080), ((xs + ys) % 256)], -1)
    image = (image + rng.normal(0, 12, image.shape)).clip(0, 255).astype(np.uint8)
    path = folder / "photo.jpg"
    cv2.imwrite(str(path), image)
    return path


def _times(command: list[str], folder: str) -> list[float]:
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder)
    lines = [line for line in done.stdout.splitlines() if line.startswith("TIMES ")]
    if done.returncode or not lines:
        raise SystemExit(f"{command[0]} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("TIMES "):])


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
