"""Peak memory and speed of training as the studio runs it: ``train_in_child``, the training
child process with the environment the studio gives it.

Since only training processes preload tcmalloc (engine/process/allocator.py), the studio's
window runs on the system's malloc and hands the allocator to its training child. This trains
the segment or pose benchmark set (as benchmarks/detect_train.py makes it) through that path,
once with the allocator and once with ``YOLO_ALLOCATOR=system``, alternating, and prints the
child's peak resident memory and seconds per epoch for each.

Run: .venv/bin/python benchmarks/studio_train_memory.py [--task segment|pose] [--epochs 3]
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

ROOT = Path(__file__).resolve().parents[1]
RUN_ONE = """
import json, resource, sys, time
from engine.cancel import CancelToken
from engine.events import EpochEnd
from studio.services.training_process import train_in_child
job = json.loads(sys.argv[1])
ends = []
def report(event):
    if isinstance(event, EpochEnd):
        ends.append(time.perf_counter())
start = time.perf_counter()
status = train_in_child(job, report, CancelToken()).status
import os
while True:  # the child is reaped on a side thread once it has answered
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    time.sleep(0.2)
gaps = [b - a for a, b in zip([start] + ends, ends)]
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
print(json.dumps({"status": status, "epoch_s": gaps[1:] or gaps, "peak_gib": peak}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("segment", "pose"), default="segment")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from engine.data.figure_samples import make_figures_dataset
    from engine.data.shape_samples import make_shapes_dataset

    folder = Path(tempfile.mkdtemp(prefix="studio-train-memory-"))
    make = make_shapes_dataset if args.task == "segment" else make_figures_dataset
    data = make(folder / "data", size=320, train=200, val=50, seed=0)
    model = "yolov8n-seg.yaml" if args.task == "segment" else "yolov8n-pose.yaml"
    results: dict[str, list[dict]] = {"tcmalloc": [], "system": []}
    for round_index in range(args.rounds):
        for name in results:
            job = {"model": model, "settings": {
                "data": str(data), "epochs": args.epochs, "imgsz": 320, "batch": 16,
                "workers": 2, "seed": 0, "plots": False,
                "project": str(folder / f"runs-{name}-{round_index}")}}
            env = dict(os.environ)
            env.pop("YOLO_ALLOCATOR_ACTIVE", None)
            env.pop("LD_PRELOAD", None)
            if name == "system":
                env["YOLO_ALLOCATOR"] = "system"
            done = subprocess.run([sys.executable, "-c", RUN_ONE, json.dumps(job)], cwd=ROOT,
                                  env=env, capture_output=True, text=True, check=True)
            results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{args.task}, {args.epochs} epochs at 320 px, batch 16, through train_in_child:")
    for name, runs in results.items():
        peaks = [r["peak_gib"] for r in runs]
        epochs = [s for r in runs for s in r["epoch_s"]]
        print(f"  {name:9s} peak {max(peaks):.2f} GiB   {statistics.median(epochs):.1f} s/epoch "
              f"(median of {len(epochs)}, validation included)")
    print(json.dumps({name: {"peak_gib": max(r["peak_gib"] for r in runs),
                             "epoch_s": statistics.median(s for r in runs for s in r["epoch_s"])}
                      for name, runs in results.items()}))


if __name__ == "__main__":
    main()
