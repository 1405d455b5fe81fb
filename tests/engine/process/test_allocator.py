"""The preloaded allocator: which library is chosen, the relaunch's environment, a real relaunch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.process.allocator import (
    ACTIVE_VARIABLE,
    CHOICE_VARIABLE,
    Allocator,
    active_allocator,
    find_allocator,
    relaunch_environment,
    training_environment,
    trains,
    without_allocator,
)

ROOT = Path(__file__).resolve().parents[3]


def _libraries(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"\x7fELF")
    return folder


def _loaded_libc() -> str:
    """The path of the C library this process runs on: preloading it again changes nothing."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        path = line.split()[-1]
        if "/libc.so" in path or "/libc-" in path:
            return path
    raise AssertionError("no C library in /proc/self/maps")


def test_tcmalloc_is_preferred_and_jemalloc_runs_without_decay(tmp_path):
    both = _libraries(tmp_path / "a", "libjemalloc.so.2", "libtcmalloc_minimal.so.4")
    chosen = find_allocator({}, [both])
    assert chosen == Allocator(both / "libtcmalloc_minimal.so.4", {})
    only_je = _libraries(tmp_path / "b", "libjemalloc.so.2")
    chosen = find_allocator({}, [tmp_path / "empty", only_je])
    assert chosen.path == only_je / "libjemalloc.so.2"
    assert "dirty_decay_ms:-1" in chosen.environment["MALLOC_CONF"]


def test_none_installed_or_system_chosen_keeps_malloc(tmp_path):
    assert find_allocator({}, [tmp_path]) is None
    folder = _libraries(tmp_path / "lib", "libtcmalloc_minimal.so.4")
    assert find_allocator({CHOICE_VARIABLE: "system"}, [folder]) is None
    assert find_allocator({CHOICE_VARIABLE: "SYSTEM"}, [folder]) is None


def test_a_chosen_library_must_exist(tmp_path):
    library = _libraries(tmp_path, "libjemalloc.so.2") / "libjemalloc.so.2"
    assert find_allocator({CHOICE_VARIABLE: str(library)}, []).path == library.resolve()
    missing = tmp_path / "nope.so"
    with pytest.raises(ValueError, match=rf"{CHOICE_VARIABLE}=.*nope\.so.*'system'"):
        find_allocator({CHOICE_VARIABLE: str(missing)}, [])


def test_relaunch_environment_puts_the_library_first_and_keeps_user_settings(tmp_path):
    allocator = Allocator(tmp_path / "libjemalloc.so.2", {"MALLOC_CONF": "dirty_decay_ms:-1"})
    env = relaunch_environment(allocator, {"LD_PRELOAD": "/x/libother.so", "PATH": "/bin"})
    assert env["LD_PRELOAD"] == f"{allocator.path} /x/libother.so"
    assert env[ACTIVE_VARIABLE] == str(allocator.path)
    assert env["MALLOC_CONF"] == "dirty_decay_ms:-1" and env["PATH"] == "/bin"
    mine = relaunch_environment(allocator, {"MALLOC_CONF": "narenas:1"})
    assert mine["MALLOC_CONF"] == "narenas:1"
    assert active_allocator(env) == "libjemalloc.so.2"
    assert active_allocator({ACTIVE_VARIABLE: str(allocator.path)}) == "system"  # not preloaded
    assert active_allocator({}) == "system"


def test_a_program_relaunches_once_with_the_library_preloaded():
    libc = _loaded_libc()
    code = (
        "import os, sys\n"
        "from engine.process.allocator import relaunch_with_allocator, active_allocator\n"
        "print('started', flush=True)\n"
        "relaunch_with_allocator()\n"
        "print(active_allocator(), os.environ['LD_PRELOAD'], sys.argv[1:])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", ACTIVE_VARIABLE)}
    env[CHOICE_VARIABLE] = libc
    out = subprocess.run(
        [sys.executable, "-c", code, "kept", "args"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    ).stdout.splitlines()
    assert out[:2] == ["started", "started"]  # the relaunched process ran the program again
    assert out[2] == f"{Path(libc).name} {libc} ['kept', 'args']"
    assert len(out) == 3


def _yolo_module(args, env):
    return subprocess.run([sys.executable, "-c", "from engine.cli import entry; entry()", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_only_yolo_train_relaunches_with_the_allocator():
    # A wrong YOLO_ALLOCATOR is reported by the relaunch step, which only training takes
    # (OpenVINO aborts beside tcmalloc; engine/process/allocator.py).
    env = {k: v for k, v in os.environ.items() if k != ACTIVE_VARIABLE}
    env[CHOICE_VARIABLE] = "/no/such/libtcmalloc.so"
    message = f"{CHOICE_VARIABLE}=/no/such/libtcmalloc.so: no such library file"
    train = _yolo_module(["segment", "train", "model=yolov8n-seg.yaml", "data=/no/such/data.yaml"], env)
    assert message in train.stderr
    assert train.returncode == 1 and "data.yaml" in train.stderr  # and it still ran
    for args in (["version"], ["export", "model=/no/such.pt", "format=openvino"]):
        other = _yolo_module(args, env)
        assert message not in other.stderr, args


def test_trains_reads_the_mode_wherever_it_is_given():
    assert trains(["train", "data=x"]) and trains(["pose", "train"]) and trains(["mode=train"])
    assert not trains(["export", "model=train.pt"]) and not trains(["predict", "source=train"])
    assert not trains([])


def test_training_environment_preloads_and_without_allocator_takes_it_out(tmp_path):
    library = tmp_path / "libtcmalloc_minimal.so.4"
    library.write_bytes(b"")
    base = {"LD_PRELOAD": "/x/libuser.so", CHOICE_VARIABLE: str(library), "PATH": "/bin"}
    env = training_environment(base)
    assert env["LD_PRELOAD"] == f"{library.resolve()} /x/libuser.so"
    assert active_allocator(env) == library.name
    back = without_allocator(env)
    assert back["LD_PRELOAD"] == "/x/libuser.so" and ACTIVE_VARIABLE not in back
    assert without_allocator({**env, "LD_PRELOAD": str(library.resolve())}).get("LD_PRELOAD") is None
    assert training_environment({**base, CHOICE_VARIABLE: "system"}) == {
        **base, CHOICE_VARIABLE: "system"}
    assert training_environment({**base, CHOICE_VARIABLE: "/no/such.so"})["LD_PRELOAD"] == (
        "/x/libuser.so")  # a wrong choice trains on the system's malloc
