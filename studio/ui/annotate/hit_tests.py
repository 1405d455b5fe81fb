"""Which instance, vertex, edge, keypoint or box corner is under a point, measured in
screen pixels so hits feel the same at any zoom."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF

from ...services.annotations import AnnotationData
from ...state.models import KEYPOINTS, POLYGON
from .geometry import Point, box_to_pixels, contains, segment_distance, to_pixels

HIT_PIXELS = 7.0


class HitTests:
    """Mixed into the canvas (which provides ``document``, ``size_px``, ``selected`` ...)."""

    def screen_distance(self, a: Point, b: Point) -> float:
        transform = self.viewportTransform()
        pa, pb = transform.map(QPointF(*a)), transform.map(QPointF(*b))
        return math.hypot(pa.x() - pb.x(), pa.y() - pb.y())

    def _ordered(self, kind: str) -> list[AnnotationData]:
        """Instances of ``kind``, the selected first, then topmost first."""
        if self.document is None:
            return []
        found = [a for a in reversed(self.document.annotations)
                 if a.kind == kind and a.key not in self.hidden and not self.labels_hidden]
        found.sort(key=lambda a: a.key != self.selected_key)
        return found

    def hit_vertex(self, point: Point) -> tuple[str, int] | None:
        width, height = self.size_px
        for annotation in self._ordered(POLYGON):
            for index, vertex in enumerate(to_pixels(annotation.polygon or (), width, height)):
                if self.screen_distance(point, vertex) <= HIT_PIXELS:
                    return annotation.key, index
        return None

    def hit_edge(self, point: Point) -> tuple[str, int, Point] | None:
        """``(key, index to insert at, nearest point)`` of an edge under ``point``."""
        width, height = self.size_px
        for annotation in self._ordered(POLYGON):
            points = to_pixels(annotation.polygon or (), width, height)
            for index in range(len(points)):
                a, b = points[index], points[(index + 1) % len(points)]
                _, nearest = segment_distance(point, a, b)
                if self.screen_distance(point, nearest) <= HIT_PIXELS:
                    return annotation.key, index + 1, nearest
        return None

    def hit_keypoint(self, point: Point) -> tuple[str, int] | None:
        for annotation in self._ordered(KEYPOINTS):
            for index, (x, y, v) in enumerate(self.keypoints_px(annotation)):
                if v > 0 and self.screen_distance(point, (x, y)) <= HIT_PIXELS:
                    return annotation.key, index
        return None

    def hit_box_corner(self, point: Point) -> tuple[str, int] | None:
        """A corner of the selected pose box: 0 top-left, 1 top-right, 2 bottom-left, 3..."""
        annotation = self.selected()
        if annotation is None or annotation.kind != KEYPOINTS or not annotation.box:
            return None
        x0, y0, x1, y1 = box_to_pixels(annotation.box, *self.size_px)
        for index, corner in enumerate(((x0, y0), (x1, y0), (x0, y1), (x1, y1))):
            if self.screen_distance(point, corner) <= HIT_PIXELS:
                return annotation.key, index
        return None

    def hit_instance(self, point: Point) -> str | None:
        width, height = self.size_px
        for kind in (POLYGON, KEYPOINTS):
            for annotation in self._ordered(kind):
                if kind == POLYGON:
                    inside = contains(to_pixels(annotation.polygon or (), width, height), point)
                else:
                    x0, y0, x1, y1 = box_to_pixels(annotation.box or (0, 0, 0, 0), width, height)
                    inside = x0 <= point[0] <= x1 and y0 <= point[1] <= y1
                if inside:
                    return annotation.key
        return None
