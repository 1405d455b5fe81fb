"""The name of the keypoint under the cursor, on a tag beside it (any tool, any keypoint with a
position: visible, occluded, or not labelled but kept in place)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import shiboken6

from ...state.models import KEYPOINTS
from .geometry import Point, is_placed
from .hit_tests import HIT_PIXELS
from .items import joint_tag

if TYPE_CHECKING:
    from .canvas import AnnotationCanvas

HOVER_Z = 60


class KeypointHover:
    """Shows and hides the hover tag as the mouse moves over the canvas."""

    def __init__(self, canvas: AnnotationCanvas) -> None:
        self.canvas = canvas
        self.tag = None
        self.shown: tuple[str, int, float, float, float] | None = None

    def keypoint_at(self, point: Point) -> tuple[str, int, float, float, float] | None:
        """``(key, index, x, y, v)`` of the keypoint within reach of ``point`` (pixels)."""
        canvas = self.canvas
        for annotation in canvas._ordered(KEYPOINTS):
            for index, (x, y, v) in enumerate(canvas.keypoints_px(annotation)):
                if is_placed(x, y, v) and canvas.screen_distance(point, (x, y)) <= HIT_PIXELS:
                    return annotation.key, index, x, y, v
        return None

    def update(self, point: Point | None) -> None:
        """Show the tag of the keypoint at ``point`` (None: the cursor left the canvas).
        The selected keypoint is named already, and while placing keypoints the cursor
        carries the name of the next one: neither gets a second tag."""
        canvas = self.canvas
        placing = getattr(canvas.tool, "placing", False)  # the cursor names the joint to place
        hit = self.keypoint_at(point) if point is not None and canvas.document and not placing \
            else None
        if hit is not None and (hit[0], hit[1]) == (canvas.selected_key,
                                                     canvas.selected_keypoint):
            hit = None
        if hit == self.shown:
            return
        self.clear()
        if hit is None:
            return
        key, index, x, y, v = hit
        names = canvas.schema.names if canvas.schema else ()
        self.tag = joint_tag((x, y), index, names, v)
        self.tag.setZValue(HOVER_Z)
        canvas.scene().addItem(self.tag)
        self.shown = hit

    def text(self) -> str | None:
        """The hover tag's text (None when none shows)."""
        return self.tag.text if self.tag is not None else None

    def clear(self) -> None:
        if self.tag is not None and shiboken6.isValid(self.tag) and self.tag.scene():
            self.tag.scene().removeItem(self.tag)
        self.tag, self.shown = None, None

    def forget(self) -> None:
        """The scene is about to be cleared (another image): drop the reference only."""
        self.tag, self.shown = None, None
