"""The Annotate page's tools per task, their keys, and the F1 cheat sheet's rows."""

from __future__ import annotations

from engine.tasks import all_tasks

from ...state.models import CLASS, KEYPOINTS, POLYGON, annotation_kind

TOOLS_BY_KIND = {POLYGON: ("polygon", "box_polygon", "wand", "sam", "edit"),
                 KEYPOINTS: ("keypoints", "box", "edit"), CLASS: ()}
"""The tools that draw each kind of annotation, the first one active when the page opens."""
TOOLS_BY_TASK = {task.name: TOOLS_BY_KIND[task.annotation_kind] for task in all_tasks()
                 if task.annotation_kind in TOOLS_BY_KIND}
"""The tools each task offers: those of the kind of annotation that trains it."""

TOOL_KEYS = {"polygon": ("P", "Polygon (click its corners; S: edges snap to the image)"),
             "box": ("R", "Box tool (pose: box only)"),
             "keypoints": ("K", "Keypoint tool (a box places the skeleton template; T: click "
                                "each joint in order)"),
             "edit": ("V", "Edit (select, drag, Shift+click inserts a vertex)"),
             "box_polygon": ("B", "Outline (box → polygon: drag a box around an object)"),
             "wand": ("W", "Wand (magic wand: click a region, its outline; tolerance in the "
                           "side panel)"),
             "sam": ("I", "AI (Segment Anything: click an object or drag a box; needs a "
                          "model pair)")}

TOOL_TIPS = {
    "polygon": "Click the outline's corners; Enter, a double-click or the first vertex closes "
               "it. With edge snapping on (S), each new edge follows the image's edges.",
    "box_polygon": "Drag a box around one object: its outline becomes a polygon of the "
                   "current class. Then click to add a missed part, right-click (or "
                   "Shift/Alt+click) to cut a wrong part; Enter ends.",
    "wand": "Click inside a region of similar colour: it becomes a polygon of the current "
            "class (the side panel's tolerance sets how similar). Then click to add, right-click "
            "(or Shift/Alt+click) to cut; Enter ends.",
    "sam": "Segment Anything: click the object, right-click (or Alt+click) the background, "
           "drag a box; the outline shows as a preview, Enter adds it, Esc drops it.",
    "edit": "Select instances; drag vertices, keypoints, box corners or whole instances; "
            "Shift+click on an edge inserts a vertex; arrows nudge.",
    "keypoints": "Drag a box: the whole skeleton template appears in it, each joint "
                 "draggable (the joint panel shows which are placed). T switches to clicking "
                 "the joints in order after the box.",
    "box": "Drag a box (pose: a box without keypoints).",
}
"""What each tool does, for its button's tooltip."""


def cheat_sheet(task: str, actions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``(key, what it does)`` rows: the page's actions plus the keys the canvas handles."""
    rows = [("Ctrl+Z", "Undo (while drawing a polygon: remove the last vertex)"),
            ("Ctrl+Shift+Z / Ctrl+Y", "Redo")]
    kind = annotation_kind(task)
    rows.append(("1–9", "Assign the image's class (auto-advance)" if kind == CLASS
                 else "Set the class of the selection and of new shapes"))
    rows += [row for row in actions if not row[1].startswith("Class ")]
    rows += [("Wheel", "Zoom at the cursor"), ("Space-drag / middle-drag", "Pan"),
             ("Space", "Mark the image reviewed")]
    if kind == POLYGON:
        rows += [("Enter / double-click / click first vertex", "Close the polygon"),
                 ("Esc", "Cancel the polygon / clear the selection"),
                 ("Shift+click on an edge", "Insert a vertex (edit tool)"),
                 ("Click after a box → polygon or wand result",
                  "Refine it: add the part under the click"),
                 ("Right-click / Shift+click / Alt+click after a result",
                  "Refine it: cut the part under the click"),
                 ("Enter / Esc after a result", "Stop refining (the outline stays)"),
                 ("AI tool (I): click / right-click or Alt+click / drag",
                  "Segment Anything: object / background / box prompts; Enter adds the "
                  "preview, Esc drops it")]
    if kind == KEYPOINTS:
        rows += [("Keypoint tool (K): drag a box", "Place the skeleton template in it (T: "
                  "click the joints in order instead)"),
                 ("Click a joint in the joint panel", "Select it for placing"),
                 ("Tab / Shift+Tab", "Next / previous keypoint"),
                 ("Q", "Cycle visibility: visible → occluded → not labelled (before a "
                       "keypoint is placed: how the next click places it)"),
                 ("Esc", "Stop placing keypoints / clear the selection"),
                 ("Hover a keypoint", "Its number, name and visibility (occluded: dashed "
                                      "ring; not labelled: grey cross)")]
    if kind != CLASS:
        rows += [("Delete / Backspace", "Delete the selected vertex, keypoint or instance"),
                 ("Delete / Backspace in the Instances list", "Delete the selected instances"),
                 ("Arrows / Shift+arrows", "Nudge the selection 1 / 10 px (edit tool)")]
    return rows
