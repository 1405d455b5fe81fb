"""The label checker on the generated demo sets with label errors injected (issue 20, item 5).

Generates the shapes (segment) and figures (pose) sets, reads their labels into the checker's
pixel records (the copy that gets the errors: the files stay as written), injects one error in
about a quarter of the images, runs :func:`engine.assist.checker.check_labels`, and reports:

- recall: the share of injected errors that some finding names (its image and instance);
- false findings per 100 clean images: findings on the images that got no error (and, printed
  beside it, the findings on the injected images that do not name the injected instance).

Injected errors: shapes — a duplicated polygon (each vertex moved up to half a pixel), a
self-intersecting polygon (vertices 0 and 1 of a circle or rectangle exchanged), a tiny
stray polygon, a polygon moved by 60 % of its size, a wrong class; figures — a left/right pair
swapped (hands or feet), a duplicated figure, a box shifted by 60 % of its width (joints left
outside it), a whole figure moved. A moved polygon/figure and a wrong class are only visible
against a model: the "model" here is simulated from the *clean* labels (boxes jittered by up to
3 % of their size, scores 0.75–0.99 but 0.1–0.5 for one object in 20, one low-confidence false
positive in 10 images), since training one is not this benchmark's job. The weak scores model what
the checker is meant to get: predictions at a low confidence threshold (as validation uses, 0.001),
where a model still scores weakly what it misses at 0.5 (a label it does not see at all is
reported, by design). ``checker_recall_without_model`` counts only the errors geometry alone can
show.

Run: .venv/bin/python benchmarks/label_checker.py [--images 200] [--seed 0]
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.assist.checker import (  # noqa: E402
    LabelInstance,
    Prediction,
    check_labels,
    instance_from_normalised,
)
from engine.data.figure_samples import FLIP_IDX, make_figures_dataset  # noqa: E402
from engine.data.shape_samples import make_shapes_dataset  # noqa: E402
from engine.formats.yolo_labels import parse_line  # noqa: E402

SIZE = 320
CONVEX = (0, 2)  # circle, rectangle: exchanging vertices 0 and 1 always makes the outline cross
MODEL_ERRORS = {"moved", "wrong_class"}  # only a model's predictions can show these


def read_records(yaml_path: Path, task: str, prefix: str) -> dict[str, list[LabelInstance]]:
    """image id -> its labels, in pixels (every generated image is SIZE × SIZE)."""
    records = {}
    for label in sorted((yaml_path.parent / "labels").rglob("*.txt")):
        image = f"{prefix}/{label.stem}"
        items = []
        for line in label.read_text().splitlines():
            row = parse_line(line, task, (5, 3) if task == "pose" else None)
            if row is None:
                continue
            items.append(
                instance_from_normalised(
                    image,
                    len(items),
                    row.class_id,
                    (SIZE, SIZE),
                    box_xywh=row.box,
                    polygon=row.polygon,
                    keypoints=row.keypoints,
                )
            )
        records[image] = items
    return records


def _moved(item: LabelInstance, shift: np.ndarray) -> LabelInstance:
    box = item.box + np.tile(shift, 2) if item.box is not None else None
    polygon = item.polygon + shift if item.polygon is not None else None
    keypoints = None
    if item.keypoints is not None:
        keypoints = item.keypoints.copy()
        keypoints[:, :2] += shift
    return replace(item, box=box, polygon=polygon, keypoints=keypoints)


def _away(item: LabelInstance, rng, fraction: float) -> np.ndarray:
    size = item.box[2:] - item.box[:2]
    return size * fraction * rng.choice([-1.0, 1.0], 2)


def inject_shape_error(items, rng) -> tuple[str, list[LabelInstance], int]:
    """(kind, the image's new labels, the instance id the error is on)."""
    kind = str(rng.choice(["duplicate", "self_intersecting", "tiny", "moved", "wrong_class"]))
    pick = int(rng.integers(len(items)))
    item, items = items[pick], list(items)
    if kind == "self_intersecting" and item.class_index not in CONVEX:
        kind = "duplicate"
    if kind == "duplicate":
        jitter = rng.uniform(-0.5, 0.5, item.polygon.shape)
        copy = LabelInstance(item.image, len(items), item.class_index, None, item.polygon + jitter)
        return kind, [*items, copy], copy.instance
    if kind == "self_intersecting":
        polygon = item.polygon.copy()
        # In a convex outline of 4+ vertices, the edges n-1 → 1 and 0 → 2 then cross.
        polygon[[0, 1]] = polygon[[1, 0]]
        items[pick] = replace(item, polygon=polygon)
    elif kind == "tiny":
        corner = rng.uniform(10, SIZE - 10, 2)
        stray = corner + rng.uniform(0, 3, (3, 2))
        items.append(LabelInstance(item.image, len(items), item.class_index, None, stray))
        return kind, items, len(items) - 1
    elif kind == "moved":
        items[pick] = _moved(item, _away(item, rng, 0.6))
    else:
        items[pick] = replace(item, class_index=(item.class_index + 1) % 4)
    return kind, items, pick


def inject_figure_error(items, rng) -> tuple[str, list[LabelInstance], int]:
    """(kind, the image's new labels, the instance id the error is on)."""
    kind = str(rng.choice(["swap", "duplicate", "box_shifted", "moved"]))
    pick = int(rng.integers(len(items)))
    item, items = items[pick], list(items)
    if kind == "swap":
        keypoints = item.keypoints.copy()
        pair = [1, 2] if rng.random() < 0.5 else [3, 4]
        keypoints[pair] = keypoints[pair[::-1]]
        items[pick] = replace(item, keypoints=keypoints)
    elif kind == "duplicate":
        copy = _moved(item, rng.uniform(-1, 1, 2))
        items.append(replace(copy, instance=len(items)))
        return kind, items, len(items) - 1
    elif kind == "box_shifted":
        shift = (item.box[2] - item.box[0]) * 0.6 * rng.choice([-1.0, 1.0])
        items[pick] = replace(item, box=item.box + np.array([shift, 0, shift, 0]))
    else:
        items[pick] = _moved(item, _away(item, rng, 0.6))
    return kind, items, pick


def simulated_predictions(clean: dict[str, list[LabelInstance]], rng) -> dict:
    """A good model's output on each image, made from its clean labels (see the notes)."""
    predictions = {}
    for image, items in clean.items():
        found = []
        for item in items:
            weak = rng.random() < 0.05  # missed at the usual thresholds, seen weakly
            confidence = float(rng.uniform(0.1, 0.5) if weak else rng.uniform(0.75, 0.99))
            size = np.tile(item.box[2:] - item.box[:2], 2)
            box = item.box + rng.uniform(-0.03, 0.03, 4) * size
            found.append(Prediction(image, item.class_index, confidence, box))
        if rng.random() < 0.1:
            corner = rng.uniform(0, SIZE - 40, 2)
            box = np.concatenate((corner, corner + rng.uniform(10, 40, 2)))
            found.append(Prediction(image, 0, float(rng.uniform(0.05, 0.4)), box))
        predictions[image] = found
    return predictions


def run_set(clean, inject, flip_idx, rng, share: float):
    """Inject errors into ``share`` of the images, check, and count."""
    labelled, injected = {}, {}
    for image, items in clean.items():
        if items and rng.random() < share:
            kind, items, instance = inject(items, rng)
            injected[image] = (kind, instance)
        labelled[image] = items
    everything = [item for items in labelled.values() for item in items]
    predictions = simulated_predictions(clean, rng)
    findings = check_labels(everything, flip_idx=flip_idx, predictions=predictions)
    return labelled, injected, findings


def _found(findings, image: str, instance: int) -> bool:
    return any(f.image == image and (instance in f.instances) for f in findings)


def score(clean, injected, findings) -> dict[str, float]:
    """Counts for one set. ``other_findings`` are those on an injected image that do not name
    the injected instance (false findings there, or a second finding for one error)."""
    found = {image: _found(findings, image, inst) for image, (_, inst) in injected.items()}
    geometric = [found[i] for i, (kind, _) in injected.items() if kind not in MODEL_ERRORS]
    clean_images = [image for image in clean if image not in injected]
    false = [f for f in findings if f.image not in injected]
    other = [f for f in findings if f.image in injected and injected[f.image][1] not in f.instances]
    counts = {
        "errors": len(injected),
        "found": sum(found.values()),
        "geometric_errors": len(geometric),
        "geometric_found": sum(geometric),
        "clean_images": len(clean_images),
        "false_findings": len(false),
        "other_findings": len(other),
    }
    return {key: float(value) for key, value in counts.items()}


def measure(*, images: int = 200, seed: int = 0, share: float = 0.25) -> dict[str, float]:
    """Recall on the injected errors and false findings per 100 clean images, over ``images``
    generated images of each demo set (the keys ``checker_recall`` and
    ``checker_false_per_100_images``, and the parts they are made of)."""
    rng = np.random.default_rng(seed)
    totals: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        sets = (
            (
                make_shapes_dataset(Path(folder, "shapes"), train=images, val=0, seed=seed),
                "segment",
                "shapes",
                inject_shape_error,
                None,
            ),
            (
                make_figures_dataset(Path(folder, "figures"), train=images, val=0, seed=seed),
                "pose",
                "figures",
                inject_figure_error,
                FLIP_IDX,
            ),
        )
        for yaml_path, task, name, inject, flip_idx in sets:
            clean = read_records(yaml_path, task, name)
            _, injected, findings = run_set(clean, inject, flip_idx, rng, share)
            for key, value in score(clean, injected, findings).items():
                totals[key] = totals.get(key, 0) + value
                totals[f"{name}_{key}"] = value
    totals["checker_recall"] = totals["found"] / max(totals["errors"], 1)
    totals["checker_recall_without_model"] = totals["geometric_found"] / max(
        totals["geometric_errors"], 1
    )
    totals["checker_false_per_100_images"] = (
        100 * totals["false_findings"] / max(totals["clean_images"], 1)
    )
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="images per demo set")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    figures = measure(images=args.images, seed=args.seed)
    for name in ("shapes", "figures"):
        print(
            f"{name}: found {figures[f'{name}_found']:.0f} of {figures[f'{name}_errors']:.0f} "
            f"injected errors; {figures[f'{name}_false_findings']:.0f} findings on "
            f"{figures[f'{name}_clean_images']:.0f} clean images; "
            f"{figures[f'{name}_other_findings']:.0f} other findings on the injected images"
        )
    print(
        f"recall {figures['checker_recall']:.3f} (without a model: "
        f"{figures['checker_recall_without_model']:.3f}); false findings per 100 clean images "
        f"{figures['checker_false_per_100_images']:.2f}"
    )
    print(json.dumps({key: round(value, 4) for key, value in figures.items()}))


if __name__ == "__main__":
    main()
