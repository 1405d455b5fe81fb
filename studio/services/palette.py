"""Class colours: a fixed colour-blind-safe palette, the same colour for a class everywhere."""

from __future__ import annotations

# Okabe-Ito's eight (without black), then Paul Tol's muted set: distinguishable for the common
# colour-vision deficiencies, and readable on light and dark images.
PALETTE = (
    "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7",
    "#332288", "#88ccee", "#44aa99", "#117733", "#999933", "#ddcc77", "#cc6677", "#882255",
    "#aa4499",
)
KEYPOINT_SIDES = {"left": "#0072b2", "right": "#d55e00", "centre": "#009e73"}
"""Keypoint colours by the side of the body their name says (``left_*``, ``right_*``, others)."""


def class_color(index: int) -> str:
    """The default colour of class ``index``."""
    return PALETTE[index % len(PALETTE)]


def keypoint_side(name: str) -> str:
    """``left``, ``right`` or ``centre`` from a keypoint's name."""
    lowered = name.lower()
    for side in ("left", "right"):
        if lowered.startswith(side) or f"_{side}" in lowered or lowered.startswith(side[0] + "_"):
            return side
    return "centre"
