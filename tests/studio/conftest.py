"""Studio tests: Qt offscreen, settings (QSettings) in a temp folder, a fresh project."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from studio.services.keypoint_schemas import COCO_PERSON  # noqa: E402
from studio.services.projects import create_project  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_qsettings(tmp_path_factory, monkeypatch):
    """QSettings (recent projects, window state) go to a temp folder, never the user's."""
    folder = tmp_path_factory.mktemp("qsettings")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    monkeypatch.setenv("YOLO_STUDIO_SETTINGS_DIR", str(folder))


@pytest.fixture
def make_project(tmp_path):
    """``make_project(task, classes=...)``: a new project in a temp folder, closed after."""
    made = []

    def make(task: str = "segment", classes=("circle", "square"), name: str = "test", **kw):
        if task == "pose":
            kw.setdefault("keypoints", COCO_PERSON)
        project = create_project(tmp_path / f"project_{len(made)}", name=name, task=task,
                                 classes=list(classes), **kw)
        made.append(project)
        return project

    yield make
    for project in made:
        project.close()  # closing twice is harmless
