"""Train yolov8n-cls from scratch on the digits set and print speed, accuracy and memory.

The work the issue's reference figures were measured on: scikit-learn's handwritten digits
upscaled to 32×32 (1,397 train / 400 val), imgsz 32, batch 64, 10 epochs.
Reference on this machine (2 CPU cores): 2.7 s per epoch (≈520 train images/s), top1 0.915,
peak memory 492 MiB.

Run: .venv/bin/python benchmarks/classify_train.py [--epochs 10] [--seed 0] [--device cpu]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine.process.threads import configure_threads

configure_threads()  # as the yolo command does, before torch loads

from engine import YOLO  # noqa: E402
from engine.events import EpochEnd, StepEnd  # noqa: E402

REFERENCE = {"epoch_s": 2.7, "images_per_s": 520.0, "top1": 0.915, "peak_mib": 492.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    parser.add_argument("--cache", default=None, help="ram or disk (default: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "digits"
        # In a child process, so scikit-learn's memory is not counted as ours.
        subprocess.run([sys.executable, "-c", "import sys; from engine.data.samples import "
                        "make_digits_folder as m; m(sys.argv[1])", str(data)], check=True)
        epoch_seconds: list[float] = []
        rates: list[float] = []

        def progress(event) -> None:
            if isinstance(event, EpochEnd):
                epoch_seconds.append(event.seconds)
                print(f"epoch {event.epoch}: {event.seconds:.2f} s, top1 "
                      f"{event.metrics.get('metrics/accuracy_top1', float('nan')):.4f}",
                      flush=True)
            elif isinstance(event, StepEnd) and event.mode == "train" and event.images_per_s:
                rates.append(event.images_per_s)

        model = YOLO("yolov8n-cls.yaml")
        started = time.perf_counter()
        result = model.train(
            data=str(data), epochs=args.epochs, imgsz=32, batch=args.batch, seed=args.seed,
            device=args.device, workers=args.workers, amp=args.amp, cache=args.cache or False,
            project=str(Path(tmp) / "runs"), plots=False, progress=progress,
        )
        total = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    top1 = result.final_metrics.get("metrics/accuracy_top1", float("nan"))
    last_top1 = result.metrics.get("metrics/accuracy_top1", float("nan"))
    steady = epoch_seconds[1:] or epoch_seconds
    train_images = 1397
    per_epoch = statistics.median(steady)
    print()
    print(f"device {args.device}, seed {args.seed}, {args.epochs} epochs, total {total:.1f} s")
    print(f"per epoch (train + val, median after the first): {per_epoch:.2f} s "
          f"(reference {REFERENCE['epoch_s']} s, {REFERENCE['epoch_s'] / per_epoch:.2f}x)")
    print(f"train images/s (median of step windows): {statistics.median(rates):.0f} "
          f"(reference ≈{REFERENCE['images_per_s']:.0f}); per epoch incl. val: "
          f"{train_images / per_epoch:.0f}")
    print(f"top1 of best.pt {top1:.4f}, of the last epoch {last_top1:.4f} "
          f"(reference {REFERENCE['top1']})")
    print(f"peak memory (max RSS) {peak_mib:.0f} MiB (reference {REFERENCE['peak_mib']:.0f})")


if __name__ == "__main__":
    sys.exit(main())
