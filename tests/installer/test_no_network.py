"""Nothing phones home, the quick half (``make test``): the blocking hook itself, and the
checkout's ``yolo`` console script offline, in a network namespace where one can be made.

The installed wheel's console scripts (``yolo info``, a training, an ONNX export, the studio
opening its demo) run offline in test_wheel_install.py (``make test-dist``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine.version import __version__

from . import sandbox

BIN = Path(sys.executable).parent


def offline_user(tmp_path: Path, **extra: str) -> tuple[Path, dict[str, str]]:
    work = tmp_path / "work"
    work.mkdir()
    return work, sandbox.user_environment(tmp_path, BIN, **extra)


def test_the_hook_refuses_internet_sockets_and_name_look_ups_but_not_local_ones(tmp_path):
    work, env = offline_user(tmp_path)
    script = (
        "import socket, urllib.request\n"
        "for attempt in (lambda: socket.create_connection(('127.0.0.1', 9), timeout=1),\n"
        "                lambda: socket.getaddrinfo('localhost', 80),\n"
        "                lambda: urllib.request.urlopen('http://127.0.0.1:9/', timeout=1),\n"
        "                lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "                        .sendto(b'x', ('127.0.0.1', 9))):\n"
        "    try:\n"
        "        attempt()\n"
        "    except OSError as error:\n"
        "        print('refused:', error)\n"
        "a, b = socket.socketpair()\n"
        "a.sendall(b'local'); print(b.recv(5).decode())\n")
    out = sandbox.ok(sandbox.run([str(BIN / "python"), "-c", script], cwd=work, env=env))
    assert out.count("refused: network use blocked by tests/installer/no_network") == 3, out
    assert out.count("refused:") == 4, out  # urllib wraps the refusal in a URLError
    assert out.rstrip().endswith("local"), out
    events = [attempt["event"] for attempt in sandbox.network_attempts(tmp_path)]
    assert events.count("socket.getaddrinfo") == 3 and "socket.sendto" in events, events
    assert "urllib.Request" in events


def test_a_download_the_user_asks_for_is_the_network_use_the_hook_sees(tmp_path):
    """The checks below can fail: official weights by name, from an address here that nothing
    serves, are one recorded attempt and a clear error, no traceback."""
    work, env = offline_user(tmp_path, YOLO_STUDIO_WEIGHTS_URL="http://127.0.0.1:9")
    done = sandbox.run([str(BIN / "yolo"), "info", "model=yolov8n-seg.pt"], cwd=work, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "could not be downloaded from http://127.0.0.1:9/yolov8n-seg.pt" in done.stderr
    assert "Traceback" not in done.stderr
    attempts = sandbox.network_attempts(tmp_path)
    assert attempts and all(a["argv"][1].endswith("yolo") for a in attempts), attempts


def test_yolo_version_makes_no_connection(tmp_path):
    work, env = offline_user(tmp_path)
    version = sandbox.ok(sandbox.run([str(BIN / "yolo"), "version"], cwd=work, env=env))
    assert version.strip() == __version__
    sandbox.assert_offline(tmp_path, "yolo")
