"""Other tools' label formats: objects read / written / skipped, and seconds to import.

Two figures per format:

- ``--samples DIR``: every sample folder below ``DIR/<format>/`` (files the tools wrote) is
  converted with ``yolo convert``'s code; prints objects read, written, skipped and problems;
- generated: ``--images`` 64×64 JPEGs with 1–3 polygons each, written in each format by our
  own writers (Label Studio: its JSON export written here, as it has no writer), then
  converted to YOLO and imported into a new studio project; prints the seconds of each.

    python benchmarks/label_formats.py [--images 10000] [--samples tests/fixtures]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from engine.data.dataset_convert import convert_dataset
from engine.data.labelset_yolo import place_image
from engine.formats.labelset import LabeledImage, LabeledObject, LabelSet

NAMES = ["circle", "triangle", "square"]
SIZE = 64
WRITTEN = ("labelme", "cvat", "coco", "masks", "labelstudio")


def make_labelset(root: Path, count: int, seed: int = 0) -> LabelSet:
    """``count`` JPEGs under ``root/images`` and a label set of 1–3 polygons on each."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    images = []
    for index in range(count):
        name = f"{index:05d}.jpg"
        cv2.imwrite(str(root / "images" / name), rng.integers(0, 255, (SIZE, SIZE, 3), np.uint8))
        objects = tuple(_polygon(rng, i) for i in range(int(rng.integers(1, 4))))
        images.append(LabeledImage(PurePosixPath(name), SIZE, SIZE, file="generated",
                                   path=root / "images" / name, objects=objects))
    return LabelSet("generated", root, images, list(NAMES))


def _polygon(rng: np.random.Generator, index: int) -> LabeledObject:
    cx, cy = rng.uniform(0.3, 0.7, 2) * SIZE
    radius = rng.uniform(0.1, 0.25) * SIZE
    points = int(rng.integers(3, 13))
    angles = np.linspace(0, 2 * math.pi, points, endpoint=False)
    ring = np.stack((cx + radius * np.cos(angles), cy + radius * np.sin(angles)), 1)
    return LabeledObject(NAMES[int(rng.integers(0, 3))], "polygon", f"object {index}",
                         polygons=(np.round(ring, 3),))


def write_format(labels: LabelSet, format: str, output: Path) -> Path:
    """``labels`` in ``format`` under ``output`` (images placed beside), and the path to read."""
    output.mkdir(parents=True)
    for image in labels.images:
        assert image.path is not None
        place_image(image.path, output / image.name)
    if format == "labelme":
        from engine.formats.labelme_labelset_write import write_labelme_folder

        write_labelme_folder(labels, output)
        return output
    if format == "cvat":
        from engine.formats.cvat_write import write_cvat

        write_cvat(labels, output)
        return output / "annotations.xml"
    if format == "coco":
        from engine.formats.coco_labelset_write import write_coco_labelset

        return write_coco_labelset(labels, output / "annotations.json")
    if format == "masks":
        from engine.formats.masks_write import write_masks

        write_masks(labels, output)
        for image in labels.images:  # the VOC layout keeps photos in JPEGImages/
            place_image(output / image.name, output / "JPEGImages" / image.name)
        return output
    return _labelstudio_export(labels, output / "export.json")


def _labelstudio_export(labels: LabelSet, path: Path) -> Path:
    """Label Studio's JSON export of ``labels``: polygons in percent of the image size."""
    tasks = []
    for number, image in enumerate(labels.images, 1):
        results = [{
            "id": f"r{number}-{i}", "type": "polygonlabels", "from_name": "label",
            "to_name": "image", "original_width": image.width, "original_height": image.height,
            "value": {"points": (obj.polygons[0] / [image.width, image.height] * 100).tolist(),
                      "polygonlabels": [obj.label]},
        } for i, obj in enumerate(image.objects)]
        tasks.append({"id": number, "data": {"image": f"/data/upload/1/{image.name}"},
                      "annotations": [{"id": number, "result": results}]})
    path.write_text(json.dumps(tasks), encoding="utf-8")
    return path


def time_generated(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="label-formats-") as temp:
        root = Path(temp)
        labels = make_labelset(root / "source", count)
        print(f"{count} generated images, {labels.object_count()} polygons")
        print(f"{'format':<12} {'read':>7} {'written':>8} {'skipped':>8} {'convert s':>10}"
              f" {'studio import s':>16}")
        for format in WRITTEN:
            source = write_format(labels, format, root / format)
            started = time.perf_counter()
            report = convert_dataset(source, root / f"{format}-yolo", format=format,
                                     task="segment")
            converted = time.perf_counter() - started
            imported = _studio_import(source, format, root / f"{format}-project")
            print(f"{format:<12} {report.read:>7} {report.written:>8} {report.skipped:>8} "
                  f"{converted:>10.1f} {imported:>16}")


def _studio_import(source: Path, format: str, folder: Path) -> str:
    try:
        from studio.services.importers import import_dataset
        from studio.services.projects import create_project
    except ImportError as exc:  # the studio is optional for the engine figures
        return f"n/a ({exc.name})"
    project = create_project(folder, name="bench", task="segment")
    started = time.perf_counter()
    try:
        import_dataset(project, source, format=format)
    except Exception as exc:  # noqa: BLE001 - a format the studio does not import yet
        return f"n/a ({type(exc).__name__})"
    finally:
        project.close()
    return f"{time.perf_counter() - started:.1f}"


def time_samples(root: Path) -> None:
    print(f"{'sample':<48} {'format':<12} {'task':<8} {'read':>5} {'written':>7} "
          f"{'skipped':>7} {'problems':>8}")
    for format in ("labelme", "coco", "cvat", "labelstudio", "voc_masks", "yolo"):
        folder = root / format
        if not folder.is_dir():
            continue
        for sample in sorted(p for p in folder.iterdir() if p.is_dir() or p.suffix == ".json"):
            with tempfile.TemporaryDirectory(prefix="label-sample-") as temp:
                try:
                    report = convert_dataset(sample, Path(temp) / "out")
                except Exception as exc:  # noqa: BLE001 - one line per sample that fails
                    print(f"{sample.relative_to(root)!s:<48} {type(exc).__name__}: {exc}")
                    continue
            print(f"{sample.relative_to(root)!s:<48} {report.format:<12} {report.task:<8} "
                  f"{report.read:>5} {report.written:>7} {report.skipped:>7} "
                  f"{len(report.problems):>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--samples", type=Path, default=None)
    args = parser.parse_args()
    if args.samples is not None:
        time_samples(args.samples)
    if args.images:
        time_generated(args.images)


if __name__ == "__main__":
    main()
