"""Two versions of the studio installed side by side share the user's settings file
(``~/.config/YOLO Studio/yolo-studio.ini``, QSettings): each reads the keys it knows, falls
back to its default for a value it cannot read, and leaves the other version's keys as they
are. (Project databases are versioned by their Alembic revision: an older one is migrated after
a backup copy, a newer one refused unchanged; tests/studio/state/test_database.py.)
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from studio.services.projects import create_project  # noqa: E402
from studio.ui.annotate.assist_tools import DEFAULT_TOLERANCE, TOLERANCE_KEY  # noqa: E402
from studio.ui.app_settings import app_settings  # noqa: E402
from studio.ui.main_window import PAGES, MainWindow  # noqa: E402
from studio.ui.theme import apply_theme  # noqa: E402
from studio.ui.welcome import recent_entries  # noqa: E402

# What a later version might write: keys this one does not know, and known keys whose values
# it cannot read (a page by name, a theme it lacks, a tolerance as a word).
ANOTHER_VERSIONS = {
    "settings_schema": "7",
    "future/layout": "grid",
    "last_page": "Train",
    "theme": "sepia",
    TOLERANCE_KEY: "wide",
}


@pytest.fixture
def settings_folder(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    monkeypatch.setenv("YOLO_STUDIO_SETTINGS_DIR", str(folder))
    return folder


def test_a_settings_file_another_version_wrote_opens_and_keeps_its_keys(
        qtbot, tmp_path, settings_folder):
    project = tmp_path / "proj"
    create_project(project, name="Shapes", task="segment", classes=["circle"]).close()
    settings = app_settings()
    for key, value in ANOTHER_VERSIONS.items():
        settings.setValue(key, value)
    settings.setValue("recent_projects", str(project.resolve()))  # one string, not a list
    settings.sync()
    del settings

    app = QApplication.instance()
    assert apply_theme(app, str(app_settings().value("theme", "system"))) in ("light", "dark")
    window = MainWindow()
    qtbot.addWidget(window)
    assert [entry.folder for entry in recent_entries()] == [str(project.resolve())]
    try:
        window.show()
        window.open_folder(project)
        qtbot.waitUntil(lambda: window.project is not None, timeout=15000)
        # the page it could not read: the first page, not an error
        assert window.rail.currentRow() == 0
        assert window.stack.currentWidget() is window.pages[PAGES[0]]
        window.rail.setCurrentRow(PAGES.index("Annotate"))  # reads the wand tolerance
        assert window.pages["Annotate"].panel.assist.tolerance.value() == DEFAULT_TOLERANCE
    finally:
        window.close()  # saves the window's own keys
        window.close_project()
    app.setProperty("studio_theme", None)

    after = app_settings()
    for key in ("settings_schema", "future/layout", "theme", TOLERANCE_KEY):
        assert after.value(key) == ANOTHER_VERSIONS[key], key
    assert after.value("geometry") is not None  # this version's keys written beside them
