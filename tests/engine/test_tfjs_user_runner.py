"""TF.js exports run from an install whose runner folder has no npm packages (a wheel installed
into a read-only venv): the packages in the user's data folder (``yolo setup tfjs``) serve, and
without them every message names that command."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import YOLO
from engine.backends import load_backend, tfjs_backend, tfjs_setup
from engine.cli import main
from engine.events import ignore
from tests.engine.tfjs_tiny_model import NAMES, SIZE, expected_probs, write_web_model
from tests.installer import sandbox

ROOT = Path(__file__).resolve().parents[2]
CHECKOUT_PACKAGES = tfjs_setup.RUNNER_DIR / "node_modules"

needs_node = pytest.mark.skipif(
    shutil.which("node") is None or not tfjs_setup.has_packages(tfjs_setup.RUNNER_DIR),
    reason="cannot run here: no Node.js, or the checkout's TF.js runner has no npm packages "
           "(make installs them with installer/tfjs-runner.sh)")


@pytest.fixture
def installed_runner(tmp_path, monkeypatch) -> Path:
    """The runner as a wheel installs it (script and npm manifests, no node_modules), in use,
    and an empty user data folder."""
    runner = tmp_path / "site-packages" / "engine" / "backends" / "tfjs_runner"
    runner.mkdir(parents=True)
    for name in ("runner.js", *tfjs_setup.MANIFESTS):
        shutil.copy2(tfjs_setup.RUNNER_DIR / name, runner / name)
    monkeypatch.setattr(tfjs_backend, "RUNNER_DIR", runner)
    monkeypatch.setattr(tfjs_setup, "RUNNER_DIR", runner)
    monkeypatch.setenv("YOLO_STUDIO_DATA_DIR", str(tmp_path / "data"))
    return runner


def give_user_the_packages(runner: Path) -> Path:
    """The checkout's packages in the user's folder for ``runner``'s lock, as the setup leaves
    them (linked: they are 90 MB)."""
    folder = tfjs_setup.user_runner_dir(runner)
    folder.mkdir(parents=True)
    (folder / "node_modules").symlink_to(CHECKOUT_PACKAGES, target_is_directory=True)
    return folder


@needs_node
def test_a_tfjs_export_runs_on_the_packages_in_the_users_folder(installed_runner, tmp_path):
    model = write_web_model(tmp_path / "tiny_web_model")
    assert "yolo setup tfjs" in tfjs_backend.runner_missing()
    folder = give_user_the_packages(installed_runner)
    assert folder.is_relative_to(tmp_path / "data" / "tfjs-runner")
    assert tfjs_backend.runner_missing() == ""
    backend = load_backend(model)
    try:
        # the wasm backend found its .wasm files there too (it falls back to cpu otherwise)
        assert backend._process.backend == "wasm"
        images = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
        got = backend(images)
        torch.testing.assert_close(got, torch.from_numpy(expected_probs(images.numpy())),
                                   atol=1e-5, rtol=0)
    finally:
        backend.close()
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[..., 2] = 255  # BGR red: the weights make that class 0
    result = YOLO(model, progress=ignore)(image)[0]
    assert (result.names, result.probs.top1) == (NAMES, 0)


@pytest.mark.skipif(shutil.which("node") is None, reason="cannot run here: no Node.js")
def test_without_the_packages_the_message_names_the_setup_command(installed_runner):
    assert tfjs_backend.runner_missing() == (
        f"the TF.js runner's npm packages are not installed (npm ci --prefix {installed_runner}, "
        "or `yolo setup tfjs` to install them for this user)")


def test_a_read_only_install_without_the_packages_names_only_the_setup_command(installed_runner):
    """Read-only as a wheel's venv can be: permission bits for a user, a read-only remount in a
    namespace of its own for root (tests/installer/sandbox.py)."""
    if os.geteuid() == 0 and not sandbox.namespaces_work():
        pytest.skip("cannot run here: as root without namespaces nothing makes a folder "
                    "read-only (root ignores permission bits)")
    code = ("import sys; from pathlib import Path; from engine.backends import tfjs_setup; "
            "print(tfjs_setup.missing_packages_message(Path(sys.argv[1])))")
    mode = installed_runner.stat().st_mode
    installed_runner.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        done = sandbox.run([sys.executable, "-c", code, str(installed_runner)], cwd=ROOT,
                           env=os.environ, read_only=[installed_runner], timeout=120)
    finally:
        installed_runner.chmod(mode)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"the TF.js runner's npm packages are not installed and {installed_runner} is "
        "read-only: run `yolo setup tfjs` to install them for this user (into "
        f"{tfjs_setup.user_runner_dir(installed_runner)})")


@pytest.mark.skipif(shutil.which("npm") is None, reason="cannot run here: no npm")
def test_yolo_setup_tfjs_without_the_registry_says_so_in_one_line(installed_runner, tmp_path,
                                                                   monkeypatch, capsys):
    # a registry nobody answers at, and an empty npm cache, so nothing can be installed
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    target = tfjs_setup.user_runner_dir(installed_runner)
    assert main(["setup", "tfjs"]) == 1
    out, err = capsys.readouterr()
    assert out == f"installing the TF.js runner's npm packages into {target} (npm ci) ...\n"
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"yolo: error: {target}: npm could not install the TF.js runner's "
                          "packages (request to http://127.0.0.1:9/")
    assert "ECONNREFUSED" in err and err.endswith("then run `yolo setup tfjs` again\n")
    assert not target.exists() and os.listdir(target.parent) == []  # nothing half-made


def test_yolo_setup_takes_only_tfjs(capsys):
    assert main(["setup", "onnx"]) == 1
    assert capsys.readouterr().err == (
        "yolo: error: yolo setup takes one word, tfjs: `yolo setup tfjs` installs the npm "
        "packages that run TF.js exports, for this user\n")


def test_the_desktop_bundle_names_its_own_program_to_set_the_packages_up(monkeypatch):
    # The bundle has no `yolo` command; its program runs the engine's CLI with -m
    # (installer/bundle/yolo_studio.py, engine/process/child_command.py).
    import sys

    from engine.backends import tfjs_setup

    assert tfjs_setup.setup_command() == "yolo setup tfjs"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/YOLO Studio/yolo-studio")
    assert tfjs_setup.setup_command() == "'/opt/YOLO Studio/yolo-studio' -m engine.cli setup tfjs"
