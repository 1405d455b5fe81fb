"""The class editor: add, rename, recolour, reorder, merge and delete the project's classes.

A dialog with the class list (colour, number, name, labels), the edits as buttons, a context
menu and keys (F2 rename, Delete, Alt+Up / Alt+Down), and Undo / Redo (Ctrl+Z, Ctrl+Shift+Z,
Ctrl+Y) over every edit made while it is open. A merge or a delete first shows what it will do
to the labels (``studio.services.classes.impact``) in a bar that asks once; other edits say it
after the fact, undoable. ``classesChanged(renumbered)`` follows every edit, undo and redo so
that the pages reload; ``open_class_editor`` wires it to the main window.
"""

from __future__ import annotations

from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPixmap, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QColorDialog,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...errors import ProjectError
from ...services import classes as service
from ...services.classes import (
    AddClass,
    ClassChange,
    ClassOperation,
    DeleteClass,
    MergeClass,
    MoveClass,
    RecolorClass,
    RenameClass,
)
from ...services.projects import ClassInfo, Project

NAME_COLUMN = 1
ERROR_STYLE = "color: #d55e00;"


def swatch(color: str, size: int = 14) -> QIcon:
    """A square of the class colour."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


class ClassEditCommand(QUndoCommand):
    """One class edit on the editor's undo stack. The edit is already done when it is pushed,
    so the first ``redo`` (which ``push`` calls) does nothing."""

    def __init__(self, editor: ClassEditor, change: ClassChange) -> None:
        super().__init__(change.text)
        self.editor, self.change = editor, change
        self._done = True

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        self.editor.run_change(lambda db: service.reapply(db, self.change), self.change,
                               "Redone")

    def undo(self) -> None:
        self.editor.run_change(lambda db: service.revert(db, self.change), self.change,
                               "Undone")


class ClassEditor(QDialog):
    """Edit ``project``'s classes. ``before_change`` runs before each write (the main window
    passes one that writes the Annotate page's pending edits first, so that they are renumbered
    with the rest); ``classesChanged(renumbered)`` follows each change."""

    classesChanged = Signal(bool)  # noqa: N815 - Qt signal naming

    def __init__(self, project: Project, parent: QWidget | None = None,
                 before_change: Callable[[], object] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Classes")
        self.setObjectName("classEditor")
        self.project = project
        self.before_change = before_change
        self.classes: list[ClassInfo] = []
        self.undo_stack = QUndoStack(self)
        self._pending: ClassOperation | None = None
        self._filling = False
        self._build()
        self._make_actions()
        self.reload()
        self.resize(560, 460)

    # ----- building -----
    def _build(self) -> None:
        self.tree = QTreeWidget()
        self.tree.setObjectName("classList")
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["#", "Class", "Labels"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed
                                  | QAbstractItemView.EditTrigger.DoubleClicked)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)

        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("New class name")
        self.add_button = QPushButton("Add")
        self.add_button.setToolTip("Add a class with this name at the end of the list (Enter)")
        add_row = QHBoxLayout()
        add_row.addWidget(self.new_name, 1)
        add_row.addWidget(self.add_button)

        self.rename_button = QPushButton("Rename")
        self.rename_button.setToolTip("Rename the selected class (F2, or double-click its name)")
        self.color_button = QPushButton("Colour…")
        self.color_button.setToolTip("Choose the selected class's colour")
        self.up_button = QPushButton("Move up")
        self.up_button.setToolTip("Swap the class with the one above (Alt+Up); its labels "
                                  "follow it")
        self.down_button = QPushButton("Move down")
        self.down_button.setToolTip("Swap the class with the one below (Alt+Down)")
        self.merge_button = QPushButton("Merge into…")
        self.merge_button.setToolTip("Make this class's labels another class's, and remove it")
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Remove the class; its labels go to the trash (Delete)")
        side = QVBoxLayout()
        for button in (self.rename_button, self.color_button, self.up_button, self.down_button,
                       self.merge_button, self.delete_button):
            side.addWidget(button)
        side.addStretch(1)
        middle = QHBoxLayout()
        middle.addWidget(self.tree, 1)
        middle.addLayout(side)

        self.confirm_bar = QFrame()
        self.confirm_bar.setObjectName("confirmBar")
        self.confirm_bar.setFrameShape(QFrame.Shape.StyledPanel)
        self.confirm_text = QLabel()
        self.confirm_text.setWordWrap(True)
        self.confirm_button = QPushButton()
        self.cancel_button = QPushButton("Cancel")
        bar = QVBoxLayout(self.confirm_bar)
        bar.addWidget(self.confirm_text)
        bar_buttons = QHBoxLayout()
        bar_buttons.addStretch(1)
        bar_buttons.addWidget(self.cancel_button)
        bar_buttons.addWidget(self.confirm_button)
        bar.addLayout(bar_buttons)
        self.confirm_bar.hide()

        self.message = QLabel()
        self.message.setObjectName("classEditorMessage")
        self.message.setWordWrap(True)
        self.undo_button = QPushButton("Undo")
        self.redo_button = QPushButton("Redo")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        bottom = QHBoxLayout()
        bottom.addWidget(self.undo_button)
        bottom.addWidget(self.redo_button)
        bottom.addStretch(1)
        bottom.addWidget(self.buttons)

        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Labels refer to classes by number (#); the exported files "
                                "use these numbers and names."))
        layout.addLayout(middle, 1)
        layout.addLayout(add_row)
        layout.addWidget(self.confirm_bar)
        layout.addWidget(self.message)
        layout.addLayout(bottom)

        self.add_button.clicked.connect(self.add_class)
        self.new_name.returnPressed.connect(self.add_class)
        self.rename_button.clicked.connect(self.start_rename)
        self.color_button.clicked.connect(self.choose_color)
        self.up_button.clicked.connect(lambda: self.move_selected(-1))
        self.down_button.clicked.connect(lambda: self.move_selected(1))
        self.merge_button.clicked.connect(self._merge_menu_at_button)
        self.delete_button.clicked.connect(self.ask_delete)
        self.confirm_button.clicked.connect(self.confirm)
        self.cancel_button.clicked.connect(self.cancel_confirmation)
        self.undo_button.clicked.connect(self.undo_stack.undo)
        self.redo_button.clicked.connect(self.undo_stack.redo)
        self.buttons.rejected.connect(self.reject)
        self.tree.itemChanged.connect(self._item_edited)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.undo_stack.indexChanged.connect(lambda _index: self._update_undo_buttons())

    def _make_actions(self) -> None:
        """Keys that work anywhere in the dialog (but not while a name is being typed: the
        line edit takes Ctrl+Z for its own text first)."""

        def add(keys: list[str], slot: Callable[[], object]) -> QAction:
            action = QAction(self)
            action.setShortcuts([QKeySequence(key) for key in keys])
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(lambda _checked=False: slot())
            self.addAction(action)
            return action

        self.undo_action = add(["Ctrl+Z"], self.undo_stack.undo)
        self.redo_action = add(["Ctrl+Shift+Z", "Ctrl+Y"], self.undo_stack.redo)
        add(["Alt+Up"], lambda: self.move_selected(-1))
        add(["Alt+Down"], lambda: self.move_selected(1))
        delete = QAction(self.tree)  # Delete only from the list: a line edit needs it
        delete.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(lambda _checked=False: self.ask_delete())
        self.tree.addAction(delete)

    # ----- reading -----
    def reload(self) -> None:
        """Read the classes and their label counts again (keeps the selected row)."""
        selected = self.selected_index()
        self.classes = self.project.classes()
        counts = service.label_counts(self.project.database)
        self._filling = True
        self.tree.clear()
        for info in self.classes:
            item = QTreeWidgetItem([str(info.index), info.name, f"{counts.get(info.index, 0):,}"])
            item.setIcon(0, swatch(info.color))
            item.setData(0, Qt.ItemDataRole.UserRole, info.index)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setToolTip(1, f"{info.name} (class {info.index}, {info.color})")
            self.tree.addTopLevelItem(item)
        self._filling = False
        if self.classes:
            row = min(selected if selected is not None else 0, len(self.classes) - 1)
            self.tree.setCurrentItem(self.tree.topLevelItem(row))
        self._update_buttons()
        self._update_undo_buttons()

    def selected_index(self) -> int | None:
        """The class number of the selected row, if any."""
        item = self.tree.currentItem()
        return None if item is None else int(item.data(0, Qt.ItemDataRole.UserRole))

    def select_class(self, index: int) -> None:
        """Make class ``index`` the selected row."""
        if 0 <= index < self.tree.topLevelItemCount():
            self.tree.setCurrentItem(self.tree.topLevelItem(index))

    # ----- the edits -----
    def add_class(self) -> None:
        """Add the class typed in the name field."""
        if self.perform(AddClass(self.new_name.text())):
            self.new_name.clear()
            self.select_class(len(self.classes) - 1)

    def start_rename(self) -> None:
        """Edit the selected class's name in place (Enter keeps it, Esc leaves it)."""
        item = self.tree.currentItem()
        if item is not None:
            self.tree.setFocus()
            self.tree.editItem(item, NAME_COLUMN)

    def choose_color(self) -> None:
        """A colour dialog for the selected class; the choice is applied when it closes."""
        index = self.selected_index()
        if index is None:
            return
        dialog = QColorDialog(QColor(self.classes[index].color), self)
        dialog.setWindowTitle(f"Colour of '{self.classes[index].name}'")
        dialog.colorSelected.connect(
            lambda color: self.perform(RecolorClass(index, color.name())))
        dialog.finished.connect(dialog.deleteLater)
        self.color_dialog = dialog
        dialog.open()

    def move_selected(self, offset: int) -> None:
        """Swap the selected class with its neighbour above (-1) or below (+1)."""
        index = self.selected_index()
        if index is None or not 0 <= index + offset < len(self.classes):
            return
        if self.perform(MoveClass(index, offset)):
            self.select_class(index + offset)

    def ask_merge(self, target: int) -> None:
        """Show what merging the selected class into ``target`` does, and ask."""
        source = self.selected_index()
        if source is not None:
            self._ask(MergeClass(source, target), f"Merge into '{self.classes[target].name}'")

    def ask_delete(self) -> None:
        """Show what deleting the selected class does, and ask."""
        index = self.selected_index()
        if index is not None:
            self._ask(DeleteClass(index), f"Delete '{self.classes[index].name}'")

    def confirm(self) -> None:
        """Do the edit the bar asked about."""
        operation, self._pending = self._pending, None
        self.confirm_bar.hide()
        if operation is not None:
            self.perform(operation)
        self.tree.setFocus()

    def cancel_confirmation(self) -> None:
        self._pending = None
        self.confirm_bar.hide()
        self.message.clear()
        self.tree.setFocus()

    def perform(self, operation: ClassOperation) -> bool:
        """Do ``operation`` and put it on the undo stack; say what it did (or what is wrong)."""
        try:
            service.impact(self.project.database, operation)  # checks it before any write
            if self.before_change is not None:
                self.before_change()
            change = service.apply(self.project.database, operation)
        except ProjectError as exc:
            self._say(_sentence(exc.message), error=True)
            self.reload()
            return False
        self.undo_stack.push(ClassEditCommand(self, change))
        self._after(change, f"Done: {change.text}. Ctrl+Z undoes it.")
        return True

    def run_change(self, write: Callable[[object], None], change: ClassChange,
                   verb: str) -> None:
        """Undo or redo ``change`` through ``write(database)`` (the undo stack's commands)."""
        try:
            if self.before_change is not None:
                self.before_change()
            write(self.project.database)
        except ProjectError as exc:
            # the stack believes it moved: start a fresh history once this call has returned
            QTimer.singleShot(0, self.undo_stack.clear)
            self._say(f"{_sentence(exc.message)} The undo history was cleared.", error=True)
            self.reload()
            return
        self._after(change, f"{verb}: {change.text}.")

    # ----- reactions -----
    def _after(self, change: ClassChange, text: str) -> None:
        self.reload()
        self._say(text)
        self.classesChanged.emit(bool(change.labels_before) or bool(change.index_map))

    def _ask(self, operation: ClassOperation, action: str) -> None:
        try:
            text = service.impact(self.project.database, operation)
        except ProjectError as exc:
            self._say(_sentence(exc.message), error=True)
            return
        self._pending = operation
        self.confirm_text.setText(f"{text} You can undo this (Ctrl+Z) while this window is "
                                  "open.")
        self.confirm_button.setText(action)
        self.message.clear()
        self.confirm_bar.show()
        self.confirm_button.setFocus()

    def _item_edited(self, item: QTreeWidgetItem, column: int) -> None:
        if self._filling or column != NAME_COLUMN:
            return
        index = int(item.data(0, Qt.ItemDataRole.UserRole))
        if item.text(NAME_COLUMN) == self.classes[index].name:
            return
        # once the item editor has closed: perform() rebuilds the items it is writing to
        name = item.text(NAME_COLUMN)
        QTimer.singleShot(0, lambda: self._rename(index, name))

    def _rename(self, index: int, name: str) -> None:
        self.tree.setFocus()
        self.perform(RenameClass(index, name))
        self.select_class(index)

    def _merge_menu_at_button(self) -> None:
        menu = self._merge_menu()
        if menu is not None:
            self.merge_menu = menu
            menu.popup(self.merge_button.mapToGlobal(QPoint(0, self.merge_button.height())))

    def _merge_menu(self) -> QMenu | None:
        source = self.selected_index()
        if source is None or len(self.classes) < 2:
            return None
        menu = QMenu(f"Merge '{self.classes[source].name}' into", self)
        for info in self.classes:
            if info.index != source:
                action = menu.addAction(swatch(info.color), f"{info.index}  {info.name}")
                action.triggered.connect(lambda _=False, t=info.index: self.ask_merge(t))
        return menu

    def _context_menu(self, position: QPoint) -> None:
        item = self.tree.itemAt(position)
        if item is not None:
            self.tree.setCurrentItem(item)
        menu = QMenu(self)
        menu.addAction("Rename", self.start_rename).setShortcut(QKeySequence("F2"))
        menu.addAction("Colour…", self.choose_color)
        menu.addAction("Move up", lambda: self.move_selected(-1))
        menu.addAction("Move down", lambda: self.move_selected(1))
        merge = self._merge_menu()
        if merge is not None:
            merge.setTitle("Merge into")
            menu.addMenu(merge)
        menu.addAction("Delete…", self.ask_delete)
        for action in menu.actions():
            action.setEnabled(item is not None)
        self.context_menu = menu
        menu.popup(self.tree.viewport().mapToGlobal(position))

    def _update_buttons(self) -> None:
        index = self.selected_index()
        chosen = index is not None
        for button in (self.rename_button, self.color_button, self.delete_button):
            button.setEnabled(chosen)
        self.merge_button.setEnabled(chosen and len(self.classes) > 1)
        self.up_button.setEnabled(chosen and index > 0)
        self.down_button.setEnabled(chosen and index < len(self.classes) - 1)

    def _update_undo_buttons(self) -> None:
        stack = self.undo_stack
        if not shiboken6.isValid(stack) or not shiboken6.isValid(self.undo_button):
            return  # the dialog is being deleted: clearing the stack still signals
        self.undo_button.setEnabled(stack.canUndo())
        self.redo_button.setEnabled(stack.canRedo())
        self.undo_button.setToolTip(f"Undo {stack.undoText()} (Ctrl+Z)" if stack.canUndo()
                                    else "Nothing to undo")
        self.redo_button.setToolTip(f"Redo {stack.redoText()} (Ctrl+Shift+Z)"
                                    if stack.canRedo() else "Nothing to redo")

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message.setStyleSheet(ERROR_STYLE if error else "")
        self.message.setText(text)

    def reject(self) -> None:
        """Esc first closes the confirmation bar, then the dialog."""
        if self.confirm_bar.isVisible():
            self.cancel_confirmation()
            return
        super().reject()


def _sentence(message: str) -> str:
    """An error message as a sentence: capital first, full stop last."""
    text = message[:1].upper() + message[1:]
    return text if text.endswith(".") else f"{text}."


def open_class_editor(project: Project, parent: QWidget) -> ClassEditor:
    """Open the class editor over ``parent`` (the Datasets page), wired to the main window:
    the Annotate page's pending edits are written before each change, and after it every page
    reloads its classes (and the Annotate page its labels, when labels were renumbered)."""
    window = parent.window()
    pages: dict[str, QWidget] = getattr(window, "pages", {})

    def write_pending() -> None:
        for page in pages.values():
            flush = getattr(page, "flush", None)
            if callable(flush):
                flush()

    def changed(renumbered: bool) -> None:
        annotate = pages.get("Annotate")
        if renumbered and annotate is not None and hasattr(annotate, "reload"):
            annotate.reload()  # its cached images hold the old numbers (and undo history)
        reload_all = getattr(window, "dataset_changed", None)
        if callable(reload_all):
            reload_all()
        elif hasattr(parent, "refresh"):
            parent.refresh()

    editor = ClassEditor(project, parent, before_change=write_pending)
    editor.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    editor.classesChanged.connect(changed)
    editor.open()
    return editor
