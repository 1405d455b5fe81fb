"""Train the reference implementation on the sets ``detect_train.py`` generates, to compare like
with like.

The issues' reference figures came from their writers' own generators; this runs the reference
(Ultralytics 8.4.190, the version that wrote ``../shared/fixtures``) on ours, with the same
seed, image size, batch and epochs, and its default recipe (``optimizer=auto``). It is not a
project dependency: install it in a throwaway environment, e.g.

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install ultralytics==8.4.190 torch==2.13.0

torchvision's C operators do not load with the CPU torch wheel here, so the child process
first runs ``reference_shim.TORCHVISION_SHIM`` (pure-torch NMS kernels).

Run: .venv/bin/python benchmarks/reference_detect_train.py --python /tmp/refvenv/bin/python
     [--task segment|pose] [--seed 0] [--epochs 30]
Prints the reference's own best.pt figures (its AP integration, so compare them with the
"reference's AP integration" line of detect_train.py), its training seconds per epoch, and
its peak memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from reference_shim import TORCHVISION_SHIM

from engine.data.figure_samples import make_figures_dataset
from engine.data.shape_samples import make_shapes_dataset

# Runs in the reference's environment; our code, not the reference's.
CHILD = TORCHVISION_SHIM + textwrap.dedent(
    """
    import json, resource, sys, time

    from ultralytics import YOLO

    data, model, seed, epochs, batch, project = sys.argv[1:7]
    seconds = []
    started = time.time()
    yolo = YOLO(model)
    yolo.add_callback("on_train_epoch_end", lambda t: seconds.append(time.time()))
    result = yolo.train(data=data, epochs=int(epochs), imgsz=320, batch=int(batch),
                        device="cpu", workers=0, seed=int(seed), project=project, name="run",
                        exist_ok=True, plots=False)
    part = result.seg if hasattr(result, "seg") else result.pose
    print("RESULT " + json.dumps({
        "box": result.box.map, "part": part.map, "part50": part.map50,
        "epoch_ends": seconds, "total_s": time.time() - started,
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }))
    """
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="a Python with ultralytics installed")
    parser.add_argument("--task", choices=("segment", "pose"), default="segment")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        make = make_shapes_dataset if args.task == "segment" else make_figures_dataset
        data = make(Path(tmp) / "data", seed=args.seed)
        model = "yolov8n-seg.yaml" if args.task == "segment" else "yolov8n-pose.yaml"
        command = [args.python, "-c", CHILD, str(data), model, str(args.seed), str(args.epochs),
                   str(args.batch), str(Path(tmp) / "runs")]
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            print(done.stderr[-4000:], file=sys.stderr)
            print(f"the reference run failed (exit {done.returncode}); its log is above",
                  file=sys.stderr)
            return 1
    result = json.loads(lines[-1][len("RESULT "):])
    ends = result["epoch_ends"]
    gaps = sorted(b - a for a, b in zip(ends, ends[1:], strict=False))
    part = "mask" if args.task == "segment" else "pose"
    print(f"reference, {args.task}, seed {args.seed}, {args.epochs} epochs, "
          f"total {result['total_s']:.0f} s")
    if gaps:
        print(f"per epoch (train + val, median): {gaps[len(gaps) // 2]:.1f} s")
    print(f"best.pt (its own AP integration): box mAP50-95 {result['box']:.3f}, {part} "
          f"mAP50-95 {result['part']:.3f}, {part} mAP50 {result['part50']:.3f}")
    print(f"peak memory (max RSS) {result['peak_gib']:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
