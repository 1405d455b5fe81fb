"""Mouse actions to label 5-keypoint figures on the Annotate page: the template against
clicking each joint in order.

A scripted run of the real Annotate page (offscreen Qt, real mouse events on the canvas) on
the generated figures set (``engine.data.figure_samples``): a new pose project with the
figures' schema (head, hands, feet: a custom schema, so its template is a circle until the
first object is labelled, then the mean pose of the labelled ones), its images, no labels.
Each figure is labelled until every joint is within ``--tolerance`` image pixels of the truth:

- in order (T): drag the box, then one click per joint: 6 actions a figure;
- template (the default): drag the box (the whole skeleton lands in it), then drag each joint
  that is off; a drag that grabs another joint (two close together) falls back to picking the
  joint in the Joints panel and clicking its place (2 actions).

Counts mouse clicks and drags only (visibility keys are the same either way). Prints the
totals and, last, one JSON line.

    QT_QPA_PLATFORM=offscreen python benchmarks/pose_clicks.py [--images 20] [--tolerance 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@dataclass
class Figure:
    """One labelled figure of an image: its box (pixel corners) and 5 joints (pixels)."""

    image_index: int
    box: tuple[float, float, float, float]
    joints: list[tuple[float, float]]


@dataclass
class Tally:
    """Mouse actions per figure, and joints that ended off by more than the tolerance."""

    actions: list[int] = field(default_factory=list)
    missed: int = 0


def read_figures(root: Path, size: int) -> tuple[list[Path], list[Figure]]:
    """The generated images and their figures (from the YOLO pose label files)."""
    images = sorted((root / "images" / "train").glob("*.jpg"))
    figures = []
    for index, image in enumerate(images):
        label = root / "labels" / "train" / f"{image.stem}.txt"
        for line in label.read_text().splitlines():
            values = [float(v) for v in line.split()[1:]]
            cx, cy, w, h = (v * size for v in values[:4])
            joints = [(values[4 + 3 * i] * size, values[5 + 3 * i] * size) for i in range(5)]
            figures.append(Figure(index, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2),
                                  joints))
    return images, figures


def make_project(folder: Path, images: list[Path], size: int):
    """A new pose project with the figures' schema and ``images`` (no labels)."""
    from engine.data.figure_samples import FLIP_IDX, KEYPOINT_NAMES, SKELETON
    from studio.services.keypoint_schemas import KeypointSchema
    from studio.services.projects import create_project
    from studio.state import Image

    schema = KeypointSchema.build(KEYPOINT_NAMES, SKELETON, FLIP_IDX)
    project = create_project(folder, name="clicks", task="pose", classes=["figure"],
                             keypoints=schema)
    with project.database.session() as session:
        for path in images:
            session.add(Image(path=str(path), width=size, height=size))
    return project


class Driver:
    """Real mouse events on the page's canvas, counted."""

    def __init__(self, page) -> None:
        self.page, self.actions = page, 0

    def _at(self, point):
        from PySide6.QtCore import QPointF

        return self.page.canvas.mapFromScene(QPointF(*point))

    def drag(self, start, end) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        viewport = self.page.canvas.viewport()
        QTest.mousePress(viewport, Qt.MouseButton.LeftButton, pos=self._at(start))
        middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        for point in (middle, end):
            QTest.mouseMove(viewport, self._at(point))
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=self._at(end))
        self.actions += 1

    def click(self, point) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        QTest.mouseClick(self.page.canvas.viewport(), Qt.MouseButton.LeftButton,
                         pos=self._at(point))
        self.actions += 1

    def click_joint_row(self, index: int) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        listing = self.page.joints.list
        rect = listing.visualItemRect(listing.item(index))
        QTest.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        self.actions += 1


def joints_now(page) -> list[tuple[float, float]]:
    """The selected (last drawn) instance's joints in image pixels."""
    data = page.document.annotations[-1]
    width, height = page.canvas.size_px
    values = data.keypoints
    return [(values[i] * width, values[i + 1] * height) for i in range(0, len(values), 3)]


def off(page, figure: Figure, tolerance: float) -> list[int]:
    return [i for i, (placed, true) in enumerate(zip(joints_now(page), figure.joints,
                                                     strict=True))
            if math.dist(placed, true) > tolerance]


def label_in_order(driver: Driver, figure: Figure) -> None:
    x0, y0, x1, y1 = figure.box
    driver.drag((x0, y0), (x1, y1))
    for joint in figure.joints:
        driver.click(joint)


def label_with_template(driver: Driver, figure: Figure, tolerance: float) -> None:
    page = driver.page
    x0, y0, x1, y1 = figure.box
    driver.drag((x0, y0), (x1, y1))
    for index in off(page, figure, tolerance):
        driver.drag(joints_now(page)[index], figure.joints[index])
    for index in off(page, figure, tolerance):  # a drag grabbed a neighbour instead
        driver.click_joint_row(index)
        driver.click(figure.joints[index])
    if page.canvas.tool.placing:  # the next drag must be the next figure's box
        raise SystemExit("a joint is still selected for placing after the figure")


def run(mode: str, images: list[Path], figures: list[Figure], folder: Path, size: int,
        tolerance: float) -> Tally:
    """Label every figure on a new project's Annotate page in ``mode``."""
    from studio.ui.annotate import AnnotatePage
    from studio.workers.job import JobManager

    project = make_project(folder / mode, images, size)
    page = AnnotatePage(project, JobManager())
    page.resize(1280, 720)
    page.show()
    page.joints.set_template_mode(mode == "template")
    tally = Tally()
    try:
        for figure in figures:
            image_id = page.image_ids[figure.image_index]
            if page.current_image_id != image_id:
                page.show_image(image_id)
                page.canvas.fit()
            driver = Driver(page)
            if mode == "template":
                label_with_template(driver, figure, tolerance)
            else:
                label_in_order(driver, figure)
            tally.missed += len(off(page, figure, tolerance))
            tally.actions.append(driver.actions)
        page.flush()
    finally:
        page.shutdown()
        project.close()
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--tolerance", type=float, default=3.0,
                        help="image pixels a joint may be off the truth")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from engine.data.figure_samples import make_figures_dataset

    app = QApplication.instance() or QApplication(sys.argv[:1])
    temp = Path(tempfile.mkdtemp(prefix="pose_clicks_"))
    os.environ["YOLO_STUDIO_SETTINGS_DIR"] = str(temp / "settings")
    make_figures_dataset(temp / "figures", size=args.size, train=args.images, val=0)
    images, figures = read_figures(temp / "figures", args.size)
    results = {mode: run(mode, images, figures, temp, args.size, args.tolerance)
               for mode in ("in_order", "template")}
    app.processEvents()
    for mode, tally in results.items():
        total = sum(tally.actions)
        print(f"{mode:9s}: {total} mouse actions for {len(figures)} figures "
              f"({total / len(figures):.2f} a figure; first figure {tally.actions[0]}, "
              f"after it {sum(tally.actions[1:]) / max(len(figures) - 1, 1):.2f} a figure); "
              f"joints left off by > {args.tolerance:g} px: {tally.missed}")
    summary = {f"{mode}_actions_per_figure": round(sum(t.actions) / len(figures), 3)
               for mode, t in results.items()}
    summary.update(figures=len(figures), tolerance_px=args.tolerance,
                   template_first_figure=results["template"].actions[0],
                   missed={mode: t.missed for mode, t in results.items()})
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
