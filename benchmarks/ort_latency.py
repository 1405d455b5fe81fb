"""ONNX Runtime latency, ours against a plain onnxruntime session (the reference's way).

Issue 6's figures for the reference's ONNX Runtime inference on this machine: yolov8n-cls at 224
3.6 ms, yolov8n-seg at 640 72 ms, yolov8n-pose at 640 71 ms (batch 1). This machine's speed
drifts by up to 2x over minutes, so a figure measured today is compared with a plain
``onnxruntime.InferenceSession`` on the same file, interleaved in blocks: the reference's
backend is exactly such a session with default options, fed a numpy array.

"Ours" is the ONNX backend's ``forward`` (engine/backends/onnx_backend.py): tensor to numpy,
the session run with our options (engine/process/threads.py), numpy back to tensors, i.e. the
part the reference counts as "inference".

Run: .venv/bin/python benchmarks/ort_latency.py [--rounds 8] [--runs 10] [--tasks ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from engine.process.threads import configure_threads

configure_threads()  # as the yolo command does, before torch loads

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from engine.backends import load_backend  # noqa: E402
from engine.export import export_model  # noqa: E402
from engine.export.decisive import make_decisive  # noqa: E402
from engine.nn import build_model  # noqa: E402

MODELS = {
    "classify": ("yolov8n-cls.yaml", 224, 3.6),
    "segment": ("yolov8n-seg.yaml", 640, 72.0),
    "pose": ("yolov8n-pose.yaml", 640, 71.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--rounds", type=int, default=8, help="interleaved blocks per side")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per block")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, onnxruntime {ort.__version__}, load {load_average()}")
    print("| model | plain onnxruntime ms | ours ms | ours / plain | reference (issue) ms |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for task in args.tasks:
            config, size, reference_ms = MODELS[task]
            path = export_decisive(Path(folder), config, size)
            plain, ours = _interleaved(path, size, args.rounds, args.runs)
            print(f"| {config[:-5]}@{size} | {plain:.2f} | {ours:.2f} | {ours / plain:.2f} "
                  f"| {reference_ms} |", flush=True)
    print(f"load afterwards {load_average()}")


def export_decisive(folder: Path, config: str, size: int) -> Path:
    """``config`` with decisive random weights, exported to ONNX in ``folder``."""
    torch.manual_seed(0)
    model = make_decisive(build_model(config), imgsz=size)
    result = export_model(model, "onnx", output=folder / f"{config[:-5]}.pt", imgsz=size,
                          verify=False)
    return Path(result.path)


def _interleaved(path: Path, size: int, rounds: int, runs: int) -> tuple[float, float]:
    """Medians (ms) of a default-options session and of our backend, in alternating blocks."""
    plain = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = plain.get_inputs()[0].name
    ours = load_backend(path)
    array = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    tensor = torch.from_numpy(array)
    for _ in range(3):
        plain.run(None, {name: array})
        ours.forward(tensor)
    plain_ms: list[float] = []
    ours_ms: list[float] = []
    for _ in range(rounds):
        plain_ms += _block(lambda: plain.run(None, {name: array}), runs)
        ours_ms += _block(lambda: ours.forward(tensor), runs)
    return statistics.median(plain_ms), statistics.median(ours_ms)


def _block(run, runs: int) -> list[float]:
    """Timed runs (ms), after a pause and one untimed run: each session has its own worker
    threads, and a default session's keep spinning after its run, slowing whichever runs next."""
    time.sleep(0.2)
    run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return times


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
