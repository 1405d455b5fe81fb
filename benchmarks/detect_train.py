"""Train yolov8n-seg or yolov8n-pose from scratch on a generated set; print speed, accuracy,
memory.

The work the issues' reference figures were measured on, 200 train / 50 val images of 320×320,
imgsz 320, batch 16, on this machine (2 CPU cores):
- segment: 1–4 filled shapes (circle, triangle, rectangle, star) on noisy backgrounds; 29 s per
  training epoch (6.8 images/s), peak 2.13 GiB; after 30 epochs box mAP50-95 0.360, mask 0.372.
- pose: 1–3 stick figures with 5 keypoints; 23 s per epoch (8.7 images/s), peak 1.80 GiB;
  after 30 epochs box mAP50-95 0.766, pose 0.820.
Those came from the issue writers' own generators. The reference (8.4.190), trained here on the
sets this script generates (benchmarks/reference_detect_train.py), scored its way: segment box /
mask mAP50-95 0.247 / 0.278 (seed 0), 0.196 / 0.212 (seed 1), 0.249 / 0.261 (seed 2), peak
2.7-3.1 GiB, 32.8 s per training epoch here on 2026-12-03; pose box / pose 0.829 / 0.826
(seed 0, peak 1.77 GiB). Compare those with the "reference's AP integration" line this script
prints.

Run: .venv/bin/python benchmarks/detect_train.py [--task segment|pose] [--epochs 30] [--seed 0]
It preloads tcmalloc when installed, as the yolo command does (engine/process/allocator.py);
YOLO_ALLOCATOR=system measures with the C library's malloc.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from engine.process.allocator import active_allocator, relaunch_with_allocator
from engine.process.threads import configure_threads

relaunch_with_allocator()  # as the yolo command does (YOLO_ALLOCATOR=system to compare)
configure_threads()  # as the yolo command does, before torch loads

from engine import YOLO  # noqa: E402
from engine.data.figure_samples import make_figures_dataset  # noqa: E402
from engine.data.shape_samples import make_shapes_dataset  # noqa: E402
from engine.events import EpochEnd, StepEnd  # noqa: E402

REFERENCE = {
    "segment": {"epoch_s": 29.0, "images_per_s": 6.8, "peak_gib": 2.13, "box": 0.360,
                "part": 0.372},
    "pose": {"epoch_s": 23.0, "images_per_s": 8.7, "peak_gib": 1.80, "box": 0.766, "part": 0.820},
}
PART = {"segment": ("M", "mask"), "pose": ("P", "pose")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("segment", "pose"), default="segment")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        make = make_shapes_dataset if args.task == "segment" else make_figures_dataset
        data = make(Path(tmp) / "data", seed=args.seed)
        reference = REFERENCE[args.task]
        suffix, part = PART[args.task]
        epoch_seconds: list[float] = []
        rates: list[float] = []

        def progress(event) -> None:
            if isinstance(event, EpochEnd):
                epoch_seconds.append(event.seconds)
                m = event.metrics
                losses = " ".join(f"{k[6:-5]} {v:.2f}" for k, v in m.items()
                                  if k.startswith("train/"))
                print(f"epoch {event.epoch}: {event.seconds:.1f} s, losses {losses}; box "
                      f"mAP50-95 {m.get('metrics/mAP50-95(B)', float('nan')):.3f}, {part} "
                      f"mAP50-95 {m.get(f'metrics/mAP50-95({suffix})', float('nan')):.3f}; "
                      f"peak so far {_peak_mib():.0f} MiB", flush=True)
            elif isinstance(event, StepEnd) and event.mode == "train" and event.images_per_s:
                rates.append(event.images_per_s)

        started = time.perf_counter()
        model = "yolov8n-seg.yaml" if args.task == "segment" else "yolov8n-pose.yaml"
        result = YOLO(model).train(
            data=str(data), epochs=args.epochs, imgsz=320, batch=args.batch, seed=args.seed,
            device=args.device, workers=args.workers, amp=args.amp,
            project=str(Path(tmp) / "runs"), plots=False, progress=progress,
        )
        total = time.perf_counter() - started
        # the reference's own AP integration (a perfect model: 0.995), to set beside its figures
        as_reference = YOLO(result.best, progress=lambda _e: None).val(
            data=str(data), imgsz=320, batch=args.batch * 2, plots=False, ap_method="trapezoid"
        )
    peak_gib = _peak_mib() / 1024
    final = result.final_metrics or result.metrics
    per_epoch = statistics.median(epoch_seconds[1:] or epoch_seconds)
    print()
    print(f"device {args.device}, seed {args.seed}, {args.epochs} epochs, total {total:.0f} s")
    print(f"per epoch (train + val, median after the first): {per_epoch:.1f} s "
          f"(reference {reference['epoch_s']} s training only, "
          f"{reference['epoch_s'] / per_epoch:.2f}x)")
    print(f"train images/s (median of step windows): {statistics.median(rates):.1f} "
          f"(reference {reference['images_per_s']})")
    print(f"best.pt: box mAP50-95 {final.get('metrics/mAP50-95(B)', float('nan')):.3f} "
          f"(reference {reference['box']}), {part} mAP50-95 "
          f"{final.get(f'metrics/mAP50-95({suffix})', float('nan')):.3f} (reference "
          f"{reference['part']}), {part} mAP50 {final.get(f'metrics/mAP50({suffix})', 0):.3f}")
    reference_part = as_reference.seg if args.task == "segment" else as_reference.pose
    print(f"best.pt with the reference's AP integration (ap_method=trapezoid): box mAP50-95 "
          f"{as_reference.box.map:.3f}, {part} mAP50-95 {reference_part.map:.3f}")
    print(f"peak memory (max RSS) {peak_gib:.2f} GiB (reference {reference['peak_gib']}), "
          f"allocator {active_allocator()}")


def _peak_mib() -> float:
    """This process's peak resident memory so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
