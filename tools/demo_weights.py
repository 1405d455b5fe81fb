"""Train the starting weights the segment and pose demos fine-tune from.

The demos are 48 generated images: too few for a model to learn from scratch in the two
minutes a first try should take. So the project ships weights it trained itself, with this
script, on a separate and larger set made by the same generators (another seed): the demo then
starts from a model that already knows shapes or stick figures, the way a user's project starts
from COCO weights. Nothing here is downloaded; the weights are ours, not Ultralytics'.

    python tools/demo_weights.py --task segment   # writes resources/weights/demo-segment.pt

The figures of the run that made the shipped files are in ``resources/weights/README.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import YOLO  # noqa: E402
from engine.checkpoints.format import checkpoint_dict, save_checkpoint  # noqa: E402
from engine.checkpoints.loading import load_model  # noqa: E402
from engine.data.figure_samples import make_figures_dataset  # noqa: E402
from engine.data.shape_samples import make_shapes_dataset  # noqa: E402

MODELS = {"segment": "yolov8n-seg.yaml", "pose": "yolov8n-pose.yaml"}
MAKERS = {"segment": make_shapes_dataset, "pose": make_figures_dataset}
OUT = ROOT / "resources" / "weights"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(MODELS), required=True)
    parser.add_argument("--images", type=int, default=2000, help="generated training images")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1017, help="data and training seed")
    parser.add_argument("--work", type=Path, help="keep the data and run here (default: temp)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix=f"demo-weights-{args.task}-"))
    started = time.perf_counter()
    data = MAKERS[args.task](work / "data", size=256, train=args.images, val=200, seed=args.seed)
    result = YOLO(MODELS[args.task]).train(
        data=str(data), epochs=args.epochs, imgsz=args.imgsz, batch=args.batch,
        seed=args.seed, project=str(work / "runs"), name="pretrain", exist_ok=True,
    )
    best = result.best or result.last
    model, weights = load_model(best)
    metrics = {k: float(v) for k, v in weights.metadata.get("metrics", {}).items()}
    provenance = {
        "made_by": "tools/demo_weights.py", "generator": MAKERS[args.task].__name__,
        "images": args.images, "epochs": args.epochs, "imgsz": args.imgsz,
        "batch": args.batch, "seed": args.seed,
        "seconds": round(time.perf_counter() - started),
    }
    target = args.out / f"demo-{args.task}.pt"
    args.out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(target, checkpoint_dict(
        model, metrics=metrics, half=True, extra={"provenance": provenance},
        train_args={"imgsz": args.imgsz, "task": args.task},
    ))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"task": args.task, "file": str(target), **provenance, "metrics": metrics}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
