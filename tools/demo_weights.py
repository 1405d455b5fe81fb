"""Train the starting weights the segment and pose demos fine-tune from.

The demos are 48 generated images: too few for a model to learn from scratch in the two
minutes a first try should take. So the project ships weights it trained itself, with this
script, on a separate and larger set made by the same generators (another seed): the demo then
starts from a model that already knows shapes or stick figures, the way a user's project starts
from COCO weights. Nothing here is downloaded; the weights are ours, not Ultralytics'.

    python tools/demo_weights.py --task segment   # writes resources/weights/demo-segment.pt

``--stop-after N`` ends the run after epoch N of a schedule planned for ``--epochs`` (what the
shipped files used, to fit a 2-core machine's afternoon); ``--from-run DIR`` only packs the
best weights of a run that was made earlier. The commands and figures of the shipped files are
in ``resources/weights/README.md``.
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
from engine.cancel import CancelToken  # noqa: E402
from engine.checkpoints.format import checkpoint_dict, save_checkpoint  # noqa: E402
from engine.checkpoints.loading import load_model  # noqa: E402
from engine.data.figure_samples import make_figures_dataset  # noqa: E402
from engine.data.shape_samples import make_shapes_dataset  # noqa: E402
from engine.events import EpochEnd  # noqa: E402

MODELS = {"segment": "yolov8n-seg.yaml", "pose": "yolov8n-pose.yaml"}
MAKERS = {"segment": make_shapes_dataset, "pose": make_figures_dataset}
OUT = ROOT / "resources" / "weights"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(MODELS), required=True)
    parser.add_argument("--images", type=int, default=1600, help="generated training images")
    parser.add_argument("--epochs", type=int, default=30, help="epochs the schedule plans")
    parser.add_argument("--stop-after", type=int, help="end after this epoch")
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1017, help="data and training seed")
    parser.add_argument("--workers", type=int, default=1, help="data loader processes")
    parser.add_argument("--work", type=Path, help="keep the data and run here (default: temp)")
    parser.add_argument("--from-run", type=Path, help="only pack this earlier run's best.pt")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    best = args.from_run / "weights" / "best.pt" if args.from_run else train(args)
    provenance = {
        "made_by": "tools/demo_weights.py", "generator": MAKERS[args.task].__name__,
        "images": args.images, "epochs": args.epochs, "stop_after": args.stop_after,
        "imgsz": args.imgsz, "batch": args.batch, "seed": args.seed,
    }
    if not args.from_run:
        provenance["seconds"] = round(time.perf_counter() - started)
    target = args.out / f"demo-{args.task}.pt"
    metrics = pack(best, target, provenance)
    print(json.dumps({"task": args.task, "file": str(target), **provenance, "metrics": metrics}))
    return 0


def train(args: argparse.Namespace) -> Path:
    """Generate the set and train on it; the path of the run's best weights."""
    work = args.work or Path(tempfile.mkdtemp(prefix=f"demo-weights-{args.task}-"))
    data = MAKERS[args.task](work / "data", size=256, train=args.images, val=200, seed=args.seed)
    cancel = CancelToken()

    def stop_after(event: object) -> None:
        if isinstance(event, EpochEnd) and args.stop_after and event.epoch >= args.stop_after:
            cancel.cancel()

    result = YOLO(MODELS[args.task]).train(
        data=str(data), epochs=args.epochs, imgsz=args.imgsz, batch=args.batch,
        seed=args.seed, workers=args.workers, project=str(work / "runs"), name="pretrain",
        exist_ok=True, progress=stop_after, cancel=cancel,
    )
    best = result.best or result.last
    if args.work is None:  # keep only the weights
        kept = Path(tempfile.mkdtemp(prefix="demo-weights-best-")) / "best.pt"
        shutil.copy2(best, kept)
        shutil.rmtree(work, ignore_errors=True)
        best = kept
    return best


def pack(best: Path, target: Path, provenance: dict) -> dict[str, float]:
    """Write ``best`` as a small checkpoint (fp16, no training state) with its provenance;
    returns the metrics it was saved with."""
    model, weights = load_model(best)
    metrics = {k: float(v) for k, v in weights.metadata.get("metrics", {}).items()
               if k.startswith("metrics/")}
    target.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(target, checkpoint_dict(
        model, metrics=metrics, half=True, epoch=int(weights.metadata.get("epoch", -1)),
        extra={"provenance": provenance},
        train_args={"imgsz": provenance["imgsz"], "task": model.task},
    ))
    return metrics


if __name__ == "__main__":
    raise SystemExit(main())
