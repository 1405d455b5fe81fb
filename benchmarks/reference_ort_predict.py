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
from pathlib import Path

import cv2
import numpy as np
from ort_latency import MODELS, export_decisive, load_average
from reference_shim import TORCHVISION_SHIM

# The timed loop, the same on both sides: load the model, predict the image `images` times after
# five untimed ones, print the per-image inference times.
PREDICT_LOOP = """
path, image, size, task, images = sys.argv[1:6]
model = YOLO(path, task=task)
times = []
for i in range(int(images) + 5):
    result = model.predict(image, imgsz=int(size), device="cpu", verbose=False)[0]
    if i >= 5:
        times.append(result.speed["inference"])
print("TIMES " + json.dumps(times))
"""
# The reference's side first registers pure-torch NMS kernels (reference_shim.py): its NMS calls
# torchvision, whose C operators do not load here.
REFERENCE_CHILD = (
    TORCHVISION_SHIM + "import json, sys\nfrom ultralytics import YOLO\n" + PREDICT_LOOP
)
OUR_CHILD = (
    "import json, sys\n"
    "from engine.process.threads import configure_threads\n"
    "configure_threads()  # as the yolo command does\n"
    "from engine import YOLO\n" + PREDICT_LOOP
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="a Python with ultralytics installed")
    parser.add_argument("--tasks", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--rounds", type=int, default=4, help="alternating processes per side")
    parser.add_argument("--images", type=int, default=60, help="timed predictions per process")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load {load_average()}")
    print("| model | reference inference ms | ours ms | ours / reference | issue's figure ms |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        image = _photo(Path(folder))
        for task in args.tasks:
            config, size, quoted = MODELS[task]
            path = export_decisive(Path(folder), config, size)
            common = [str(path), str(image), str(size), task, str(args.images)]
            reference: list[float] = []
            ours: list[float] = []
            for _ in range(args.rounds):
                reference += _times([args.python, "-c", REFERENCE_CHILD, *common], folder)
                ours += _times([sys.executable, "-c", OUR_CHILD, *common], folder)
            ref_ms, our_ms = statistics.median(reference), statistics.median(ours)
            print(f"| {config[:-5]}@{size} | {ref_ms:.2f} | {our_ms:.2f} | "
                  f"{our_ms / ref_ms:.2f} | {quoted} |", flush=True)
    print(f"load afterwards {load_average()}")
    return 0


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




if __name__ == "__main__":
    sys.exit(main())
