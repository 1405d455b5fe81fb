"""Mask and box mAP50-95 from our ``val`` against pycocotools scoring our own ``save_json``
output, on the generated shapes set with a trained yolov8n-seg; and the val wall time.

Steps, all in this process:
1. a yolov8n-seg trained by our engine at imgsz 320 for 30 epochs on
   engine.data.shape_samples.make_shapes_dataset (seed 0), cached under
   ``~/.cache/yolo-studio/benchmarks/int8_openvino/`` (the same entry benchmarks/int8_openvino.py
   makes, so whichever runs first trains it; ``--retrain`` trains again). ``--weights`` scores
   another checkpoint instead (for example
   /work/shared/fixtures/ultralytics/yolov8n-seg-shapes.pt, the reference's 10-epoch one);
2. ``val`` on the set's val split: timed ``--runs`` times without ``save_json`` (the median is
   ``val_seconds``), then once with ``save_json`` (``val_json_seconds``);
3. pycocotools scores ``predictions.json`` twice: against the ``ground_truth.json`` written
   beside it, and against a COCO file this script builds itself from the val label files (the
   polygons in original pixels), so a fault in our ground-truth writer cannot hide.

Run: .venv/bin/python benchmarks/mask_map_coco.py [--weights PT] [--runs 3] [--epochs 30]
[--runtime torch]
The last line is one JSON object of the key figures.

Measured 2026-12-07 on the 2-core machine, others working (30-epoch model, 50 val images):
before (val scored masks at prototype resolution against the batch's mask targets) mask
mAP50-95 0.2735 from val against 0.2695 from pycocotools, box 0.2379 both; val 6.2 s (14.1 s
with runtime=torch), 23.3 s with save_json (34.4 s). After: mask 0.2695 both, box 0.2379
both; val 5.4 s (9.3 s with runtime=torch), 9.0 s with save_json (9.8 s).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from engine.process.threads import configure_threads

configure_threads()  # as the yolo command does, before torch loads

import cv2  # noqa: E402

# the 30-epoch model and the shapes set int8_openvino.py trains once and caches (one model
# for both benchmarks: their figures are of the same weights)
from int8_openvino import CACHE, trained_model  # noqa: E402
from int8_openvino import TRAIN_IMGSZ as IMGSZ  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

from engine import YOLO  # noqa: E402
from engine.data.shape_samples import make_shapes_dataset  # noqa: E402


def _data_only(seed: int) -> Path:
    folder = CACHE / f"shapes-seed{seed}-data"
    data = folder / "data" / "shapes.yaml"
    if not data.exists():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(folder / "data.tmp", ignore_errors=True)
        make_shapes_dataset(folder / "data.tmp", seed=seed)
        (folder / "data.tmp").rename(folder / "data")
    return data


def label_ground_truth(written: Path, data: Path, target: Path) -> Path:
    """A COCO instances file built here from the val label files (YOLO polygons, normalised),
    with the image ids of our ``ground_truth.json`` (matched by file name)."""
    ours = json.loads(written.read_text())
    ids = {image["file_name"]: image["id"] for image in ours["images"]}
    images, annotations = [], []
    for path in sorted((data.parent / "images" / "val").iterdir()):
        if path.name not in ids:
            continue
        height, width = cv2.imread(str(path)).shape[:2]
        images.append({"id": ids[path.name], "width": width, "height": height,
                       "file_name": path.name})
        label = data.parent / "labels" / "val" / f"{path.stem}.txt"
        for line in label.read_text().splitlines():
            values = [float(v) for v in line.split()]
            if not values:
                continue
            xy = [v * (width if k % 2 == 0 else height) for k, v in enumerate(values[1:])]
            xs, ys = xy[0::2], xy[1::2]
            box = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
            annotations.append({
                "id": len(annotations) + 1, "image_id": ids[path.name],
                "category_id": int(values[0]), "segmentation": [xy], "bbox": box,
                "area": box[2] * box[3], "iscrowd": 0,
            })
    target.write_text(json.dumps({"images": images, "annotations": annotations,
                                  "categories": ours["categories"]}))
    return target


def coco_map(ground_truth: Path, predictions: Path, kind: str) -> float:
    """pycocotools' mAP50-95 (``stats[0]``) of ``predictions`` for ``kind`` (bbox or segm)."""
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(ground_truth))
        found = truth.loadRes(str(predictions))
        evaluation = COCOeval(truth, found, kind)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])


def timed_val(model: YOLO, data: Path, project: Path, **options) -> tuple[float, object]:
    started = time.perf_counter()
    metrics = model.val(data=str(data), imgsz=IMGSZ, batch=16, workers=2, project=str(project),
                        plots=False, progress=lambda _event: None, **options)
    return time.perf_counter() - started, metrics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="score this checkpoint instead of the trained one")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3, help="timed val runs without save_json")
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--runtime", help="runtime= for val (auto, torch, openvino, ...); "
                        "default: the setting's default")
    args = parser.parse_args()
    options = {} if args.runtime is None else {"runtime": args.runtime}

    if args.weights:
        weights, data = Path(args.weights), _data_only(args.seed)
    else:
        weights, data = trained_model(args.epochs, args.seed, retrain=args.retrain)
    print(f"model {weights}\ndata {data}\nruntime {args.runtime or 'default'}")
    model = YOLO(str(weights))
    with tempfile.TemporaryDirectory() as temp:
        project = Path(temp) / "runs"
        # warm-up: label cache, threads, a runtime's export on first use
        timed_val(model, data, project, **options)
        times = [timed_val(model, data, project, **options)[0] for _ in range(max(args.runs, 1))]
        json_seconds, metrics = timed_val(model, data, project, save_json=True, **options)
        folder = Path(metrics.save_dir)
        predictions, written = folder / "predictions.json", folder / "ground_truth.json"
        rebuilt = label_ground_truth(written, data, Path(temp) / "labels_gt.json")
        figures = {
            "mask_map_val": metrics.seg.map,
            "mask_map_coco": coco_map(written, predictions, "segm"),
            "mask_map_coco_labels": coco_map(rebuilt, predictions, "segm"),
            "box_map_val": metrics.box.map,
            "box_map_coco": coco_map(written, predictions, "bbox"),
            "box_map_coco_labels": coco_map(rebuilt, predictions, "bbox"),
        }
    figures["mask_diff"] = figures["mask_map_val"] - figures["mask_map_coco"]
    figures["box_diff"] = figures["box_map_val"] - figures["box_map_coco"]
    figures["val_seconds"] = statistics.median(times)
    figures["val_json_seconds"] = json_seconds
    figures = {key: round(value, 5) for key, value in figures.items()}
    print(f"mask mAP50-95: val {figures['mask_map_val']:.4f}  pycocotools "
          f"{figures['mask_map_coco']:.4f} (on labels rebuilt here "
          f"{figures['mask_map_coco_labels']:.4f})  diff {figures['mask_diff']:+.4f}")
    print(f"box  mAP50-95: val {figures['box_map_val']:.4f}  pycocotools "
          f"{figures['box_map_coco']:.4f} (on labels rebuilt here "
          f"{figures['box_map_coco_labels']:.4f})  diff {figures['box_diff']:+.4f}")
    print(f"val wall time: {figures['val_seconds']:.2f} s (median of {len(times)}: "
          f"{', '.join(f'{t:.2f}' for t in times)}); with save_json "
          f"{figures['val_json_seconds']:.2f} s")
    print(json.dumps({"weights": str(weights), **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
