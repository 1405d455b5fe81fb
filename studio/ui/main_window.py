"""The main window: a navigation rail with the pages in the order of the work (Datasets ·
Annotate · Train · Evaluate · Predict · Export), the page in the middle, a right-hand dock for
the page's context, and a status bar with the project, the saved indicator and the one jobs
indicator. Opening, importing and exporting run as jobs: the window never waits on them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QByteArray, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QApplication,
    QDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QWidget,
)

from ..services.projects import Project, create_project, open_project
from ..workers import JobManager
from .app_settings import app_settings, int_setting, recent_projects, remember_project
from .edit_menu import build_edit_menu, update_edit_menu
from .error_dialog import show_error
from .file_dialogs import start_folder
from .jobs_indicator import JobsIndicator
from .new_project_wizard import NewProjectWizard
from .page import Page
from .shortcuts_dialog import ShortcutsDialog
from .theme import THEMES, apply_theme
from .welcome import WelcomePage, recent_entries
from .window_keys import GLOBAL_SHORTCUTS, key_sequences, key_target
from .window_sizing import keep_size

PAGES = ("Datasets", "Annotate", "Train", "Evaluate", "Predict", "Export")


EXPORT_MENU = (("yolo", "&YOLO", "Ctrl+Shift+E"), ("coco", "&COCO JSON", None),
               ("labelme", "&labelme JSON", None), ("cvat", "C&VAT 1.1 XML", None),
               ("masks", "&Mask PNGs", None))
"""File → Export Dataset as …: each format's kind, menu title and key."""


DEMO_MENU = (("segment", "Instance Segmentation (shapes)"), ("pose", "Pose (figures)"),
             ("classify", "Classification (digits)"))
"""File ▸ Open a Demo Project: services/demo.DEMO_TASKS with their titles."""


class MainWindow(QMainWindow):
    """``open_folder(path)`` opens a project (in a job); ``project`` is the open one or None."""

    def __init__(self, jobs: JobManager | None = None,
                 demo_provider: Callable[..., Path] | None = None,
                 demo_task: str = "segment") -> None:
        """``demo_provider(task, progress, cancel)`` gives the folder of the demo project for
        ``task`` (made on first use); ``demo_task`` is the one ``open_demo()`` opens."""
        super().__init__()
        self.jobs = jobs or JobManager(self)
        self.jobs.failed.connect(lambda name, message, details: show_error(
            self, f"{name} failed", message, details))
        self.demo_provider, self.demo_task = demo_provider, demo_task
        self.project: Project | None = None
        self.pages: dict[str, Page] = {}
        self._page_policies: dict[str, QSizePolicy] = {}
        self._context_holders: dict[str, QWidget] = {}
        self._last_focus: dict[str, QWidget] = {}  # where the keyboard was on each page
        self._grid_image_shown: int | None = None  # the grid's image Annotate last opened on
        self.project_actions: list[QAction] = []  # enabled while a project is open
        self.edit_actions: dict[str, QAction] = {}  # the Edit menu's, by name
        self.setWindowTitle("YOLO Studio")
        self._fit_to_screen(QSize(1280, 800))
        self._build_rail()
        self._build_stack()
        self._build_dock()
        self._build_status_bar()
        self._build_menus()
        self._show_welcome()
        self._restore_window()

    # ----- layout -----
    def _build_rail(self) -> None:
        self.rail = QListWidget()
        self.rail.setObjectName("navigationRail")
        self.rail.setFixedWidth(128)
        self.rail.setSpacing(2)
        for index, name in enumerate(PAGES):
            item = QListWidgetItem(name)
            item.setToolTip(f"{name} (Alt+{index + 1})")
            item.setSizeHint(QSize(120, 40))
            self.rail.addItem(item)
        self.rail.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.rail.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # The rail never takes the keyboard: with focus, its type-ahead turned the pages'
        # letter shortcuts into page jumps (P on Annotate opened Predict). Alt+1…6 remain.
        self.rail.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._style_rail()
        self.rail.currentRowChanged.connect(self._page_chosen)
        rail_dock = QDockWidget("Pages", self)
        rail_dock.setObjectName("railDock")
        rail_dock.setTitleBarWidget(QWidget())
        rail_dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        rail_dock.setWidget(self.rail)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, rail_dock)

    def _build_stack(self) -> None:
        self.stack = QStackedWidget()
        self.welcome = WelcomePage()
        self.welcome.newRequested.connect(self.new_project)
        self.welcome.openRequested.connect(self.choose_project)
        self.welcome.demoRequested.connect(self.open_demo)
        self.welcome.recentChosen.connect(self.open_folder)
        self.stack.addWidget(self.welcome)
        self.setCentralWidget(self.stack)

    def _build_dock(self) -> None:
        self.context_dock = QDockWidget("Details", self)
        self.context_dock.setObjectName("contextDock")
        self.context_dock.setAllowedAreas(Qt.DockWidgetArea.RightDockWidgetArea
                                          | Qt.DockWidgetArea.LeftDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.context_dock)
        self.context_dock.hide()

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.project_label = QLabel("No project")
        self.saved_label = QLabel("")
        self.saved_label.setToolTip("Every edit is saved by itself within a second")
        self.jobs_indicator = JobsIndicator(self.jobs, self)
        bar.addWidget(self.project_label)
        bar.addPermanentWidget(self.jobs_indicator)
        bar.addPermanentWidget(self.saved_label)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&New Project…", self.new_project, QKeySequence.StandardKey.New)
        self._action(file_menu, "&Open Project…", self.choose_project,
                     QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        demo_menu = file_menu.addMenu("Open a &Demo Project")
        for task, title in DEMO_MENU:
            self._action(demo_menu, title, lambda _=False, t=task: self.open_demo(t))
        file_menu.addSeparator()
        self.project_actions = [
            self._action(file_menu, "&Import Dataset…", self.import_dataset, "Ctrl+I")]
        self.project_actions += [
            self._action(file_menu, f"Export Dataset as {title}…",
                         lambda kind=kind: self.export_dataset(kind), shortcut)
            for kind, title, shortcut in EXPORT_MENU]
        file_menu.addSeparator()
        self.project_actions.append(
            self._action(file_menu, "&Close Project", self.close_project,
                         ("Ctrl+W", QKeySequence.StandardKey.Close)))
        # Qt has no Quit key on some platforms (Windows, offscreen): Ctrl+Q as F1 lists it
        self._action(file_menu, "&Quit", self.close, ("Ctrl+Q", QKeySequence.StandardKey.Quit))
        self._build_edit_menu()
        view_menu = self.menuBar().addMenu("&View")
        for index, name in enumerate(PAGES):
            self._action(view_menu, name, lambda _=False, i=index: self.rail.setCurrentRow(i),
                         f"Alt+{index + 1}")
        view_menu.addSeparator()
        theme_menu = view_menu.addMenu("&Theme")
        for theme in THEMES:
            self._action(theme_menu, theme.capitalize(), lambda _=False, t=theme: self.set_theme(t))
        self._action(view_menu, "&Full Screen", self._toggle_full_screen,
                     QKeySequence.StandardKey.FullScreen)
        tools_menu = self.menuBar().addMenu("&Tools")
        self._action(tools_menu, "Segment Anything &Models…", self.show_sam_models)
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&Keyboard Shortcuts", self.show_shortcuts, "F1")
        self._action(help_menu, "&About YOLO Studio", self._about)
        self._set_project_actions_enabled(False)

    def _build_edit_menu(self) -> None:
        """Undo / Redo on the current page's edits; see ``edit_menu``."""
        self.edit_actions = build_edit_menu(self)
        self._update_edit_menu()

    def _update_edit_menu(self) -> None:
        if self.edit_actions:
            update_edit_menu(self, self.edit_actions)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        """A menu action; ``shortcut`` is a key, a standard key or a tuple of them (the first
        is the one the menu shows). A standard key brings every binding of the platform:
        ``setShortcut(QKeySequence(StandardKey.Close))`` kept only Ctrl+F4, not Ctrl+W."""
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcuts(key_sequences(shortcut))
        # triggered(checked) must not reach the slot: import_dataset(False) opened the
        # dialog with "False" as its source
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    # ----- projects -----
    def new_project(self) -> None:
        wizard = NewProjectWizard(self)
        if wizard.exec() != QDialog.DialogCode.Accepted:
            return
        values = wizard.values()
        self._run_open("Creating project", lambda _p, _c: create_project(
            values["folder"], name=values["name"], task=values["task"],
            classes=values["classes"], keypoints=values["keypoints"]))

    def choose_project(self) -> None:
        # beside the open project, else beside the last one opened, else the home folder
        near = self.project.folder if self.project is not None else next(
            iter(recent_projects()), None)
        folder = QFileDialog.getExistingDirectory(
            self, "Open a project folder",
            start_folder(None, Path(near).parent if near else None))
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder: str | Path) -> None:
        """Open the project in ``folder`` off the GUI thread (migrations can take a while).
        The project already open here stays open as it is."""
        if self.project is not None and _same_folder(self.project.folder, folder):
            self.statusBar().showMessage(f"{self.project.name} is already open", 5000)
            return
        self._run_open("Opening project", lambda _p, _c: open_project(folder))

    def open_demo(self, task: str | None = None) -> None:
        """Open the demo project of ``task`` (default: ``demo_task``), made on first use; the
        one already open here stays open as it is."""
        if self.demo_provider is None:
            show_error(self, "No demo project", "This build has no demo project.")
            return
        provider, task = self.demo_provider, task or self.demo_task
        current = self.project.folder if self.project is not None else None

        def work(progress, cancel) -> Project | None:
            folder = provider(task, progress, cancel)
            if current is not None and _same_folder(current, folder):
                return None  # open here already: opening it again would meet its own lock
            return open_project(folder)

        self._run_open("Preparing the demo project", work)

    def _run_open(self, name: str, work) -> None:
        job = self.jobs.start(name, work)
        job.finished.connect(self._project_opened)

    def _project_opened(self, project: Project | None) -> None:
        if project is None:
            if self.project is not None:
                self.statusBar().showMessage(f"{self.project.name} is already open", 5000)
            return
        self.close_project()
        self.project = project
        remember_project(project.folder)
        self.setWindowTitle(f"{project.name} — YOLO Studio")
        self.project_label.setText(f"{project.name} · {project.task} · {project.folder}")
        self._build_pages(project)
        self._set_project_actions_enabled(True)
        last = int_setting("last_page", 0)
        self.rail.setCurrentRow(min(max(last, 0), len(PAGES) - 1))
        self._page_chosen(self.rail.currentRow())

    def close_project(self) -> None:
        if self.project is None:
            return
        for page in self.pages.values():
            page.close_page()
            self.stack.removeWidget(page)
            page.deleteLater()
        for holder in self._context_holders.values():  # the dock's copies of page panels
            holder.deleteLater()
        self.pages.clear()
        self._page_policies.clear()
        self._context_holders.clear()
        self._last_focus.clear()
        self._grid_image_shown = None
        self.project.close()
        self.project = None
        self._show_welcome()

    def _show_welcome(self) -> None:
        self.setWindowTitle("YOLO Studio")
        self.project_label.setText("No project")
        self.saved_label.setText("")
        self.welcome.refresh()
        self.stack.setCurrentWidget(self.welcome)
        self.context_dock.hide()
        self._set_project_actions_enabled(False)
        self._update_edit_menu()
        self.rail.setEnabled(False)

    def _build_pages(self, project: Project) -> None:
        for name, factory in page_factories().items():
            page = factory(project, self.jobs, self)
            self.pages[name] = page
            self._page_policies[name] = page.sizePolicy()
            context = page.context_widget()
            if context is not None:  # the panel leaves the page now: it lives in the dock
                holder = self._context_holder(name, context)
                holder.setParent(self.context_dock)
                holder.hide()  # until its page is chosen
            self.stack.addWidget(page)
        datasets, annotate = self.pages["Datasets"], self.pages["Annotate"]
        for page in self.pages.values():
            requests = page.open_image_requests()
            if requests is not None:
                requests.connect(self._annotate_image)
        datasets.importRequested.connect(self.import_dataset)
        datasets.filesDropped.connect(lambda paths: self.import_dataset(paths[0]))
        # the trash: Annotate lists live images only
        datasets.imagesChanged.connect(annotate.refresh)
        self.pages["Predict"].draftsCreated.connect(lambda _count: annotate.drafts_changed())
        self.pages["Train"].trainingEnded.connect(self._training_ended)
        annotate.saved.connect(self._show_saved)
        annotate.saveFailed.connect(lambda message: show_error(
            self, "Your edits could not be saved", f"{message}\n\nThe edits are kept in "
            "memory and saved again by themselves; nothing is lost while the app stays open."))
        self.rail.setEnabled(True)

    def _training_ended(self, *_args: Any) -> None:
        """New checkpoints: the pages that offer models list them."""
        for name in ("Evaluate", "Predict", "Export"):
            self.pages[name].refresh()

    def _annotate_image(self, image_id: int) -> None:
        self._grid_image_shown = self._grid_image()  # this image comes instead of the grid's
        self.rail.setCurrentRow(PAGES.index("Annotate"))
        self.pages["Annotate"].show_image(image_id)

    def _grid_image(self) -> int | None:
        """The image chosen (current) in the Datasets grid, if any."""
        datasets = self.pages.get("Datasets")
        return datasets.current_image_id() if datasets is not None else None

    def _open_annotate_on_grid_image(self) -> None:
        """The Annotate page opens on the image chosen in the Datasets grid, when the grid's
        choice changed since Annotate last opened on it (an image reached with D / A stays
        when the user only looked at another page)."""
        chosen, annotate = self._grid_image(), self.pages["Annotate"]
        if chosen is None or chosen == self._grid_image_shown:
            return
        self._grid_image_shown = chosen
        if chosen in annotate.image_ids and chosen != annotate.current_image_id:
            annotate.show_image(chosen)

    def _show_saved(self, *_args: Any) -> None:
        self.saved_label.setText("✓ saved")
        # the label as context: a window closed meanwhile cancels the timer (a bare lambda
        # ran on the deleted label)
        QTimer.singleShot(2500, self.saved_label, lambda: self.saved_label.setText(""))

    def _page_chosen(self, row: int) -> None:
        if not self.pages or row < 0:
            return
        name = PAGES[row]
        page = self.pages[name]
        self._remember_focus()
        context = page.context_widget()
        # The dock changes before the page: a wide page must not meet the last page's dock,
        # and a page's panel leaves the page before the page's size counts (either made
        # the window grow past the screen).
        before = self.size()
        if context is None:
            self.context_dock.hide()
        else:
            holder = self._context_holder(name, context)
            previous = self.context_dock.widget()
            if previous is not holder:
                self.context_dock.setWidget(holder)
                holder.show()
                if previous is not None:  # still the dock's child: it would cover the new one
                    previous.hide()
        self._size_pages(name)
        self.stack.setCurrentWidget(page)  # Annotate reads its images again as it shows
        if name == "Annotate":
            self._open_annotate_on_grid_image()
        elif name == "Datasets":  # labels drawn on Annotate: its thumbnails and counts
            page.labels_edited(self.pages["Annotate"].take_edited_images())
        app_settings().setValue("last_page", row)
        if context is not None:
            self.context_dock.setWindowTitle(page.context_title or name)
            self.context_dock.show()
        self._focus_page(name, page)
        self._update_edit_menu()
        keep_size(self, before)

    def _size_pages(self, current: str) -> None:
        """Only the page shown counts for the window's minimum size: a stack is as large as
        its largest page, which forced the window to about 1400 × 775."""
        ignored = QSizePolicy.Policy.Ignored
        for name, page in self.pages.items():
            page.setSizePolicy(self._page_policies[name] if name == current
                               else QSizePolicy(ignored, ignored))

    def _context_holder(self, name: str, context: QWidget) -> QWidget:
        """``context`` in a vertical scroll area (a tall side panel scrolls instead of
        making the window taller than the screen), made once per page."""
        holder = self._context_holders.get(name)
        if holder is not None:
            return holder
        if isinstance(context, QAbstractScrollArea):
            holder = context
        else:
            scroll = QScrollArea()
            scroll.setObjectName(f"contextScroll{name}")
            scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            scroll.setWidgetResizable(True)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setWidget(context)
            # as wide as the panel needs: it scrolls up and down, never sideways
            scroll.setMinimumWidth(context.minimumSizeHint().width()
                                   + scroll.verticalScrollBar().sizeHint().width())
            holder = scroll
        self._context_holders[name] = holder
        return holder

    def _remember_focus(self) -> None:
        """Note where the keyboard is on the page being left (a list, a field), to go back
        there; never a button, where Space would press it."""
        focus, current = QApplication.focusWidget(), self.stack.currentWidget()
        name = next((n for n, page in self.pages.items() if page is current), None)
        if (name is not None and focus is not None and current.isAncestorOf(focus)
                and not isinstance(focus, QAbstractButton)):
            self._last_focus[name] = focus

    def _focus_page(self, name: str, page: QWidget) -> None:
        """Give the keyboard to the page just chosen, so its shortcuts work at once: where it
        was on that page, else the page's main view, else the page itself. Whatever Qt moved
        the focus to when the last page hid (the new page's first button) does not count."""
        target = self._last_focus.get(name)
        if target is None or not shiboken6.isValid(target) or not target.isVisible():
            target = key_target(page) or page
        target.setFocus(Qt.FocusReason.OtherFocusReason)

    def _set_project_actions_enabled(self, enabled: bool) -> None:
        for action in self.project_actions:
            action.setEnabled(enabled)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for entry in recent_entries():  # "name — folder"; a missing folder is said, disabled
            action = self.recent_menu.addAction(entry.text())
            action.setEnabled(entry.exists)
            action.triggered.connect(lambda _=False, f=entry.folder: self.open_folder(f))
        if not self.recent_menu.actions():
            self.recent_menu.addAction("No recent projects").setEnabled(False)

    # ----- dataset import / export -----
    def import_dataset(self, source: str | None = None) -> None:
        if self.project is None:
            return
        from .dataset_transfer import run_import

        run_import(self, self.project, self.jobs, source)

    def export_dataset(self, kind: str) -> None:
        if self.project is None:
            return
        from .dataset_transfer import run_export

        run_export(self, self.project, self.jobs, kind)

    def dataset_changed(self) -> None:
        """After an import (or any change of the project's classes or images): every page
        reloads the classes and the images it shows."""
        for page in self.pages.values():
            page.reload_project_classes()  # the Annotate page: class list and current class
            page.refresh()

    # ----- the rest -----
    def set_theme(self, theme: str) -> None:
        apply_theme(QApplication.instance(), theme)
        self._style_rail()
        app_settings().setValue("theme", theme)

    def _style_rail(self) -> None:
        """The rail's colours, spelled out from the current palette: ``palette(...)`` in a
        style sheet kept the previous theme's colours (the rail flipped at each switch)."""
        palette = QApplication.instance().palette()
        colours = {role: palette.color(getattr(QPalette.ColorRole, role)).name()
                   for role in ("Window", "WindowText", "Highlight", "HighlightedText",
                                "AlternateBase")}
        self.rail.setStyleSheet(
            f"QListWidget#navigationRail {{ border: none; padding-top: 8px; font-size: 11pt;"
            f" background: {colours['Window']}; color: {colours['WindowText']}; }}"
            "QListWidget#navigationRail::item { padding-left: 12px; border-radius: 6px; }"
            f"QListWidget#navigationRail::item:selected {{ background: {colours['Highlight']};"
            f" color: {colours['HighlightedText']}; }}"
            "QListWidget#navigationRail::item:hover:!selected {"
            f" background: {colours['AlternateBase']}; }}"
        )

    def show_shortcuts(self) -> None:
        rows = list(GLOBAL_SHORTCUTS)
        for name, page in self.pages.items():
            for key, text in page.shortcuts():
                rows.append((name, key, text))
        ShortcutsDialog(rows, self).exec()

    def show_sam_models(self) -> None:
        """Tools → Segment Anything models…: the models folder, its pairs, downloads (one
        dialog, not modal: a download runs on while the window is used)."""
        from .sam_models_dialog import SamModelsDialog

        dialog = self.findChild(SamModelsDialog)
        if dialog is None:
            dialog = SamModelsDialog(self.jobs, self)
            dialog.modelChosen.connect(lambda _name: self.pages["Annotate"].sam.recheck())
        dialog.refresh()
        dialog.show()
        dialog.raise_()

    def _toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def _about(self) -> None:
        from engine import __version__

        QMessageBox.about(self, "About YOLO Studio",
                          f"YOLO Studio {__version__}\nLabel, train, inspect and export YOLOv8 "
                          "models for classification, segmentation and pose — offline.")

    def _fit_to_screen(self, wanted: QSize) -> None:
        """Start at ``wanted``, or smaller on a smaller screen: at 1280 × 800 on a 1280 × 720
        screen the status bar and the pages' bottom rows were off the screen."""
        screen = self.screen() or QApplication.primaryScreen()
        size = QSize(wanted)
        if screen is not None:
            size = size.boundedTo(screen.availableGeometry().size())
        self.resize(size)

    def _restore_window(self) -> None:
        settings = app_settings()
        geometry, state = settings.value("geometry"), settings.value("window_state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        running = self.jobs.running
        if running:
            names = ", ".join(job.name for job in running)
            answer = QMessageBox.question(
                self, "Stop running work?",
                f"{names} still running. Stop it and quit? Finished work is kept.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.jobs.cancel_all()
            self.jobs.wait_all(10000)
        settings = app_settings()
        settings.setValue("geometry", self.saveGeometry())
        settings.setValue("window_state", self.saveState())
        self.close_project()
        event.accept()


def _same_folder(first: str | Path, second: str | Path) -> bool:
    try:
        return Path(first).resolve() == Path(second).resolve()
    except OSError:
        return False


def page_factories() -> dict[str, Callable[[Project, JobManager, QWidget], Page]]:
    """Each page's constructor, by rail name."""
    from .annotate.page import AnnotatePage
    from .datasets.page import DatasetsPage
    from .evaluate import EvaluatePage
    from .export import ExportPage
    from .predict import PredictPage
    from .train.page import TrainPage

    factories: dict[str, Callable[[Project, JobManager, QWidget], Page]] = {
        "Datasets": DatasetsPage,
        "Annotate": AnnotatePage,
        "Train": TrainPage,
        "Evaluate": EvaluatePage,
        "Predict": PredictPage,
        "Export": ExportPage,
    }
    return {name: factories[name] for name in PAGES}
