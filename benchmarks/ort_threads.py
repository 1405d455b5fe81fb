"""How onnxruntime and torch share the CPU in one process, and which thread policy to use.

Each scenario runs in a fresh subprocess, because ``OMP_WAIT_POLICY`` and ``GOMP_SPINCOUNT``
only count when they are in the environment before torch (its OpenMP runtime, libgomp) starts.
Scenarios are interleaved over several rounds so that other load on the machine spreads over
all of them; the tables give the median of the rounds' medians, and the best round. A "frame"
is what a predictor does per image: torch pre-processing (resize, scale) then the ORT call.
``--busy 1`` runs a busy-looping process beside the measurements (a loaded desktop); check the
printed load average: other work on the machine skews every figure.

Run: .venv/bin/python benchmarks/ort_threads.py [--rounds 3] [--runs 40] [--busy 1] [--only ort]
(yolov8n-cls at 224, batch 1, exported to ONNX in a temp folder; 2-3 minutes on 2 cores.)
The policy chosen from these figures is in engine/process/threads.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> (environment, child settings)
ORT_SCENARIOS: dict[str, tuple[dict[str, str], dict]] = {
    "ort alone (no torch)": ({}, {"torch": False}),
    "ort after torch": ({}, {"torch": True}),
    "ort after torch, PASSIVE": ({"OMP_WAIT_POLICY": "PASSIVE"}, {"torch": True}),
    "ort after torch, no spin": ({}, {"torch": True, "spin": False}),
    "ort after torch, spin + stop after run": ({}, {"torch": True, "stop": True}),
    "ort after torch, intra=1": ({}, {"torch": True, "intra": 1}),
    "ort after torch, inter=1 intra=2 no spin": (
        {},
        {"torch": True, "spin": False, "intra": 2, "inter": 1},
    ),
    "ort after torch, PASSIVE + no spin": (
        {"OMP_WAIT_POLICY": "PASSIVE"},
        {"torch": True, "spin": False},
    ),
    "ort + torch pre/post each frame": ({}, {"torch": True, "interleave": True}),
    "ort + torch each frame, PASSIVE": (
        {"OMP_WAIT_POLICY": "PASSIVE"},
        {"torch": True, "interleave": True},
    ),
    "ort + torch each frame, no spin": ({}, {"torch": True, "interleave": True, "spin": False}),
    "ort + torch each frame, PASSIVE + no spin": (
        {"OMP_WAIT_POLICY": "PASSIVE"},
        {"torch": True, "interleave": True, "spin": False},
    ),
    "ort + torch each frame, GOMP_SPINCOUNT=10000": (
        {"GOMP_SPINCOUNT": "10000"},
        {"torch": True, "interleave": True},
    ),
    "ort + torch each frame, GOMP_SPINCOUNT=10000 + no spin": (
        {"GOMP_SPINCOUNT": "10000"},
        {"torch": True, "interleave": True, "spin": False},
    ),
    "ort + torch each frame, GOMP_SPINCOUNT=10000 + spin, stop after run": (
        {"GOMP_SPINCOUNT": "10000"},
        {"torch": True, "interleave": True, "stop": True},
    ),
    "ort + torch each frame, GOMP_SPINCOUNT=1000": (
        {"GOMP_SPINCOUNT": "1000"},
        {"torch": True, "interleave": True},
    ),
    "ort + torch each frame, GOMP_SPINCOUNT=1000 + no spin": (
        {"GOMP_SPINCOUNT": "1000"},
        {"torch": True, "interleave": True, "spin": False},
    ),
}
TORCH_SCENARIOS: dict[str, tuple[dict[str, str], dict]] = {
    "torch alone": ({}, {}),
    "torch, PASSIVE": ({"OMP_WAIT_POLICY": "PASSIVE"}, {}),
    "torch, GOMP_SPINCOUNT=10000": ({"GOMP_SPINCOUNT": "10000"}, {}),
    "torch, GOMP_SPINCOUNT=100000": ({"GOMP_SPINCOUNT": "100000"}, {}),
    "torch, GOMP_SPINCOUNT=3000": ({"GOMP_SPINCOUNT": "3000"}, {}),
    "torch, GOMP_SPINCOUNT=1000": ({"GOMP_SPINCOUNT": "1000"}, {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=40, help="timed ORT runs per scenario")
    parser.add_argument(
        "--busy", type=int, default=0, help="busy-looping processes beside (a loaded desktop)"
    )
    parser.add_argument("--only", choices=["ort", "torch"], help="one of the two tables")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return
    neighbours = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)
    ]
    try:
        print(f"{args.busy} busy-looping process(es) beside the measurements")
        with tempfile.TemporaryDirectory() as folder:
            if args.only != "torch":
                _report_ort(_export(Path(folder)), args.rounds, args.runs)
            if args.only != "ort":
                _report_torch(args.rounds)
    finally:
        for process in neighbours:
            process.terminate()
            process.wait()


def _export(folder: Path) -> Path:
    from engine.export import export_model
    from engine.nn.zoo import build_model

    model = build_model("yolov8n-cls.yaml")
    return export_model(model, "onnx", output=folder / "yolov8n-cls.pt", imgsz=224)


def _report_ort(onnx_path: Path, rounds: int, runs: int) -> None:
    print(f"ONNX Runtime, yolov8n-cls 224x224 batch 1, {os.cpu_count()} CPUs, load {_load()}")
    results = _rounds(ORT_SCENARIOS, rounds, {"kind": "ort", "path": str(onnx_path), "runs": runs})
    print("| scenario | ORT ms (median) | ORT ms (best round) | frame ms (median) |")
    print("|---|---:|---:|---:|")
    for name, values in results.items():
        ort_ms = [v["ort_ms"] for v in values]
        frame_ms = [v["frame_ms"] for v in values]
        print(
            f"| {name} | {statistics.median(ort_ms):.2f} | {min(ort_ms):.2f} "
            f"| {statistics.median(frame_ms):.2f} |"
        )


def _report_torch(rounds: int) -> None:
    print(f"\nPyTorch yolov8n-cls, load {_load()}")
    results = _rounds(TORCH_SCENARIOS, rounds, {"kind": "torch"})
    print("| scenario | train step 32px b64 ms | best | inference 224 b1 ms | best |")
    print("|---|---:|---:|---:|---:|")
    for name, values in results.items():
        train = [v["train_ms"] for v in values]
        infer = [v["infer_ms"] for v in values]
        print(
            f"| {name} | {statistics.median(train):.1f} | {min(train):.1f} "
            f"| {statistics.median(infer):.2f} | {min(infer):.2f} |"
        )


def _rounds(scenarios: dict, rounds: int, common: dict) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {name: [] for name in scenarios}
    for _ in range(rounds):
        for name, (environment, settings) in scenarios.items():
            results[name].append(_spawn(environment, {**common, **settings}))
    return results


def _spawn(environment: dict[str, str], settings: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(environment)
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, __file__, "--child", json.dumps(settings)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


# --- children --------------------------------------------------------------------------------


def _child(settings: dict) -> dict:
    return _child_ort(settings) if settings["kind"] == "ort" else _child_torch()


def _child_ort(settings: dict) -> dict:
    import numpy as np

    step = None
    if settings.get("torch"):
        step = _torch_side_work()
    import onnxruntime as ort

    options = ort.SessionOptions()
    if "intra" in settings:
        options.intra_op_num_threads = settings["intra"]
    if "inter" in settings:
        options.inter_op_num_threads = settings["inter"]
    if not settings.get("spin", True):
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if settings.get("stop"):  # spin inside a run, park the workers when it returns
        options.add_session_config_entry("session.force_spinning_stop", "1")
    session = ort.InferenceSession(settings["path"], options, providers=["CPUExecutionProvider"])
    image = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    feed = np.random.default_rng(1).random((1, 3, 224, 224), dtype=np.float32)
    interleave = settings.get("interleave") and step is not None
    ort_times, frame_times = [], []
    for i in range(settings["runs"] + 5):
        frame_start = time.perf_counter()
        if interleave:
            feed = step(image)
        start = time.perf_counter()
        session.run(None, {"images": feed})
        end = time.perf_counter()
        if i >= 5:
            ort_times.append(end - start)
            frame_times.append(end - frame_start)
    return {
        "ort_ms": 1000 * statistics.median(ort_times),
        "frame_ms": 1000 * statistics.median(frame_times),
    }


def _torch_side_work():
    """Import torch, run a few forward passes; return a per-frame torch pre-processing step."""
    import torch
    import torch.nn.functional as F  # noqa: N812 - the usual alias

    from engine.nn.zoo import build_model

    model = build_model("yolov8n-cls.yaml").eval()
    with torch.inference_mode():
        for _ in range(3):
            model(torch.rand(1, 3, 224, 224))

    def step(image):
        with torch.inference_mode():
            tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
            tensor = F.interpolate(tensor, size=(224, 224), mode="bilinear", antialias=True)
            return tensor.contiguous().numpy()

    return step


def _child_torch() -> dict:
    import torch

    from engine.nn.zoo import build_model

    torch.manual_seed(0)
    model = build_model("yolov8n-cls.yaml", num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images, labels = torch.rand(64, 3, 32, 32), torch.randint(0, 10, (64,))
    model.train()
    train_times = []
    for i in range(8):
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i >= 2:
            train_times.append(time.perf_counter() - start)
    model.eval()
    image = torch.rand(1, 3, 224, 224)
    infer_times = []
    with torch.inference_mode():
        for i in range(25):
            start = time.perf_counter()
            model(image)
            if i >= 5:
                infer_times.append(time.perf_counter() - start)
    return {
        "train_ms": 1000 * statistics.median(train_times),
        "infer_ms": 1000 * statistics.median(infer_times),
    }


if __name__ == "__main__":
    main()
