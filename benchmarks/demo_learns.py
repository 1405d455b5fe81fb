"""Does a demo project learn with the settings the Train page suggests?

Makes the demo project of ``--task`` (in a temp data folder unless ``--root``), trains it through
``studio.services.training.run_training`` — the service the Train page's Start calls, in its
training child — with the project's suggested settings and starting model, then scores the
best weights on the demo's val split. Its last line is one JSON object:

    {"task": ..., "seconds": ..., "box_map50": ..., "mask_map50" | "pose_map50" | "top1": ...}

``seconds`` is the run as the user waits for it (start to the run's end, final validation
included). Run: .venv/bin/python benchmarks/demo_learns.py --task segment|pose|classify
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.cancel import CancelToken  # noqa: E402
from studio.services.demo import demo_project, suggested_plan  # noqa: E402
from studio.services.projects import open_project  # noqa: E402
from studio.services.runs import list_runs  # noqa: E402
from studio.services.training import Note, TrainingFeed, run_training  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("segment", "pose", "classify"), default="segment")
    parser.add_argument("--root", type=Path, help="where the demo project goes (default: temp)")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="demo-learns-"))
    project = open_project(demo_project(args.task, root=root))
    try:
        plan = suggested_plan(project)
        print(f"{args.task}: model {plan.model}, {plan.epochs} epochs, imgsz {plan.imgsz}, "
              f"batch {plan.batch}", flush=True)
        feed = TrainingFeed()
        started = time.perf_counter()
        ended = run_training(project, plan, feed, lambda *_: None, CancelToken())
        seconds = time.perf_counter() - started
        for event in feed.drain():
            if isinstance(event, Note) and event.level != "info":
                print(f"{event.level}: {event.text}")
        if ended.status != "completed":
            print(f"the run ended {ended.status}: {ended.message}")
            return 1
        run = next(r for r in list_runs(project) if r.id == ended.run_id)
        scores = score(project.task, run.folder)
    finally:
        project.close()
    print(json.dumps({"task": args.task, "seconds": round(seconds, 1), **scores}))
    return 0


def score(task: str, folder: Path) -> dict[str, float]:
    """The best weights' figures on the val split the run trained with."""
    from engine import YOLO

    dataset = folder / "dataset"
    data = dataset if task == "classify" else next(dataset.glob("*.yaml"))
    model = YOLO(folder / "weights" / "best.pt")
    metrics = model.val(data=str(data), plots=False, verbose=False, project=str(folder / "scores"))
    if task == "classify":
        return {"top1": round(float(metrics.top1), 3)}
    figures = {"box_map50": round(float(metrics.box.map50), 3)}
    second = metrics.seg if task == "segment" else metrics.pose
    figures[f"{'mask' if task == 'segment' else 'pose'}_map50"] = round(float(second.map50), 3)
    return figures


if __name__ == "__main__":
    raise SystemExit(main())
