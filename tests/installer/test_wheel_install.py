"""The wheel installed into a brand-new venv, run as a user runs it (``make test-dist``).

The wheel is built as ``make dist`` builds it and installed with the constraints file
(``pip install --constraint installer/constraints.txt "yolo_studio-*.whl[studio]"``). Its
dependencies come from a wheelhouse (``~/.cache/yolo-studio-dev/wheelhouse``, or
``$YOLO_STUDIO_WHEELHOUSE``): the install is tried offline from it first, and only when
something is missing are the wheels downloaded into it from the registry, so a second run
needs no network. Then the
whole venv is made read-only (``chmod -R a-w``, and a read-only remount where namespaces can be
made: root ignores the permission bits) and every console script runs from a temporary
folder outside the checkout (which is therefore not importable), with a temporary home,
offline (tests/installer/sandbox.py): ``yolo version``, ``yolo info``, a one-epoch training and
an ONNX export, ``yolo-studio --help``, the studio opening its demo on Xvfb and quitting, and
the studio training and exporting its demo (studio/self_test.py, offscreen).
Each must work, try no network connection, and leave the install as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.backends import tfjs_setup
from engine.version import __version__
from tests.engine.tfjs_tiny_model import write_web_model
from tests.studio import test_studio_console as console

from . import sandbox
from .distributions import ROOT, build_distributions

# the install alone takes minutes (about 3.5 on 2 busy cores, unpacking torch and Qt)
pytestmark = [pytest.mark.dist, pytest.mark.timeout(1800)]

CONSTRAINTS = ROOT / "installer" / "constraints.txt"
EXTRAS = "[studio]"
INSTALL_S = 1200


def wheelhouse() -> Path:
    """Outside the checkout, so that every clone (CI's too) on the machine shares it."""
    explicit = os.environ.get("YOLO_STUDIO_WHEELHOUSE")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "yolo-studio-dev" / "wheelhouse"


def pip_install(venv: Path, wheel: Path) -> None:
    """The wheel and its dependencies into ``venv``: offline from the wheelhouse, else after
    downloading what it lacks into the wheelhouse."""
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    spec = [f"{wheel}{EXTRAS}", "--constraint", str(CONSTRAINTS)]
    house = wheelhouse()
    offline = [*pip, "install", "--no-index", "--find-links", str(house), *spec]
    done = subprocess.run(offline, capture_output=True, text=True, timeout=INSTALL_S,
                          check=False)
    if done.returncode == 0:
        return
    house.mkdir(parents=True, exist_ok=True)
    fetched = subprocess.run([*pip, "download", "--dest", str(house), *spec],
                             capture_output=True, text=True, timeout=INSTALL_S, check=False)
    assert fetched.returncode == 0, f"pip download failed:\n{fetched.stdout[-3000:]}\n" \
                                    f"{fetched.stderr[-3000:]}"
    for own in house.glob("yolo_studio-*"):  # the wheel under test is always the new one
        own.unlink()
    done = subprocess.run(offline, capture_output=True, text=True, timeout=INSTALL_S,
                          check=False)
    assert done.returncode == 0, f"pip install failed:\n{done.stdout[-3000:]}\n{done.stderr}"


class Installed:
    """A brand-new venv with the wheel installed, read-only, and the places a user runs in."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.venv = root / "venv"
        wheel, _ = build_distributions(root / "dist")
        began = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True, timeout=300)
        pip_install(self.venv, wheel)
        print(f"\nwheel {wheel.stat().st_size / 1e6:.1f} MB; venv made and installed in "
              f"{time.monotonic() - began:.0f} s")
        subprocess.run(["chmod", "-R", "a-w", str(self.venv)], check=True, timeout=300)
        self.state = sandbox.tree_state(self.venv)
        self.site_packages = next((self.venv / "lib").glob("python3*/site-packages"))

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def user(self, name: str, **extra: str) -> tuple[Path, dict[str, str]]:
        """A fresh user (home, XDG folders) and working folder, outside the checkout."""
        home = self.root / name
        work = home / "work"
        work.mkdir(parents=True)
        return work, sandbox.user_environment(home, self.venv / "bin", **extra)

    def run(self, *command: str, cwd: Path, env: dict[str, str],
            timeout: float = 300) -> subprocess.CompletedProcess:
        return sandbox.run(command, cwd=cwd, env=env, timeout=timeout, read_only=[self.venv])

    def assert_untouched(self) -> None:
        changes = sandbox.tree_changes(self.state, sandbox.tree_state(self.venv))
        assert changes == [], "the install folder was written to:\n" + "\n".join(changes)

    def remove(self) -> None:
        """Writable again, and gone (1.7 GB; pytest keeps its last three runs' folders)."""
        subprocess.run(["chmod", "-R", "u+w", str(self.venv)], check=False, timeout=300)
        shutil.rmtree(self.venv, ignore_errors=True)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    install = Installed(tmp_path_factory.mktemp("wheel-install"))
    yield install
    install.remove()


def test_the_console_scripts_run_the_installed_wheel_not_the_checkout(installed):
    work, env = installed.user("version")
    out = sandbox.ok(installed.run("yolo", "version", cwd=work, env=env))
    assert out.strip() == __version__
    where = sandbox.ok(installed.run(
        "python", "-c", "import engine, studio, importlib.metadata as m; "
        "print(engine.__file__); print(studio.__file__); print(m.version('yolo-studio'))",
        cwd=work, env=env)).splitlines()
    assert Path(where[0]).is_relative_to(installed.site_packages), where
    assert Path(where[1]).is_relative_to(installed.site_packages), where
    assert where[2] == __version__
    sandbox.assert_offline(work.parent, "yolo")
    installed.assert_untouched()


def test_the_install_folder_is_read_only_to_the_commands(installed):
    """The checks of an untouched install can fail: a write into the package is refused (a
    read-only remount, or the permission bits for a user who is not root)."""
    if os.geteuid() == 0 and not sandbox.namespaces_work():
        pytest.skip("cannot run here: as root without namespaces nothing refuses a write into the "
                    "install (no read-only remount, and root ignores permission bits)")
    work, env = installed.user("read-only")
    done = installed.run("python", "-c", "import engine, pathlib; "
                         "(pathlib.Path(engine.__file__).parent / 'probe.txt').write_text('x')",
                         cwd=work, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Read-only file system" in done.stderr or "Permission denied" in done.stderr
    installed.assert_untouched()


def test_yolo_info_builds_the_model_yaml_shipped_in_the_wheel(installed):
    work, env = installed.user("info")
    out = sandbox.ok(installed.run("yolo", "info", "model=yolov8n-seg.yaml", cwd=work, env=env))
    assert "yolov8n-seg summary" in out and "Segment" in out, out
    sandbox.assert_offline(work.parent, "yolo")
    installed.assert_untouched()


def test_yolo_studio_help(installed):
    work, env = installed.user("studio-help")
    out = sandbox.ok(installed.run("yolo-studio", "--help", cwd=work, env=env))
    assert out.startswith("usage: yolo-studio") and "--demo" in out, out
    installed.assert_untouched()


def test_the_studio_finds_its_demo_weights_in_the_installed_package(installed):
    work, env = installed.user("weights")
    out = sandbox.ok(installed.run(
        "python", "-c", "from studio.services.starting_weights import shipped_weights; "
        "print(shipped_weights('segment')); print(shipped_weights('pose'))", cwd=work, env=env))
    paths = [Path(line) for line in out.splitlines()]
    assert [p.name for p in paths] == ["demo-segment.pt", "demo-pose.pt"], out
    assert all(p.is_relative_to(installed.site_packages) and p.is_file() for p in paths), out


def test_a_tiny_training_and_an_onnx_export_offline_from_a_read_only_install(installed):
    work, env = installed.user("train")
    data = sandbox.ok(installed.run(
        "python", "-c", "from pathlib import Path; from engine.tasks import get_task; "
        "print(get_task('segment').sample_data(Path('.')))", cwd=work, env=env)).strip()
    trained = sandbox.ok(installed.run(
        "yolo", "segment", "train", "model=yolov8n-seg.yaml", f"data={data}", "epochs=1",
        "imgsz=64", "batch=8", "workers=1", "seed=0", cwd=work, env=env, timeout=600))
    weights = [line for line in trained.splitlines() if line.startswith("weights: ")]
    assert weights, trained[-2000:]
    best = work / weights[-1].removeprefix("weights: ").strip()
    assert best.is_file() and best.is_relative_to(work)
    exported = sandbox.ok(installed.run("yolo", "export", f"model={best}", "format=onnx",
                                        "imgsz=64", cwd=work, env=env, timeout=600))
    assert best.with_suffix(".onnx").is_file(), exported[-2000:]
    # the training ran in the relaunched `yolo` (the allocator) and the export in `yolo`
    sandbox.assert_offline(work.parent, "train", "export")
    installed.assert_untouched()


def test_a_download_the_user_asks_for_is_refused_and_recorded(installed):
    """The check above can fail: the hook is active in the installed console script (here
    official weights the user names, from an address on this machine that nothing serves)."""
    work, env = installed.user("download", YOLO_STUDIO_WEIGHTS_URL="http://127.0.0.1:9")
    done = installed.run("yolo", "info", "model=yolov8n-seg.pt", cwd=work, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "could not be downloaded from http://127.0.0.1:9/yolov8n-seg.pt" in done.stderr
    assert "Traceback" not in done.stderr
    events = {attempt["event"] for attempt in sandbox.network_attempts(work.parent)}
    assert "socket.getaddrinfo" in events or "socket.connect" in events, events


@pytest.mark.skipif(
    shutil.which("node") is None or not tfjs_setup.has_packages(tfjs_setup.RUNNER_DIR),
    reason="cannot run here: no Node.js, or the checkout's TF.js runner has no npm packages")
def test_a_tfjs_export_runs_from_a_read_only_install_with_the_users_packages(installed,
                                                                             monkeypatch):
    """The wheel ships no node_modules and its folder is read-only: predicting on a TF.js
    export names `yolo setup tfjs`; that command, with no npm registry to reach, says so in one
    line and leaves nothing; with the packages in the user's folder (linked to the checkout's,
    as the command would leave them) the export runs."""
    work, env = installed.user("tfjs", npm_config_registry="http://127.0.0.1:9/",
                               npm_config_fetch_retries="0")
    model = write_web_model(work / "tiny_web_model")
    image = np.zeros((32, 32, 3), np.uint8)
    image[..., 2] = 255  # red: the tiny model's class 0
    cv2.imwrite(str(work / "red.png"), image)
    predict = ("yolo", "predict", f"model={model.name}", "source=red.png")
    refused = installed.run(*predict, cwd=work, env=env)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "npm packages are not installed" in refused.stderr
    assert "`yolo setup tfjs`" in refused.stderr and "Traceback" not in refused.stderr
    monkeypatch.setenv("XDG_DATA_HOME", env["XDG_DATA_HOME"])
    monkeypatch.delenv("YOLO_STUDIO_DATA_DIR", raising=False)
    users = tfjs_setup.user_runner_dir(installed.site_packages / "engine/backends/tfjs_runner")
    assert users.is_relative_to(work.parent)
    setup = installed.run("yolo", "setup", "tfjs", cwd=work, env=env, timeout=120)
    assert setup.returncode == 1 and str(users) in setup.stdout, setup.stdout + setup.stderr
    assert setup.stderr.startswith(f"yolo: error: {users}: npm could not install")
    assert setup.stderr.count("\n") == 1 and "then run `yolo setup tfjs` again" in setup.stderr
    assert not users.exists()
    users.mkdir(parents=True)
    (users / "node_modules").symlink_to(tfjs_setup.RUNNER_DIR / "node_modules")
    out = sandbox.ok(installed.run(*predict, cwd=work, env=env))
    assert "red.png: 32x32 red 0.60, blue 0.37, green 0.03" in out and "ran on tfjs" in out, out
    sandbox.assert_offline(work.parent, "yolo")
    installed.assert_untouched()


def test_the_studio_trains_and_exports_its_demo_offline_from_a_read_only_install(installed):
    """studio/self_test.py (the desktop bundle's check) on the installed wheel, offscreen: the
    demo opens, one epoch trains in the training child process, the Export page exports ONNX,
    the window closes."""
    work, env = installed.user("self-test", QT_QPA_PLATFORM="offscreen")
    script = "import sys; from studio.self_test import run_self_test; sys.exit(run_self_test([]))"
    out = sandbox.ok(installed.run("python", "-c", script, cwd=work, env=env, timeout=900))
    assert "self-test: passed, quitting" in out, out[-4000:]
    home = work.parent
    assert list((home / "home/.local/share/yolo-studio/demo-segment").rglob("best.onnx")), out
    sandbox.assert_offline(home, "studio.services.training_process")
    installed.assert_untouched()


class InstalledStudio(console.Studio):
    """test_studio_console's watcher (window search, keys, exit, leftovers) on the installed
    ``yolo-studio --demo``, isolated as the other commands are."""

    def __init__(self, installed: Installed, xserver: console.XServer, folder: Path,
                 env: dict[str, str]) -> None:
        self.xserver, self.folder = xserver, folder
        self.titles: dict[str, str] = {}
        self.stdout_path, self.stderr_path = folder / "stdout.txt", folder / "stderr.txt"
        command = sandbox.isolated([installed.bin("yolo-studio"), "--demo"], [installed.venv])
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(command, cwd=folder, env=env, stdout=out,
                                            stderr=err, stdin=subprocess.DEVNULL,
                                            start_new_session=True)


@pytest.mark.skipif(shutil.which("Xvfb") is None or shutil.which("xdotool") is None,
                    reason="needs Xvfb and xdotool (apt-get install xvfb xdotool)")
def test_the_studio_opens_its_demo_offline_from_a_read_only_install_and_quits(installed):
    work, env = installed.user("studio")
    server = console.XServer(work.parent / "xvfb.log")
    try:
        env.update(DISPLAY=server.display, QT_QPA_PLATFORM="xcb")
        studio = InstalledStudio(installed, server, work, env)
        try:
            window = studio.wait_for_window(r"^Demo \(segment\) — YOLO Studio$")
            console.assert_quits_cleanly(studio, window)
        finally:
            if studio.process.poll() is None or studio.leftovers():
                studio.kill()
    finally:
        server.stop()
    home = work.parent
    # what it wrote is in the user's folders: the demo project and the settings
    assert (home / "home/.local/share/yolo-studio/demo-segment/project.db").is_file()
    assert (home / "home/.config/YOLO Studio/yolo-studio.ini").is_file()
    sandbox.assert_offline(home, "yolo-studio")
    installed.assert_untouched()
