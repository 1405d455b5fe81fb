"""The Annotate page: the canvas, its tools, image navigation, undo/redo and autosave.

Every edit goes through an undo stack (one per image) into the image's ``ImageDocument``;
each change hands the image's list to the ``AutosaveWriter`` thread, which writes it within a
fraction of a second. The GUI thread reads the database (small queries) but never writes it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QPixmap, QUndoGroup, QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...services import annotations as service
from ...services.annotations import AnnotationData, AutosaveWriter
from ...services.projects import Project
from ...workers.job import JobManager
from ..elided_label import ElidedLabel
from ..empty_state import EmptyState
from ..page import Page
from .assist_tools import PageAssists
from .autosave_hooks import PageAutosave
from .canvas import AnnotationCanvas
from .commands import AddInstance, EditInstance, PageUndo, RemoveInstance
from .document import ImageDocument
from .drafts import DraftReview
from .image_strip import ImageStrip
from .instance_list import InstanceList
from .joint_panel import joint_panel_for
from .keymap import TOOL_KEYS, TOOL_TIPS, TOOLS_BY_TASK, cheat_sheet
from .model_assist import PageModelAssist
from .navigation import ImageNavigator
from .pose_tool import PoseTool
from .sam_tool import PageSam
from .side_panel import SidePanel
from .tools import EditTool, PolygonTool, Tool

CACHED_IMAGES = 64


class _WriterSignals(QObject):
    """Brings the autosave thread's callbacks to the GUI thread."""

    saved = Signal(int, object)
    failed = Signal(int, str)


class AnnotatePage(PageUndo, PageAutosave, Page, QWidget):
    """Annotate the project's images. ``imageChanged(image_id)`` after navigation;
    ``saveFailed(message)`` once when saving starts failing (the edit is kept and retried)."""

    imageChanged = Signal(int)
    saveFailed = Signal(str)
    saved = Signal()  # every pending edit is in the database
    context_title = "Annotations"
    undoable = ("undo", "redo")

    def __init__(self, project: Project, jobs: JobManager, parent: QWidget | None = None):
        super().__init__(parent)
        self.project, self.jobs = project, jobs
        self.task = project.task
        self.classes = project.classes()
        self.schema = project.keypoint_schema()
        dims = self.schema.dims if self.schema else 3
        self._signals = _WriterSignals(self)
        self._signals.saved.connect(self._on_saved)
        self._signals.failed.connect(self._on_failed)
        self.writer = AutosaveWriter(project.database, keypoint_dims=dims,
                                     on_saved=self._signals.saved.emit,
                                     on_error=lambda i, exc: self._signals.failed.emit(i, str(exc)))
        self.auto_advance = True
        self.image_ids: list[int] = []
        self.current_image_id: int | None = None
        self._documents: OrderedDict[int, tuple[ImageDocument, QUndoStack]] = OrderedDict()
        self._failing = False
        self.edited_images: set[int] = set()  # saved since the Datasets page last looked
        self.undo_group = QUndoGroup(self)
        self._build()
        self.tools: dict[str, Tool] = {
            "polygon": PolygonTool(self.canvas), "edit": EditTool(self.canvas),
            "keypoints": PoseTool(self.canvas), "box": PoseTool(self.canvas,
                                                                  place_keypoints=False)}
        self.navigator = ImageNavigator(self)
        self._make_actions()
        self.drafts = DraftReview(self)
        self.assists = PageAssists(self)  # box → polygon, magic wand, edge snapping (segment)
        self.sam = PageSam(self)  # Segment Anything (I) when a model pair is installed
        self.model_assist = PageModelAssist(self)  # the project's trained model (M)
        self.joints = joint_panel_for(self)  # pose: the joints and the keypoint tool's mode
        available = TOOLS_BY_TASK.get(self.task, ())
        self.set_tool(available[0] if available else None)
        self.refresh_images()

    # -- building -----------------------------------------------------------------------------
    def _build(self) -> None:
        self.canvas = AnnotationCanvas()
        self.canvas.classes, self.canvas.schema = self.classes, self.schema
        self.canvas.current_class = self.classes[0].index if self.classes else 0
        self.instance_list = InstanceList(self.canvas.class_name, self.canvas.class_color)
        self.panel = SidePanel(self.task, self.classes, self.instance_list)
        self.panel.classes.chosen.connect(self.assign_class)
        self.panel.classes.set_checked(self.canvas.current_class if self.task != "classify"
                                       else None)
        self.panel.opacity.valueChanged.connect(self._set_opacity)
        self.panel.trash.restore.connect(self.restore_annotation)
        self.canvas.selectionChanged.connect(self._on_canvas_selection)
        self.canvas.spaceTapped.connect(self.toggle_reviewed)
        self.instance_list.instanceSelected.connect(self._select_from_list)
        self.instance_list.deleteRequested.connect(self.delete_instances)
        self.toolbar = QHBoxLayout()
        self.tool_buttons: dict[str, QToolButton] = {}
        for name in TOOLS_BY_TASK.get(self.task, ()):
            key, text = TOOL_KEYS[name]
            button = QToolButton(text=f"{text.split(' (')[0]} ({key})", checkable=True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setToolTip(f"{text} — {key}\n{TOOL_TIPS.get(name, '')}".strip())
            button.clicked.connect(lambda _=False, n=name: self.set_tool(n))
            self.toolbar.addWidget(button)
            self.tool_buttons[name] = button
        self.advance_box = QCheckBox("Auto-advance after a class")
        self.advance_box.setChecked(True)
        self.advance_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.advance_box.toggled.connect(lambda on: setattr(self, "auto_advance", on))
        self.advance_box.setVisible(self.task == "classify")
        self.toolbar.addWidget(self.advance_box)
        # what the last key or click did ("nose: occluded"); a long hint ends in "…" and never
        # widens the window (the whole text is its tooltip)
        self.hint_label = ElidedLabel()
        self.hint_label.setStyleSheet("color: palette(link);")
        self.canvas.hint.connect(self._show_hint)
        self.file_label = QLabel()  # the image's file name (its path is the tooltip)
        self.file_label.setStyleSheet("font-weight: bold;")
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.file_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.file_label.setMinimumWidth(120)  # the tools' room left over: the whole name
        self.file_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.toolbar.addWidget(self.file_label, 1)
        self.position_label = QLabel()
        self.reviewed_label = QLabel()
        self.saved_label = QLabel("Saved")
        self.saved_label.setToolTip("Every edit is saved by itself within a second")
        for label in (self.reviewed_label, self.position_label, self.saved_label):
            self.toolbar.addWidget(label)
        self.strip = ImageStrip()  # the filmstrip under the canvas; its controls by the hint
        canvas_and_strip = QWidget()
        column = QVBoxLayout(canvas_and_strip)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.canvas, 1)
        column.addWidget(self.strip)
        splitter = QSplitter()
        splitter.addWidget(canvas_and_strip)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([900, 260])
        editor = QWidget()
        editor_layout = QVBoxLayout(editor)
        editor_layout.setContentsMargins(0, 0, 0, 0)
        editor_layout.addLayout(self.toolbar)
        hint_row = QHBoxLayout()  # the hint has the room the go-to controls leave
        hint_row.addWidget(self.hint_label, 1)
        hint_row.addWidget(self.strip.controls)
        editor_layout.addLayout(hint_row)
        editor_layout.addWidget(splitter, 1)
        self.empty = EmptyState("No images to annotate yet",
                                "Import a dataset or add images on the Datasets page; they "
                                "appear here to annotate.")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(editor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.stack)

    def _make_actions(self) -> None:
        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        self._shortcuts: list[tuple[str, str]] = []
        add = self.add_shortcut
        undo = self.undo_group.createUndoAction(self, "Undo")
        redo = self.undo_group.createRedoAction(self, "Redo")
        for action, keys in ((undo, ["Ctrl+Z"]), (redo, ["Ctrl+Shift+Z", "Ctrl+Y"])):
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(context)
            self.add_page_action(action)
        self.undo_action, self.redo_action = undo, redo
        add(["D", "Right"], "Next image", self.next_image)
        add(["A", "Left"], "Previous image", self.previous_image)
        self.next_unlabelled_action = add(["U"], "Next unlabelled image (no label, not "
                                          "background)", self.navigator.next_unlabelled)
        self.go_to_action = add(["Ctrl+G"], "Go to an image: type its number or file name",
                                self.strip.focus_go_to)
        for number in range(1, 10):
            add([str(number)], f"Class {number}", lambda _=False, n=number: self._number(n))
        for name in TOOLS_BY_TASK.get(self.task, ()):
            key, text = TOOL_KEYS[name]
            add([key], text, lambda _=False, n=name: self.set_tool(n))
        add(["Ctrl+=", "Ctrl++"], "Zoom in", self.canvas.zoom_in)
        add(["Ctrl+-"], "Zoom out", self.canvas.zoom_out)
        add(["Ctrl+0"], "Fit to window", self.canvas.fit)
        add(["Ctrl+1"], "Zoom 100 %", self.canvas.actual_size)
        if self.task != "classify":
            add(["H"], "Hide / show the selection", self.toggle_hide_selection)
            add(["Shift+H"], "Hide / show all labels", self.toggle_hide_all)

    def add_shortcut(self, keys: Sequence[str], text: str, slot: Callable[[], Any]) -> QAction:
        """A page action on ``keys`` doing ``slot``, listed as ``text`` in the F1 cheat sheet
        (how the page's parts, such as the draft review, add their keys)."""
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(slot)
        self.add_page_action(action)
        self._shortcuts.append((" / ".join(keys), text))
        return action

    def add_page_action(self, action: QAction) -> None:
        """Make ``action``'s keys work on the page and in its side panel, which the main
        window shows in its dock, outside the page (Ctrl+Z after Delete in the list)."""
        self.addAction(action)
        self.panel.addAction(action)

    def shortcuts(self) -> list[tuple[str, str]]:
        """``(key, what it does)`` for the F1 cheat sheet."""
        return cheat_sheet(self.task, self._shortcuts) + self.drafts.shortcuts()

    # -- images ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """The Page hook: the images (and classes) as the project has them now."""
        self.refresh_images()

    def refresh_images(self) -> None:
        """Read the image list again (after an import or a deletion elsewhere), and the
        classes, which an import may have added."""
        self.reload_project_classes()
        self.image_ids = service.list_image_ids(self.project.database)
        self.navigator.reload()
        self.stack.setCurrentIndex(1 if self.image_ids else 0)
        if self.current_image_id not in self.image_ids:
            self.current_image_id = None
            if self.image_ids:
                self.show_image(self.image_ids[0])
            else:
                self.canvas.set_document(None, None)
        self.update_position()

    def reload(self) -> None:
        """Forget cached images (their undo history too) and show the current one again."""
        self.writer.flush()
        current = self.current_image_id
        self._documents.clear()
        self.current_image_id = None
        self.refresh_images()
        if current in self.image_ids:
            self.show_image(current)

    def show_image(self, image_id: int) -> None:
        """Show image ``image_id`` with its annotations (edits on the last one are kept)."""
        self.polygon_tool_cancel()
        self.hint_label.clear()
        document, stack = self._document(image_id)
        self.current_image_id = image_id
        self.undo_group.setActiveStack(stack)
        self.canvas.undo_stack = stack
        pixmap = QPixmap(str(document.image.path))
        self.canvas.set_document(document, pixmap)
        self._show_document()
        self._show_trash()
        self.update_position()
        self.navigator.image_shown(image_id)
        self.imageChanged.emit(image_id)

    def next_image(self) -> None:
        self._step(1)

    def previous_image(self) -> None:
        self._step(-1)

    def _step(self, step: int) -> None:
        order = self.drafts.order()  # every image, or the draft review queue
        if not order:
            return
        if self.current_image_id not in order:
            self.show_image(order[0])
            return
        index = order.index(self.current_image_id) + step
        if 0 <= index < len(order):
            self.show_image(order[index])

    def drafts_changed(self) -> None:
        """A pre-label run wrote drafts: read the images again (and the review queue)."""
        self.reload()
        if self.drafts.active:
            self.drafts.set_active(True)

    def _document(self, image_id: int) -> tuple[ImageDocument, QUndoStack]:
        if image_id in self._documents:
            self._documents.move_to_end(image_id)
            return self._documents[image_id]
        database, dims = self.project.database, self.schema.dims if self.schema else 3
        image = service.load_image(database, image_id, self.project.resolve)
        pending = self.writer.pending(image_id)
        annotations = list(pending) if pending is not None else \
            service.load_annotations(database, image_id, dims)
        document = ImageDocument(image, annotations, self)
        document.changed.connect(lambda d=document: self._submit(d))
        document.structureChanged.connect(self._show_document)
        document.instanceChanged.connect(lambda _key: self._show_document())
        stack = QUndoStack(self)
        self.undo_group.addStack(stack)
        self._documents[image_id] = (document, stack)
        while len(self._documents) > CACHED_IMAGES:
            old_id, (old_doc, old_stack) = next(iter(self._documents.items()))
            if old_id == self.current_image_id:
                break
            del self._documents[old_id]
            self.undo_group.removeStack(old_stack)
            old_stack.deleteLater()
            old_doc.deleteLater()
        return document, stack

    def cached_documents(self) -> list[tuple[int, ImageDocument]]:
        """``(image id, document)`` of the images opened in this session (their edits may
        not be written yet)."""
        return [(image_id, pair[0]) for image_id, pair in self._documents.items()]

    @property
    def document(self) -> ImageDocument | None:
        return self.canvas.document

    @property
    def undo_stack(self) -> QUndoStack | None:
        return self.undo_group.activeStack()

    # -- tools and classes ---------------------------------------------------------------------
    def set_tool(self, name: str | None) -> None:
        """Make tool ``name`` (``polygon``, ``box``, ``keypoints``, ``edit``) the active one."""
        if name is not None and name not in TOOLS_BY_TASK.get(self.task, ()):
            return
        if self.canvas.tool is not None:
            self.canvas.tool.cancel()
        self.canvas.tool = self.tools.get(name) if name else None
        for tool_name, button in self.tool_buttons.items():
            button.setChecked(tool_name == name)
            font = button.font()  # bold too: the dark theme's checked bevel is faint
            font.setBold(tool_name == name)
            button.setFont(font)
        if self.canvas.tool is not None and self.document is not None:
            self.canvas.tool.activate()

    def reload_project_classes(self) -> None:
        """Read the project's classes again (after an import or a class edit elsewhere): the
        class buttons, and the names and colours on the canvas and in the list. The image, its
        edits and its undo history stay."""
        classes = self.project.classes()
        if classes == self.classes:
            return
        self.classes = self.canvas.classes = classes
        indices = [info.index for info in classes]
        if self.canvas.current_class not in indices:
            self.canvas.current_class = indices[0] if indices else 0
        self.panel.classes.set_classes(classes)
        if self.task != "classify":
            self.panel.classes.set_checked(self.canvas.current_class)
        self.canvas.refresh()
        self._show_document()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        """Classes, images and their marks (background, trash) may have changed while
        another page was shown: never show stale ones (one query each)."""
        super().showEvent(event)
        self.refresh_images()

    def polygon_tool_cancel(self) -> None:
        if self.canvas.tool is not None:
            self.canvas.tool.cancel()

    def _number(self, number: int) -> None:
        if number <= len(self.classes):
            self.assign_class(self.classes[number - 1].index)
        elif not self.classes:
            self.canvas.say("This project has no classes yet: add them with Classes… on the "
                            "Datasets page, or import a dataset")
        else:
            self.canvas.say(f"There is no class {number}: this project has "
                            f"{len(self.classes)}")

    def assign_class(self, index: int) -> None:
        """Classify: the image's class (then the next image when auto-advance is on).
        Otherwise: the class of new shapes and of the selected instance."""
        document = self.document
        if document is None:
            return
        if self.task == "classify":
            current = next((a for a in document.annotations if a.kind == "class"), None)
            if current is None:
                self.canvas.push(AddInstance(document, AnnotationData("class", index),
                                             text="Assign class"))
            elif current.class_index != index:
                self.canvas.push(EditInstance(document, current,
                                              replace(current, class_index=index),
                                              "Assign class"))
            if self.auto_advance:
                self.next_image()
            return
        self.canvas.current_class = index
        self.panel.classes.set_checked(index)
        selected = self.canvas.selected()
        if selected is not None and selected.class_index != index:
            self.canvas.push(EditInstance(document, selected,
                                          replace(selected, class_index=index), "Set class"))

    def delete_instances(self, keys: list[str]) -> None:
        """Delete instances (Delete in the Instances list): one undoable edit, saved."""
        document = self.document
        keys = [key for key in keys if document is not None and document.get(key) is not None]
        if not keys:
            return
        count = f"{len(keys)} instances" if len(keys) > 1 else "1 instance"
        self.canvas.push_macro(f"Delete {count}",
                               [RemoveInstance(document, key) for key in keys])
        self.canvas.select(None)
        self.canvas.say(f"Deleted {count} (Ctrl+Z brings them back)")

    def _show_hint(self, text: str) -> None:
        self.hint_label.setText(text)
        self.hint_label.setToolTip(text)

    def _select_from_list(self, key: str | None) -> None:
        tool = self.canvas.tool
        tool.select_instance(key) if tool is not None else self.canvas.select(key)

    def restore_annotation(self, data: AnnotationData) -> None:
        """Bring a deleted instance of this image back (an undoable edit)."""
        if self.document is not None and self.document.get(data.key) is None:
            self.canvas.push(AddInstance(self.document, data, text="Restore from trash"))

    def toggle_reviewed(self) -> None:
        """Space: mark the image reviewed (or not)."""
        document = self.document
        if document is None:
            return
        document.image = replace(document.image, reviewed=not document.image.reviewed)
        image_id, reviewed = document.image.id, document.image.reviewed
        self.writer.execute(lambda db: service.set_reviewed(db, image_id, reviewed))
        self.update_position()
        self.navigator.document_changed(document)

    def toggle_hide_selection(self) -> None:
        key = self.canvas.selected_key
        if key is not None:
            self.canvas.set_hidden(self.canvas.hidden ^ {key}, self.canvas.labels_hidden)

    def toggle_hide_all(self) -> None:
        self.canvas.set_hidden(self.canvas.hidden, not self.canvas.labels_hidden)

    def _set_opacity(self, value: int) -> None:
        self.canvas.fill_opacity = value / 100
        self.canvas.refresh()

    def close_page(self) -> None:
        """The main window's hook before the project closes."""
        self.navigator.close()
        self.assists.close()
        self.sam.close()
        self.model_assist.close()
        self.shutdown()

    def context_widget(self) -> QWidget:
        """Classes, instances and trash, for the main window's right-hand dock."""
        return self.panel

    # -- side panel ----------------------------------------------------------------------
    def _show_document(self) -> None:
        document = self.document
        if document is None:
            return
        self.instance_list.show_annotations(document.annotations, self.canvas.selected_key)
        if self.task == "classify":
            label = next((a for a in document.annotations if a.kind == "class"), None)
            self.panel.classes.set_checked(label.class_index if label else None)

    def _show_trash(self) -> None:
        if self.current_image_id is None:
            return
        dims = self.schema.dims if self.schema else 3
        deleted = service.load_annotations(self.project.database, self.current_image_id, dims,
                                           deleted=True)
        live = {a.id for a in self.document.annotations} if self.document else set()
        # labels of a deleted class keep class -1 (classes.DELETED_CLASS): not restorable here
        deleted = [d for d in deleted if d.id not in live and d.class_index >= 0]
        self.panel.trash.show_deleted(
            deleted, lambda d: f"{self.canvas.class_name(d.class_index)} ({d.kind})")

    def _on_canvas_selection(self, key: str | None) -> None:
        self.instance_list.select_key(key)
        selected = self.canvas.selected()
        if selected is not None and self.task != "classify":
            self.canvas.current_class = selected.class_index
            self.panel.classes.set_checked(selected.class_index)

    def update_position(self) -> None:
        """Show where the image is: its place in the list (or in the draft review) and
        whether it is reviewed."""
        review = self.drafts.position_text() if hasattr(self, "drafts") else None
        if review is not None:
            self.position_label.setText(review)
        elif self.current_image_id in self.image_ids:
            index = self.image_ids.index(self.current_image_id)
            self.position_label.setText(f"Image {index + 1} / {len(self.image_ids)}")
        else:
            self.position_label.setText("")
        document = self.document
        self.reviewed_label.setText("✓ reviewed" if document and document.image.reviewed
                                    else "")
