"""Training across processes on the CPU (issue 22): torchrun's 2 gloo processes against 1
process, the same total batch and seed, on the generated digits.

Runs, each a real ``yolo`` command in a fresh folder:

- ``torchrun --standalone --nproc_per_node 2 -m engine.cli classify train ... batch=B``
  (torchrun gives each worker 1 OpenMP thread);
- ``python -m engine.cli classify train ... batch=B`` on every core (what a user runs today);
- the same single process with another seed: how far two equally good runs land apart, the
  yardstick for the 2-process/1-process gap.

Printed: seconds per epoch (the mean of the epochs' times the command prints, the first
epoch left out), the final train and val losses, top-1 and top-5, the gaps and the tolerance
that tests/engine/train/test_distributed.py uses; last, one JSON line.

Run: .venv/bin/python benchmarks/ddp_cpu.py [--epochs 10] [--batch 16] [--images 400]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the bounds test_two_processes_and_one_end_close uses (relative, relative, absolute)
TOLERANCE = {"train/loss": 0.022, "val/loss": 0.006, "metrics/accuracy_top1": 0.05}
EPOCH_LINE = re.compile(r"^\s*(\d+)/(\d+)\s.*?\s([\d.]+)s\s*\*?\s*$")


def run(command: list[str], cwd: Path) -> tuple[float, list[float], str]:
    """Wall seconds, each epoch's seconds as printed, and the output of ``command``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GLOO_SOCKET_IFNAME": "lo"}
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_PORT", "MASTER_ADDR"):
        env.pop(key, None)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=3600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    epochs = [float(m.group(3)) for line in (done.stdout + done.stderr).splitlines()
              if (m := EPOCH_LINE.match(line.split("\r")[-1]))]
    return wall, epochs, done.stdout


def last_row(run_dir: Path) -> dict[str, float]:
    lines = (run_dir / "results.csv").read_text().splitlines()
    keys = [k.strip() for k in lines[0].split(",")]
    return dict(zip(keys, map(float, lines[-1].split(",")), strict=True))


def train(kind: str, data: Path, work: Path, epochs: int, batch: int, seed: int) -> dict:
    folder = work / f"{kind}-seed{seed}"
    folder.mkdir()
    args = ["classify", "train", f"data={data}", "model=yolov8n-cls.yaml", f"epochs={epochs}",
            "imgsz=32", f"batch={batch}", "workers=1", "plots=False", f"seed={seed}",
            "device=cpu", "project=runs"]
    if kind == "2proc":
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc_per_node", "2", "-m", "engine.cli", *args]
    else:
        command = [sys.executable, "-m", "engine.cli", *args]
    wall, epoch_seconds, _ = run(command, folder)
    row = last_row(folder / "runs" / "train")
    steady = epoch_seconds[1:] or epoch_seconds
    return {"wall_s": round(wall, 2),
            "s_per_epoch": round(statistics.mean(steady), 3) if steady else None,
            "train_loss": row["train/loss"], "val_loss": row["val/loss"],
            "top1": row["metrics/accuracy_top1"], "top5": row["metrics/accuracy_top5"]}


def gaps(a: dict, b: dict) -> dict[str, float]:
    return {"train_loss_rel": round(abs(a["train_loss"] - b["train_loss"]) / b["train_loss"], 4),
            "val_loss_rel": round(abs(a["val_loss"] - b["val_loss"]) / b["val_loss"], 4),
            "top1_abs": round(abs(a["top1"] - b["top1"]), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--images", type=int, default=160, help="digits generated (3/4 train)")
    args = parser.parse_args()
    from engine.data.samples import make_digits_folder

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = make_digits_folder(work / "digits", limit=args.images)
        two = train("2proc", data, work, args.epochs, args.batch, 0)
        one = train("1proc", data, work, args.epochs, args.batch, 0)
        other = train("1proc", data, work, args.epochs, args.batch, 1)
    for name, result in (("2 processes (gloo), seed 0", two), ("1 process, seed 0", one),
                         ("1 process, seed 1", other)):
        print(f"{name:28s} {result['s_per_epoch']} s/epoch  wall {result['wall_s']} s  "
              f"train loss {result['train_loss']:.4f}  val loss {result['val_loss']:.4f}  "
              f"top-1 {result['top1']:.3f}  top-5 {result['top5']:.3f}")
    ddp_gap, seed_gap = gaps(two, one), gaps(other, one)
    print(f"2-proc vs 1-proc gap: {ddp_gap}")
    print(f"seed 1 vs seed 0 gap (1 process): {seed_gap}")
    print(f"test tolerance: {TOLERANCE}")
    print(json.dumps({"epochs": args.epochs, "batch": args.batch, "images": args.images,
                      "two_processes": two, "one_process": one, "one_process_seed1": other,
                      "gap_2proc_1proc": ddp_gap, "gap_seed": seed_gap,
                      "tolerance": TOLERANCE}))


if __name__ == "__main__":
    main()
