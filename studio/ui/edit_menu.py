"""The main window's Edit menu: Undo / Redo act on the current page's edits (the Annotate
page's undo stack, the Datasets page's image edits), Go to and Next unlabelled are the
Annotate page's.

A page takes part through its ``Page`` hooks (``page.py``): ``undo_text()`` / ``redo_text()``
(what would be taken back, None when nothing), ``undo()`` / ``redo()``, and ``undoable`` (which
of the two its edits offer). The entries show their keys but leave the keys
to the pages' own actions (``WidgetShortcut`` on the menu, which never has the keyboard): a
second, window-wide Ctrl+Z would make the key ambiguous, and a window-wide U would fire on
every page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction

if TYPE_CHECKING:
    from .main_window import MainWindow
    from .page import Page


def build_edit_menu(window: MainWindow) -> dict[str, QAction]:
    """Add the Edit menu to ``window``'s menu bar; its actions by name."""
    menu = window.menuBar().addMenu("&Edit")
    entries = (("undo", "&Undo", _edit(window, "undo"), "Ctrl+Z"),
               ("redo", "&Redo", _edit(window, "redo"), ("Ctrl+Shift+Z", "Ctrl+Y")),
               (None, None, None, None),
               ("go_to", "&Go to Image…",
                _annotate_call(window, lambda page: page.strip.focus_go_to()), "Ctrl+G"),
               ("next_unlabelled", "Next &Unlabelled Image",
                _annotate_call(window, lambda page: page.navigator.next_unlabelled()), "U"))
    actions: dict[str, QAction] = {}
    for name, text, slot, keys in entries:
        if name is None:
            menu.addSeparator()
            continue
        action = window._action(menu, text, slot, keys)
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        actions[name] = action
    menu.aboutToShow.connect(lambda: update_edit_menu(window, actions))
    return actions


def update_edit_menu(window: MainWindow, actions: dict[str, QAction]) -> None:
    """Texts and states for the current page: "Undo Draw polygon" on the Annotate page;
    disabled, saying where, when the page has nothing to undo."""
    name, page = _current_page(window)
    for verb, label in (("undo", "Undo"), ("redo", "Redo")):
        action = actions[verb]
        what = _edit_text(page, verb)
        action.setEnabled(what is not None)
        if what is not None:
            action.setText(f"&{label} {what}".rstrip())
        elif page is not None and verb in page.undoable:
            action.setText(f"&{label} (nothing to {verb})")
        else:
            where = f"on the {name} page" if name else "without a project"
            action.setText(f"&{label} (nothing to {verb} {where})")
    for key in ("go_to", "next_unlabelled"):
        actions[key].setEnabled(name == "Annotate")


def _current_page(window: MainWindow) -> tuple[str | None, Page | None]:
    """The page shown and its rail name; (None, None) on the welcome page."""
    shown = window.stack.currentWidget()
    return next(((n, p) for n, p in window.pages.items() if p is shown), (None, None))


def _edit_text(page: Page | None, verb: str) -> str | None:
    if page is None:
        return None
    return page.undo_text() if verb == "undo" else page.redo_text()


def _edit(window: MainWindow, verb: str) -> Callable[[], None]:
    def run() -> None:
        _name, page = _current_page(window)
        if page is not None and _edit_text(page, verb) is not None:
            page.undo() if verb == "undo" else page.redo()
        window._update_edit_menu()
    return run


def _annotate_call(window: MainWindow, call: Callable[[Any], None]) -> Callable[[], None]:
    """A slot doing ``call(annotate_page)`` while the Annotate page is the page shown."""
    def run() -> None:
        target = window.pages.get("Annotate")
        if target is not None and window.stack.currentWidget() is target:
            call(target)
    return run
