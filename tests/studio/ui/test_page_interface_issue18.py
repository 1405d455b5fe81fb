"""The main window talks to its pages through one interface, ``studio.ui.page.Page`` (issue 18:
it probed them with getattr/hasattr). Every page implements it explicitly; the window's dock,
Edit menu, F1 list and "open in Annotate" go through it, on the real window."""

from __future__ import annotations

import inspect

import pytest
from PySide6.QtCore import Qt

from studio.ui import main_window
from studio.ui.main_window import PAGES, page_factories
from studio.ui.page import Page

from .test_window_issue16 import click_rail, open_in, project_with_images, show_active

REQUIRED = ("refresh", "close_page", "shortcuts")


@pytest.mark.parametrize("name", PAGES)
def test_every_page_implements_the_interface_explicitly(name):
    page_class = page_factories()[name]
    assert issubclass(page_class, Page)
    for hook in REQUIRED:  # no page relies on the interface's NotImplementedError
        assert getattr(page_class, hook) is not getattr(Page, hook), (name, hook)
    has_panel = page_class.context_widget is not Page.context_widget
    assert bool(page_class.context_title) == has_panel  # a panel in the dock has its title


def test_the_main_window_probes_no_page():
    source = inspect.getsource(main_window)
    assert "hasattr(" not in source
    assert "getattr(page" not in source and "getattr(self.pages" not in source


def test_the_window_reaches_every_page_through_the_interface(window, qtbot, tmp_path):
    open_in(window, qtbot, project_with_images(tmp_path))
    show_active(window, qtbot)
    assert all(isinstance(page, Page) for page in window.pages.values())
    for name in PAGES:
        click_rail(window, name)
        page = window.pages[name]
        panel = page.context_widget()
        assert window.context_dock.isVisible() == (panel is not None)
        if panel is not None:
            assert window.context_dock.windowTitle() == page.context_title
        window._update_edit_menu()  # as the Edit menu does when it opens
        undo, redo = window.edit_actions["undo"].text(), window.edit_actions["redo"].text()
        if name == "Datasets":  # image edits can be undone, not redone
            assert (undo, redo) == ("&Undo (nothing to undo)",
                                    "&Redo (nothing to redo on the Datasets page)")
        elif name == "Annotate":
            assert redo == "&Redo (nothing to redo)"
        else:
            assert undo == f"&Undo (nothing to undo on the {name} page)"


def test_a_double_click_in_the_datasets_grid_opens_the_image_in_annotate(window, qtbot,
                                                                         tmp_path):
    open_in(window, qtbot, project_with_images(tmp_path))
    show_active(window, qtbot)
    click_rail(window, "Datasets")
    datasets = window.pages["Datasets"]
    qtbot.waitUntil(lambda: datasets.model.rowCount() > 1, timeout=10000)
    rect = datasets.grid.visualRect(datasets.model.index(1))
    qtbot.mouseClick(datasets.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(datasets.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.pages["Annotate"])
    assert window.pages["Annotate"].current_image_id == datasets.model.image_id(1)
