"""The built wheel and sdist, read as archives (no install): one version, every file the packages
open at run time, nothing from outside them, the console scripts and the documented extras.

The heavy half (the wheel installed into a brand-new venv and run) is test_wheel_install.py.
"""

from __future__ import annotations

import re
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from engine.version import __version__

from .distributions import ROOT, SDIST_NAME, build_distributions, wheel_metadata

PACKAGES = ("engine", "studio")
DEMO_WEIGHTS = sorted((ROOT / "resources" / "weights").glob("demo-*.pt"))
RUNTIME_FILES = {
    "engine/nn/zoo.py": ["engine/nn/configs/yolov8-seg.yaml", "engine/nn/configs/yolov8.yaml"],
    "engine/data/detect_dataset.py": ["engine/data/configs/coco8-seg.yaml"],
    # the folder that holds engine/, for TensorFlow's worker process (code, not data)
    "engine/export/tensorflow.py": ["engine/export/tf_worker.py"],
    "engine/backends/tfjs_setup.py": ["engine/backends/tfjs_runner/runner.js",
                                      "engine/backends/tfjs_runner/package.json",
                                      "engine/backends/tfjs_runner/package-lock.json"],
    "studio/services/starting_weights.py": [f"studio/resources/weights/{p.name}"
                                            for p in DEMO_WEIGHTS],
    "studio/state/database.py": ["studio/state/migrations/env.py",
                                 "studio/state/migrations/versions/0001_initial_schema.py"],
}
"""Each module that finds files beside itself (``__file__``, ``importlib.resources``) and some
of the files it opens. A new such module is added here, and its files to the package data."""


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    return build_distributions(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def members(built) -> set[str]:
    with zipfile.ZipFile(built[0]) as archive:
        return set(archive.namelist())


def _package_files() -> list[str]:
    """Every file of the two packages in the checkout, code and data, as wheel member names
    (bytecode, and the TF.js runner's npm packages installed beside it, excepted)."""
    files = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            relative = path.relative_to(ROOT)
            if (path.is_file() and "__pycache__" not in relative.parts
                    and "node_modules" not in relative.parts and path.suffix != ".pyc"):
                files.append(relative.as_posix())
    return sorted(files)


def test_the_wheel_and_sdist_carry_engine_version_py_s_version(built):
    wheel, sdist = built
    assert wheel.name == f"yolo_studio-{__version__}-py3-none-any.whl"
    assert sdist.name == SDIST_NAME
    metadata = wheel_metadata(wheel)
    assert (metadata["Name"], metadata["Version"]) == ("yolo-studio", __version__)
    # pyproject.toml has no version of its own to fall out of step with
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "engine.version.__version__"}


def test_every_file_of_the_packages_ships_in_the_wheel(members):
    missing = [name for name in _package_files() if name not in members]
    assert missing == [], f"files of the packages missing from the wheel: {missing}"


def test_the_files_opened_at_run_time_are_in_the_wheel(members):
    sources = {path.relative_to(ROOT).as_posix() for package in PACKAGES
               for path in (ROOT / package).rglob("*.py")
               if re.search(r"__file__|importlib\.resources|importlib_resources",
                            path.read_text(encoding="utf-8"))}
    # a module that finds files beside itself is listed (and its files packaged) above
    assert sources == set(RUNTIME_FILES), sorted(sources ^ set(RUNTIME_FILES))
    expected = [name for names in RUNTIME_FILES.values() for name in names]
    assert DEMO_WEIGHTS, "resources/weights/demo-*.pt are missing from the checkout"
    assert [name for name in expected if name not in members] == []


def test_the_demo_weights_are_the_checkout_s_files(built):
    with zipfile.ZipFile(built[0]) as archive:
        for source in DEMO_WEIGHTS:
            shipped = archive.read(f"studio/resources/weights/{source.name}")
            assert shipped == source.read_bytes(), source.name


def test_nothing_but_the_packages_and_their_metadata_is_in_the_wheel(members):
    top = {name.split("/")[0] for name in members}
    assert top == {"engine", "studio", f"yolo_studio-{__version__}.dist-info"}, top
    unwanted = [name for name in members
                if "node_modules" in name or "__pycache__" in name or name.endswith(".pyc")]
    assert unwanted == []


def test_the_console_scripts_and_the_extras(built):
    with zipfile.ZipFile(built[0]) as archive:
        scripts = archive.read(
            f"yolo_studio-{__version__}.dist-info/entry_points.txt").decode()
    assert "yolo = engine.cli:entry" in scripts
    assert "yolo-studio = studio.app:main" in scripts
    extras = set(wheel_metadata(built[0]).get_all("Provides-Extra"))
    # what the engine's messages tell a user to install, and what the README documents
    named = set()
    for path in (ROOT / "engine").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        named |= set(re.findall(r"yolo-studio\[([a-z]+)\]", text))
        named |= set(re.findall(r'^\s+extra = "([a-z]+)"', text, flags=re.MULTILINE))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"yolo-studio\[([a-z,]+)\]", readme))
    documented |= set(re.findall(r"`\[([a-z]+)\]`", readme))
    documented = {name for group in documented for name in group.split(",")}
    assert {"studio", "export", "openvino"} <= extras, extras
    assert named - extras == set(), f"the engine names extras the wheel lacks: {named - extras}"
    assert documented - extras == set(), (
        f"README.md documents extras the wheel lacks: {documented - extras}")


def test_the_sdist_holds_what_the_wheel_is_built_from(built):
    with tarfile.open(built[1]) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    expected = {"pyproject.toml", "setup.py", "MANIFEST.in", "README.md",
                "installer/constraints.txt", "engine/version.py",
                *(f"resources/weights/{p.name}" for p in DEMO_WEIGHTS)}
    assert expected - names == set()
    assert [name for name in names if "node_modules" in name or name.startswith("tests/")] == []
