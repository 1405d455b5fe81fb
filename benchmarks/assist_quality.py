"""Annotation assists on the generated demo sets: how close the outlines are, and how fast.

- Box → polygon (``engine.assist.classical.box_to_polygon``) on the generated shapes set
  (``make_shapes_dataset``: 320×320 JPEGs, 1–4 circles, triangles, rectangles, stars on noisy
  backgrounds): each true polygon's bounding box, loosened by a random 0–10% of its size on
  each side as a hand-drawn box is, goes in; the IoU of the outline with the true polygon
  (both filled at the image's pixels) and the time per object come out. The tight box's IoU
  is printed beside it.
- Magic wand (``magic_wand``) on the same set: one click at the interior point farthest from
  the polygon's edge (``cv2.distanceTransform``), default tolerance; median IoU.
- A 10,000 × 10,000 photo: seconds per assist on its downscaled working copy (box → polygon,
  wand, refine, a scissors session and its first and next paths), and the box's IoU.

Each figure is one function returning a dict; ``main`` prints a line per figure and, last, one
JSON object with the keys the issue names (the label checker's from benchmarks/label_checker.py,
errors injected into copies of the demo sets).

Run: .venv/bin/python benchmarks/assist_quality.py [--images 250]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.assist.classical import box_to_polygon, magic_wand, refine, scissors
from engine.data.images import read_image
from engine.data.shape_samples import make_shapes_dataset
from engine.formats.outlines import fill_outlines
from engine.formats.yolo_labels import parse_line


@dataclass(frozen=True)
class Sample:
    """One generated image and its true polygons in image pixels."""

    image: np.ndarray
    polygons: tuple[np.ndarray, ...]


def load_shapes(root: Path, limit: int | None = None) -> list[Sample]:
    """The shapes set written under ``root`` (train then val), at most ``limit`` images."""
    make_shapes_dataset(root)
    samples = []
    for image_path in sorted((root / "images").glob("*/*.jpg"))[:limit]:
        image = read_image(image_path)
        height, width = image.shape[:2]
        label_path = root / "labels" / image_path.parent.name / f"{image_path.stem}.txt"
        rows = [parse_line(line, "segment") for line in label_path.read_text().splitlines()]
        polygons = tuple(row.polygon * (width, height) for row in rows if row is not None)
        samples.append(Sample(image, polygons))
    return samples


def polygon_iou(found: np.ndarray | None, truth: np.ndarray, shape: tuple[int, ...]) -> float:
    """IoU of two polygons filled at the image's pixels (0 when nothing was found)."""
    if found is None:
        return 0.0
    a = fill_outlines([found], [], *shape[:2]).astype(bool)
    b = fill_outlines([truth], [], *shape[:2]).astype(bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def loosened(box: np.ndarray, rng: np.random.Generator, most: float = 0.1) -> np.ndarray:
    """``box`` (x0, y0, x1, y1) widened on each side by a random 0..``most`` of its size."""
    size = np.tile(box[2:] - box[:2], 2)
    return box + rng.uniform(0, most, 4) * size * (-1, -1, 1, 1)


def box_to_polygon_figure(samples: list[Sample], seed: int = 0) -> dict:
    """Median IoU (loose and tight boxes), ms per object, median vertices."""
    rng = np.random.default_rng(seed)
    loose, tight, seconds, vertices = [], [], [], []
    for sample in samples:
        for truth in sample.polygons:
            box = np.concatenate((truth.min(0), truth.max(0)))
            started = time.perf_counter()
            found = box_to_polygon(sample.image, loosened(box, rng))
            seconds.append(time.perf_counter() - started)
            loose.append(polygon_iou(found, truth, sample.image.shape))
            vertices.append(0 if found is None else len(found))
            tight.append(polygon_iou(box_to_polygon(sample.image, box), truth, sample.image.shape))
    return {
        "objects": len(loose),
        "median_iou": statistics.median(loose),
        "median_iou_tight_box": statistics.median(tight),
        "share_iou_over_0.9": float(np.mean(np.array(loose) > 0.9)),
        "ms_per_object": 1000 * statistics.fmean(seconds),
        "ms_p95": 1000 * float(np.percentile(seconds, 95)),
        "median_vertices": int(np.median(vertices)),
    }


def deepest_point(truth: np.ndarray, shape: tuple[int, ...]) -> tuple[float, float]:
    """The pixel inside ``truth`` farthest from its edge."""
    inside = fill_outlines([truth], [], *shape[:2])
    distance = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return float(x), float(y)


def magic_wand_figure(samples: list[Sample], tolerance: float = 32) -> dict:
    """Median IoU from one click at each polygon's deepest point; ms per click."""
    ious, seconds = [], []
    for sample in samples:
        for truth in sample.polygons:
            point = deepest_point(truth, sample.image.shape)
            started = time.perf_counter()
            found = magic_wand(sample.image, point, tolerance)
            seconds.append(time.perf_counter() - started)
            ious.append(polygon_iou(found, truth, sample.image.shape))
    return {
        "objects": len(ious),
        "tolerance": tolerance,
        "median_iou": statistics.median(ious),
        "share_iou_over_0.85": float(np.mean(np.array(ious) > 0.85)),
        "ms_per_click": 1000 * statistics.fmean(seconds),
    }


def huge_image_figure(size: int = 10_000) -> dict:
    """Seconds per assist on a ``size``² photo (a star 60% of it across on noisy stripes),
    each on its downscaled working copy, and the IoU of the box's outline (at a tenth)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:1000, 0:1000]
    stripes = 18 * np.sin(xx / 5.0 + yy / 9.0)[..., None] + rng.normal(0, 18, (1000, 1000, 3))
    tile = np.clip((110, 130, 100) + stripes, 0, 255).astype(np.uint8)
    image = np.tile(tile, (size // 1000, size // 1000, 1))
    angles = 0.3 + np.arange(10) * np.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, 0.3, 0.15) * size
    centre = np.array([0.52, 0.47]) * size
    truth = centre + np.stack((radii * np.cos(angles), radii * np.sin(angles)), 1)
    cv2.fillPoly(image, [np.round(truth).astype(np.int32)], (200, 60, 170))
    box = np.concatenate((truth.min(0), truth.max(0))) + (-100, -100, 100, 100)
    timings = {}

    def timed(name, call):
        started = time.perf_counter()
        result = call()
        timings[name] = time.perf_counter() - started
        return result

    found = timed("box_to_polygon_s", lambda: box_to_polygon(image, box))
    timed("magic_wand_s", lambda: magic_wand(image, centre, 40))
    half = truth[truth[:, 0] <= centre[0] + 1]
    timed("refine_s", lambda: refine(image, half, positive=[truth[0] - (200, 0)]))
    session = timed("scissors_session_s", lambda: scissors(image))
    timed("scissors_first_path_s", lambda: session.path(truth[0], truth[2]))
    timed("scissors_next_path_s", lambda: session.path(truth[0], truth[4]))
    shrink = 0.1
    small = (round(size * shrink),) * 2
    iou = polygon_iou((found + 0.5) * shrink - 0.5, (truth + 0.5) * shrink - 0.5, small)
    return {"size": size, **timings, "box_iou": iou}


def checker_figure(images: int = 200, seed: int = 0) -> dict:
    """The label checker on errors injected into copies of the demo sets
    (benchmarks/label_checker.py)."""
    from label_checker import measure  # beside this script (benchmarks/ is on the path)

    return measure(images=images, seed=seed)


def _line(name: str, figure: dict) -> str:
    parts = [
        f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}"
        for key, value in figure.items()
    ]
    return f"{name}: " + " ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--images",
        type=int,
        default=None,
        help="use the first N images of the shapes set (default: all 250)",
    )
    parser.add_argument(
        "--no-huge", action="store_true", help="skip the 10,000² image (it takes 300 MB of memory)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        samples = load_shapes(Path(folder) / "shapes", args.images)
    box = box_to_polygon_figure(samples)
    print(_line("box_to_polygon", box), flush=True)
    wand = magic_wand_figure(samples)
    print(_line("magic_wand", wand), flush=True)
    if not args.no_huge:
        print(_line("huge_image", huge_image_figure()), flush=True)
    checker = checker_figure()
    print(_line("label_checker", checker), flush=True)
    print(
        json.dumps(
            {
                "box_to_polygon_median_iou": round(box["median_iou"], 4),
                "box_to_polygon_ms": round(box["ms_per_object"], 1),
                "magic_wand_median_iou": round(wand["median_iou"], 4),
                "checker_recall": round(checker["checker_recall"], 4),
                "checker_false_per_100_images": round(checker["checker_false_per_100_images"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
