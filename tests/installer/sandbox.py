"""Running an installed command as a user would, offline, from a read-only install, and checking
afterwards what it tried and what it wrote.

- Offline: ``no_network/sitecustomize.py`` on PYTHONPATH refuses and records every socket
  connection and host-name look-up in each Python process (the command and its children).
  Where ``unshare`` can make namespaces (root, or user namespaces), the command also runs in a
  network namespace of its own, which has no interface but a loopback that is down: what opens
  a socket from C fails there too.
- Read-only: the folders named are remounted read-only in a mount namespace of the command's
  own where ``unshare`` can (read-only for root too), and their tree is compared before and
  after (``tree_state``), which catches a write wherever the remount cannot be made.
- The user's folders (home, XDG data, config and cache) are temporary ones.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from engine.process.allocator import ACTIVE_VARIABLE

NO_NETWORK = Path(__file__).resolve().parent / "no_network"
"""The folder with the blocking ``sitecustomize.py``."""
USER_FOLDERS = {"HOME": "home", "XDG_DATA_HOME": "home/.local/share",
                "XDG_CONFIG_HOME": "home/.config", "XDG_CACHE_HOME": "home/.cache"}
# Our own test variables and the test process's: a user's shell has none of them.
_NOT_A_USERS = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LD_PRELOAD", ACTIVE_VARIABLE,
                "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID",
                "YOLO_STUDIO_DATA_DIR", "YOLO_STUDIO_SETTINGS_DIR", "YOLO_STUDIO_CACHE_DIR",
                "YOLO_STUDIO_WEIGHTS_DIR", "YOLO_STUDIO_DATASETS_DIR", "YOLO_STUDIO_SAM_DIR",
                "MPLCONFIGDIR", "QT_QPA_PLATFORM")
# Mount each folder given read-only onto itself, then run the command (its pid kept: exec).
_REMOUNT = ('while [ "$1" != -- ]; do mount --bind "$1" "$1" && '
            'mount -o remount,bind,ro "$1" || exit 97; shift; done; shift; exec "$@"')


def user_environment(root: Path, bin_folder: Path | None = None,
                     **extra: str) -> dict[str, str]:
    """A user's environment whose home and XDG folders lie under ``root`` (made here), with
    ``bin_folder`` first on PATH and network use refused and recorded in ``root/network.log``."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_A_USERS}
    for name, relative in USER_FOLDERS.items():
        (root / relative).mkdir(parents=True, exist_ok=True)
        env[name] = str(root / relative)
    if bin_folder is not None:
        env["PATH"] = f"{bin_folder}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(NO_NETWORK)
    env["YOLO_STUDIO_NETWORK_LOG"] = str(network_log(root))
    env.update(extra)
    return env


def network_log(root: Path) -> Path:
    return root / "network.log"


def network_attempts(root: Path) -> list[dict]:
    """The network uses the blocking hook recorded under ``root`` (none: an empty list)."""
    log = network_log(root)
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def watched_processes(root: Path) -> list[list[str]]:
    """The command lines (first six words) of the Python processes the hook watched."""
    log = Path(f"{network_log(root)}.processes")
    if not log.is_file():
        return []
    return [json.loads(line)["argv"] for line in log.read_text().splitlines() if line.strip()]


def assert_offline(root: Path, *commands: str) -> None:
    """No network use was recorded under ``root``, and a process of each of ``commands`` (a
    word of its command line or a file name in it: ``yolo-studio``, ``train``, a ``-m``
    module) was watched, so the silence counts."""
    attempts = network_attempts(root)
    assert attempts == [], "network use:\n" + describe(attempts)
    watched = watched_processes(root)
    for command in commands:
        assert any(any(Path(word).name == command for word in argv) for argv in watched), (
            f"no watched process ran {command!r}: {watched}")


def describe(attempts: Iterable[Mapping]) -> str:
    return "\n".join(f"{a['event']} {a['args']} in {a['argv']}:\n{''.join(a['stack'])}"
                     for a in attempts)


@functools.cache
def namespaces_work() -> bool:
    """Whether ``unshare`` here makes a network and a mount namespace and remounts a folder
    read-only in it (root, or unprivileged user namespaces)."""
    if shutil.which("unshare") is None:
        return False
    probe = Path(os.environ.get("TMPDIR", "/tmp"))
    done = subprocess.run([*_unshare_prefix(), "sh", "-c", _REMOUNT, "sh", str(probe), "--",
                           "sh", "-c", f"! touch {probe}/.yolo-studio-ro-probe-$$ 2>/dev/null"],
                          capture_output=True, timeout=30, check=False)
    return done.returncode == 0


def _unshare_prefix() -> list[str]:
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    return ["unshare", *user, "--net", "--mount"]


def isolated(command: Sequence[str], read_only: Sequence[Path] = ()) -> list[str]:
    """``command`` in its own network namespace with ``read_only`` remounted read-only, where
    the namespaces can be made (``namespaces_work``); otherwise ``command`` as it is."""
    if not namespaces_work():
        return list(command)
    return [*_unshare_prefix(), "sh", "-c", _REMOUNT, "sh", *map(str, read_only), "--",
            *command]


def run(command: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float = 300,
        read_only: Sequence[Path] = ()) -> subprocess.CompletedProcess:
    """``command`` isolated (``isolated``), its output captured as text."""
    return subprocess.run(isolated(command, read_only), cwd=cwd, env=dict(env),
                          capture_output=True, text=True, timeout=timeout, check=False)


def ok(done: subprocess.CompletedProcess) -> str:
    """The output of a command that must have succeeded, or a failure that shows it."""
    assert done.returncode == 0, (
        f"{done.args} -> exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stdout + done.stderr


def tree_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder``: relative path -> (size, modification time)."""
    state = {}
    for path in [folder, *folder.rglob("*")]:
        info = path.lstat()
        state[str(path.relative_to(folder))] = (info.st_size if path.is_file() else 0,
                                                info.st_mtime_ns)
    return state


def tree_changes(before: Mapping[str, tuple[int, int]],
                 after: Mapping[str, tuple[int, int]]) -> list[str]:
    """What was added, removed or changed between two ``tree_state``s (at most 20 lines)."""
    lines = [f"added {p}" for p in sorted(after.keys() - before.keys())]
    lines += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    lines += [f"changed {p}" for p in sorted(before.keys() & after.keys())
              if before[p] != after[p]]
    return lines[:20]
