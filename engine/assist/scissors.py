"""Edge snapping while drawing a polygon: intelligent scissors (livewire), as CVAT has.

OpenCV's ``cv2.segmentation.IntelligentScissorsMB`` computes the image's edge features once
per image (``applyImage``), a cost map of shortest paths from each placed vertex
(``buildMap``, the costly step: ~0.05 s at 512², ~0.3 s at 1,024²) and then, for every mouse
position, the path along the strongest edges back to that vertex (``getContour``, under a
millisecond). So a session is made once per image, the map is kept for the last vertex, and
moving the mouse costs almost nothing.

Fallback: an OpenCV build without the ``segmentation`` module (it is in the main modules since
4.5.2, so only a custom build lacks it) gets straight segments: ``ScissorsSession.snaps`` is
False, ``path`` returns the two end points, and the studio says that snapping is unavailable.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .scale import DEFAULT_MAX_SIDE, WorkingCopy, check_image, check_point, working_copy

__all__ = ["ScissorsSession", "scissors", "scissors_available"]

# OpenCV's documented example values. Canny edges rather than the default Laplacian zero
# crossings: on a smooth or finely textured background every bit of noise crosses zero, so
# paths cut corners through it (50 working pixels off a star's notch; Canny: 1)
_CANNY_THRESHOLDS = (32, 100)
_GRADIENT_LIMIT = 200  # very strong edges all cost the same


def scissors_available() -> bool:
    """Whether this OpenCV build has intelligent scissors (else paths are straight)."""
    segmentation = getattr(cv2, "segmentation", None)
    return segmentation is not None and hasattr(segmentation, "IntelligentScissorsMB")


class ScissorsSession:
    """Paths along the edges of one image. Not thread-safe: one worker at a time.

    ``path(from_point, to_point)`` gives the snapped path between two points in image pixels
    as a float64 ``[k, 2]`` array that starts at ``from_point`` and ends at ``to_point``
    exactly, simplified to within ``simplify`` working pixels so that it adds tens of
    vertices, not one per pixel.
    """

    def __init__(
        self, image: np.ndarray, *, max_side: int = DEFAULT_MAX_SIDE, simplify: float = 1.0
    ) -> None:
        image = check_image(image)
        self._shape = image.shape
        self._simplify = float(simplify)
        self._copy: WorkingCopy | None = None
        self._tool = None
        self._source: tuple[int, int] | None = None
        if scissors_available():
            self._copy = working_copy(image, None, max_side)
            self._tool = cv2.segmentation.IntelligentScissorsMB()
            self._tool.setEdgeFeatureCannyParameters(*_CANNY_THRESHOLDS)
            self._tool.setGradientMagnitudeMaxLimit(_GRADIENT_LIMIT)
            self._tool.applyImage(self._copy.image)

    @property
    def snaps(self) -> bool:
        """False where OpenCV lacks scissors and paths are straight segments."""
        return self._tool is not None

    def path(
        self, from_point: Sequence[float] | np.ndarray, to_point: Sequence[float] | np.ndarray
    ) -> np.ndarray:
        """The path from ``from_point`` to ``to_point`` (x, y in image pixels, both inside
        the image: ValueError naming the one that is not)."""
        start = check_point(from_point, self._shape, "from_point")
        end = check_point(to_point, self._shape, "to_point")
        if self._tool is None or self._copy is None:
            return np.stack((start, end))
        source, target = self._copy.pixel(start), self._copy.pixel(end)
        if source != self._source:  # a new vertex: the costly map, kept for the next moves
            self._tool.buildMap(source)
            self._source = source
        if source == target:
            return np.stack((start, end))
        chain = self._tool.getContour(target).reshape(-1, 2).astype(np.float32)
        if self._simplify > 0 and len(chain) > 2:
            chain = cv2.approxPolyDP(chain.reshape(-1, 1, 2), self._simplify, False)
        points = self._copy.to_full(chain.reshape(-1, 2))
        points[0], points[-1] = start, end  # the user's vertices, not their working pixels
        return points


def scissors(
    image: np.ndarray, *, max_side: int = DEFAULT_MAX_SIDE, simplify: float = 1.0
) -> ScissorsSession:
    """A scissors session on ``image`` (its edge features computed now, on a copy downscaled
    to ``max_side``): call ``.path(from_point, to_point)`` as the mouse moves."""
    return ScissorsSession(image, max_side=max_side, simplify=simplify)
