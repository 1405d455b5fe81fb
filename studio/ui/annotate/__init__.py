"""The Annotate page: a canvas for polygons (segment), boxes with keypoints (pose) and image
classes (classify), with undo/redo, autosave and the trash."""

from .page import AnnotatePage

__all__ = ["AnnotatePage"]
