"""Where the TF.js runner's npm packages live, and ``yolo setup tfjs``, which installs them for
the user.

The runner (``tfjs_runner/runner.js``) needs four npm packages. A checkout has them in the
runner's own ``node_modules`` (``make`` runs ``npm ci --prefix engine/backends/tfjs_runner``).
An installed wheel ships no ``node_modules``, and its folder may not be writable, so the
packages may also live in the user's data folder: ``$YOLO_STUDIO_DATA_DIR/tfjs-runner/<lock>``
(else ``$XDG_DATA_HOME/yolo-studio/tfjs-runner/<lock>``, by default under
``~/.local/share``), where ``yolo setup tfjs`` puts them. ``<lock>`` is a digest of the
runner's ``package-lock.json``: two installed versions that pin different packages each keep
their own, and ones that pin the same share them.

This module imports no torch, so ``yolo setup tfjs`` starts quickly.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import ExportError
from ..utils.atomic import atomic_directory
from ..utils.cache_dirs import data_folder

RUNNER_DIR = Path(__file__).resolve().parent / "tfjs_runner"
"""The runner as installed: runner.js, package.json and package-lock.json."""
NODE_PACKAGES = ("@tensorflow/tfjs-core", "@tensorflow/tfjs-converter",
                 "@tensorflow/tfjs-backend-cpu", "@tensorflow/tfjs-backend-wasm")
SETUP_COMMAND = "yolo setup tfjs"
"""The command that installs the packages into the user's folder (``install_user_runner``)."""
MANIFESTS = ("package.json", "package-lock.json")
_REASON_CHARS = 200


def setup_command() -> str:
    """:data:`SETUP_COMMAND`, or in the desktop bundle, which has no ``yolo`` command, its own
    program running the engine's command line (engine/process/child_command.py)."""
    if getattr(sys, "frozen", False):
        return f"{shlex.quote(sys.executable)} -m engine.cli setup tfjs"
    return SETUP_COMMAND


def user_runner_dir(runner_dir: Path = RUNNER_DIR) -> Path:
    """The user's folder for the packages that ``runner_dir``'s package-lock.json pins."""
    lock = runner_dir / "package-lock.json"
    digest = hashlib.sha256(lock.read_bytes() if lock.is_file() else b"").hexdigest()[:12]
    return data_folder() / "tfjs-runner" / digest


def has_packages(folder: Path) -> bool:
    """Whether ``folder/node_modules`` holds every package the runner loads."""
    return all((folder / "node_modules" / package).is_dir() for package in NODE_PACKAGES)


def packages_folder(runner_dir: Path = RUNNER_DIR) -> Path | None:
    """The ``node_modules`` folder the runner loads its packages from: its own, else the user's;
    None when neither holds them all."""
    for folder in (runner_dir, user_runner_dir(runner_dir)):
        if has_packages(folder):
            return folder / "node_modules"
    return None


def missing_packages_message(runner_dir: Path = RUNNER_DIR) -> str:
    """Why the runner cannot load its packages, and the command that installs them. An install
    folder this user cannot write is not offered to ``npm ci``."""
    if _can_write(runner_dir):
        return (f"the TF.js runner's npm packages are not installed (npm ci --prefix "
                f"{runner_dir}, or `{setup_command()}` to install them for this user)")
    return (f"the TF.js runner's npm packages are not installed and {runner_dir} is read-only: "
            f"run `{setup_command()}` to install them for this user (into "
            f"{user_runner_dir(runner_dir)})")


def install_user_runner(runner_dir: Path | None = None) -> Path:
    """``npm ci`` the packages ``runner_dir``'s lock pins (the installed runner's by default)
    into the user's folder; returns that folder.

    The folder is built beside its final place and renamed in whole, so a failed or stopped
    install leaves the previous one (or none), never half of one. Needs npm and its registry;
    failures raise ``ExportError`` with one line that says what to do.
    """
    runner_dir = RUNNER_DIR if runner_dir is None else runner_dir
    npm = shutil.which("npm")
    if npm is None:
        raise ExportError("installing the TF.js runner's npm packages needs npm (it comes with "
                          f"Node.js 18 or newer); install Node.js, then run `{setup_command()}`")
    target = user_runner_dir(runner_dir)
    try:
        with atomic_directory(target) as scratch:
            for name in MANIFESTS:  # contents only: the install's read-only modes stay there
                shutil.copyfile(runner_dir / name, scratch / name)
            _npm_ci(npm, scratch, target)
    except OSError as exc:
        raise ExportError(f"cannot install the TF.js runner's npm packages there "
                          f"({exc.strerror or exc}); free some space or set "
                          "YOLO_STUDIO_DATA_DIR to a writable folder, then run "
                          f"`{setup_command()}` again", path=target) from exc
    return target


def _npm_ci(npm: str, folder: Path, target: Path) -> None:
    done = subprocess.run(
        [npm, "ci", "--prefix", str(folder), "--no-audit", "--no-fund", "--loglevel=error"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise ExportError(
            f"npm could not install the TF.js runner's packages ({_npm_reason(done)}); check the "
            "connection to the npm registry (or npm's proxy and registry settings), then run "
            f"`{setup_command()}` again", path=target)


def _npm_reason(done: subprocess.CompletedProcess) -> str:
    """The line of npm's output that says why it failed: a failed request's reason, else its
    error code, else its last line."""
    lines = [line.strip() for line in f"{done.stdout}\n{done.stderr}".splitlines()]
    lines = [line.removeprefix("npm error").removeprefix("npm ERR!").strip() for line in lines]
    lines = [line for line in lines if line]
    for line in lines:
        if "reason:" in line:
            return line.removeprefix("FetchError:").strip()[:_REASON_CHARS]
    for line in lines:
        if line.startswith("code "):
            return f"error {line.removeprefix('code ')}"[:_REASON_CHARS]
    return lines[-1][:_REASON_CHARS] if lines else f"exit status {done.returncode}"


def _can_write(folder: Path) -> bool:
    """Whether this user can write ``folder``, or make it (its nearest existing parent);
    a read-only mount is read-only to root too."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return os.access(candidate, os.W_OK)
    return False
