"""The Annotate page's joint panel (pose projects): the schema's joints with each one's state
on the selected instance, a click on one selects it for placing, and the keypoint tool's mode
(a box places the whole template, or each joint is clicked in order; T toggles).

It keeps the template the keypoint tool places: the schema's built-in layout, or for a custom
schema the mean pose of the project's labelled objects (a circle before there are any).
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QCheckBox, QGroupBox, QLabel, QListWidget, QVBoxLayout

from ...services.keypoint_schemas import (
    TEMPLATES,
    Layout,
    builtin_layout,
    circle_layout,
    labelled_poses,
    mean_layout,
)
from ...services.palette import KEYPOINT_SIDES, keypoint_side
from ...state.models import KEYPOINTS
from .document import ImageDocument
from .geometry import is_placed, keypoint_triples

if TYPE_CHECKING:
    from .page import AnnotatePage

PLACED, OCCLUDED, NOT_LABELLED = "placed", "occluded", "not labelled"
STATE_COLORS = {PLACED: None, OCCLUDED: "#e69f00", NOT_LABELLED: "#8a8f98"}
"""The state's text colour (None: the theme's); the icon has the joint's side colour."""
REFRESH_MS = 100


def joint_panel_for(page: AnnotatePage) -> JointPanel | None:
    """The page's joint panel when its project has keypoints (None otherwise)."""
    return JointPanel(page) if page.schema is not None and "keypoints" in page.tools else None


def joint_state(values: tuple[float, float, float]) -> str:
    """``placed`` (visible), ``occluded`` or ``not labelled`` for one ``(x, y, v)``."""
    x, y, v = values
    if not is_placed(x, y, v) or v == 0:
        return NOT_LABELLED
    return OCCLUDED if v == 1 else PLACED


def state_icon(state: str, side_color: str) -> QIcon:
    """As the canvas draws the joint: a dot (placed), a ring (occluded), a grey cross."""
    pixmap = QPixmap(14, 14)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if state == NOT_LABELLED:
        painter.setPen(QPen(QColor(STATE_COLORS[NOT_LABELLED]), 2))
        painter.drawLine(3, 3, 11, 11)
        painter.drawLine(11, 3, 3, 11)
    else:
        painter.setPen(QPen(QColor(side_color), 2))
        painter.setBrush(QColor(side_color) if state == PLACED else Qt.BrushStyle.NoBrush)
        painter.drawEllipse(QPointF(7, 7), 5, 5)
    painter.end()
    return QIcon(pixmap)


class JointPanel(QGroupBox):
    """Joints of the selected instance by name with their state, live; a click on one
    selects it for placing (the next click on the canvas puts it there)."""

    def __init__(self, page: AnnotatePage) -> None:
        super().__init__("Joints")
        self.page, self.canvas = page, page.canvas
        self.tool = page.tools["keypoints"]
        self.names = page.schema.names
        self._layout: Layout | None = None
        self.source = ""
        self._document: ImageDocument | None = None  # the one whose edits we follow
        self._shown: tuple | None = None
        self.template_box = QCheckBox("A box places the whole skeleton (T)")
        self.template_box.setToolTip("On: drag a box and every joint is placed from the "
                                     "template, then drag the ones that are off. Off: drag a "
                                     "box, then click each joint in order.")
        self.template_box.setChecked(self.tool.template_mode)
        self.template_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.template_box.toggled.connect(self.set_template_mode)
        self.source_label = QLabel()
        self.source_label.setWordWrap(True)
        self.source_label.setStyleSheet("color: palette(placeholder-text);")
        self.list = QListWidget()
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Q, Tab stay the canvas's
        self.list.itemClicked.connect(lambda item: self.choose(self.list.row(item)))
        layout = QVBoxLayout(self)
        layout.addWidget(self.template_box)
        layout.addWidget(self.source_label)
        layout.addWidget(self.list, 1)
        for index, name in enumerate(self.names):
            self.list.addItem(f"{index + 1} · {name}")
        self.tool.layout = self.layout
        page.add_shortcut(["T"], "Keypoint tool: a box places the whole skeleton / click "
                          "each joint in order", self.toggle_template_mode)
        panel = page.panel.layout()  # below the instances, above the trash
        panel.insertWidget(panel.indexOf(page.panel.trash), self, 1)
        page.imageChanged.connect(self._image_changed)
        self.canvas.selectionChanged.connect(lambda _key: self.refresh())
        # the selected joint also changes without a signal (Tab, a placement): a light clock
        self._timer = QTimer(self, interval=REFRESH_MS, timeout=self.refresh)
        self._timer.start()
        self._show_source()

    # -- the template ---------------------------------------------------------------------
    def layout(self) -> Layout:
        """The template a box places (kept until an edit could change the mean pose)."""
        if self._layout is None:
            self._layout, self.source = self._compute_layout()
            self._show_source()
        return self._layout

    def _compute_layout(self) -> tuple[Layout, str]:
        schema, count = self.page.schema, len(self.names)
        builtin = builtin_layout(schema)
        if builtin is not None:
            name = next((n for n, t in TEMPLATES.items() if t.names == schema.names), "")
            return builtin, f"Template: {name.split(' (')[0]} (built in)"
        documents = self.page.cached_documents()
        poses = labelled_poses(self.page.project.database,
                               skip_images=[image_id for image_id, _ in documents])
        poses += [(a.box, a.keypoints) for _, document in documents
                  for a in document.annotations
                  if a.kind == KEYPOINTS and not a.draft and a.box and a.keypoints]
        mean = mean_layout(poses, count)
        if mean is not None:
            layout, used = mean
            objects = "object" if used == 1 else "objects"
            return layout, f"Template: the mean pose of {used} labelled {objects}"
        return circle_layout(count), ("Template: a circle for now (once objects are "
                                      "labelled, their mean pose)")

    def _forget_layout(self) -> None:
        if builtin_layout(self.page.schema) is None:
            self._layout = None  # the mean pose may have changed: computed at the next box

    def _show_source(self) -> None:
        if not self.source:
            self.layout()
            return
        mode = self.source if self.tool.template_mode else "Click each joint in order after " \
            "the box"
        self.source_label.setText(mode)

    # -- the mode -------------------------------------------------------------------------
    def set_template_mode(self, on: bool) -> None:
        """A box places the whole template (True) or is followed by a click per joint."""
        self.tool.template_mode = on
        if self.template_box.isChecked() != on:
            self.template_box.setChecked(on)  # calls back here once, then matches
            return
        self._show_source()
        self.canvas.say("Keypoint tool: a box places the whole skeleton; drag the joints "
                        "that are off (T: click each joint in order)" if on else
                        "Keypoint tool: drag a box, then click each joint in order "
                        "(T: a box places the whole skeleton)")

    def toggle_template_mode(self) -> None:
        """T: switch the mode (and to the keypoint tool, where it applies)."""
        if self.canvas.tool is not self.tool:
            self.page.set_tool("keypoints")
        self.set_template_mode(not self.tool.template_mode)

    # -- the joints -----------------------------------------------------------------------
    def states(self) -> list[str] | None:
        """Each joint's state on the selected instance (None when no pose is selected)."""
        selected = self.canvas.selected()
        if selected is None or selected.kind != KEYPOINTS or not selected.keypoints:
            return None
        return [joint_state(t) for t in keypoint_triples(selected.keypoints)]

    def choose(self, index: int) -> None:
        """Select joint ``index`` of the selected instance for placing: the next click on the
        canvas puts it there (Q first: placed occluded or left out)."""
        selected = self.canvas.selected()
        if selected is None or selected.kind != KEYPOINTS:
            self.canvas.say("Select an instance or draw a box first, then choose its joint")
            self.refresh()
            return
        if self.canvas.tool is not self.tool:
            self.page.set_tool("keypoints")
        self.canvas.select(selected.key, keypoint=index)
        self.canvas.setFocus()
        self.canvas.say(f"Click where {self.names[index]} goes (Q first: occluded or not "
                        "labelled; Esc: stop)")
        self.refresh()

    def refresh(self) -> None:
        """Show the selected instance's joint states and the joint being placed (cheap when
        nothing changed: the clock calls it)."""
        if not self.isVisible() and self._shown is not None:
            return
        states = self.states()
        current = self.canvas.selected_keypoint if states is not None else None
        shown = (tuple(states) if states else None, current)
        if shown == self._shown:
            return
        self._shown = shown
        for index, name in enumerate(self.names):
            item = self.list.item(index)
            state = states[index] if states and index < len(states) else None
            item.setText(f"{index + 1} · {name} — {state}" if state else f"{index + 1} · {name}")
            side = KEYPOINT_SIDES[keypoint_side(name)]
            item.setIcon(state_icon(state, side) if state else QIcon())  # none: no instance
            color = STATE_COLORS.get(state) if state else STATE_COLORS[NOT_LABELLED]
            item.setForeground(QColor(color) if color else self.list.palette().text())
        self.list.setCurrentRow(-1 if current is None else current)
        if current is not None:
            self.list.scrollToItem(self.list.item(current))  # the joint a click places
        if states is None:
            self.setTitle("Joints (select or draw an instance)")
        else:
            self.setTitle(f"Joints: {states.count(PLACED) + states.count(OCCLUDED)} of "
                          f"{len(states)} placed")

    def _image_changed(self, _image_id: int) -> None:
        document: ImageDocument | None = self.page.document
        if document is not self._document:
            if self._document is not None:
                with suppress(RuntimeError):  # deleted with the page's cache
                    self._document.changed.disconnect(self._document_changed)
            if document is not None:
                document.changed.connect(self._document_changed)
            self._document = document
        self._document_changed()

    def _document_changed(self) -> None:
        self._forget_layout()
        QTimer.singleShot(0, self.refresh)  # after the tool selects the next joint
