"""Issue 22: ``model.train(device=0,1)``'s launcher (engine/process/launch.py, engine/api/
ddp_worker.py), driven on the CPU with ``YOLO_DDP_CPU_PROCESSES=2`` (gloo): how many processes
a device list starts, the event file between rank 0 and the caller, a taken port, a worker's
error, and (``make test-full``) workers that outlive a launcher killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import YOLO
from engine.data.samples import make_digits_folder
from engine.errors import EngineError, SettingsError
from engine.events import (
    CheckpointSaved,
    DownloadProgress,
    EpochEnd,
    RunFinished,
    RunStarted,
    StepEnd,
    Warning,
    frozen_metrics,
)
from engine.process import launch


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    return make_digits_folder(tmp_path_factory.mktemp("digits") / "digits", limit=40)


@pytest.fixture(autouse=True)
def _two_cpu_processes(monkeypatch):
    """device=cpu trains in 2 gloo processes; no rank variables leak in from outside."""
    monkeypatch.setenv(launch.PROCESSES_VARIABLE, "2")
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "TORCHELASTIC_RUN_ID", "MASTER_PORT",
                 "YOLO_DDP_PORT"):
        monkeypatch.delenv(name, raising=False)


def quick(digits: Path, tmp_path: Path, **overrides) -> dict:
    return {"data": str(digits), "project": str(tmp_path / "runs"), "device": "cpu",
            "epochs": 1, "imgsz": 32, "batch": 8, "workers": 1, "plots": False, **overrides}


def test_the_device_list_decides_how_many_processes_start(monkeypatch):
    assert launch.processes_for(["cuda:0", "cuda:1"]) == 2
    assert launch.processes_for(["cuda:1"]) == 1
    assert launch.processes_for(["cpu"]) == 2  # the variable, for gloo on the CPU
    assert launch.processes_for(["mps"]) == 1 and launch.processes_for([]) == 1
    monkeypatch.delenv(launch.PROCESSES_VARIABLE)
    assert launch.processes_for(["cpu"]) == 1
    monkeypatch.setenv(launch.PROCESSES_VARIABLE, "two")
    with pytest.raises(SettingsError, match="YOLO_DDP_CPU_PROCESSES=two is not a process count"):
        launch.processes_for(["cpu"])


def test_events_cross_the_file_whole_and_in_order(tmp_path):
    sent = [
        RunStarted("train", "classify", str(tmp_path), 3, "yolov8n-cls"),
        DownloadProgress("http://x/y.pt", 5, None),
        StepEnd("train", 1, 3, 5, 8, frozen_metrics({"loss": 1.5}), 0.01, 120.0),
        EpochEnd(1, 3, frozen_metrics({"metrics/accuracy_top1": 0.5}), 2.0, 0.5, True),
        CheckpointSaved(str(tmp_path / "last.pt"), 0),
        Warning("a warning", "a/path.png"),
        RunFinished("train", "cancelled", str(tmp_path), frozen_metrics({"x": 1}), "stopped"),
    ]
    write, received = launch.EventWriter(tmp_path), []
    relay = launch._Relay(tmp_path / launch.EVENTS_FILE, received.append)
    relay.drain()  # nothing written yet: nothing relayed, no error
    for event in sent[:3]:
        write(event)
    with (tmp_path / launch.EVENTS_FILE).open("a") as file:  # a line still being written
        file.write(launch.event_line(sent[3])[:20])
    relay.drain()
    assert received == sent[:3]
    with (tmp_path / launch.EVENTS_FILE).open("a") as file:
        file.write(launch.event_line(sent[3])[20:] + "\n")
    for event in sent[4:]:
        write(event)
    relay.drain()
    assert received == sent
    assert launch.event_line("not an event") is None and launch.event_from_line("{}") is None


@pytest.mark.parametrize("variable", ["MASTER_PORT", "YOLO_DDP_PORT"])
def test_a_taken_port_is_named_with_how_to_choose_another(digits, tmp_path, monkeypatch,
                                                           variable):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv(variable, str(port))
        with pytest.raises(SettingsError) as error:
            YOLO("yolov8n-cls.yaml").train(**quick(digits, tmp_path))
    message = str(error.value)
    assert f"port {port} ({variable}) is already in use" in message
    assert f"set {variable} to a free port" in message and "unset it" in message
    assert not (tmp_path / "runs").exists()


def test_a_workers_error_is_the_one_line_the_caller_gets(digits, tmp_path):
    events = []
    with pytest.raises(EngineError) as error:  # 15 images a step do not split over 2 ranks
        YOLO("yolov8n-cls.yaml").train(progress=events.append, **quick(digits, tmp_path,
                                                                        batch=15))
    assert "batch=15" in str(error.value) and "\n" not in str(error.value)
    assert not [e for e in events if isinstance(e, RunStarted)]  # refused before the run
    assert not list((tmp_path / "runs").glob("*/weights/*.pt"))


SCRIPT = """
import sys
from engine import YOLO
YOLO("yolov8n-cls.yaml").train(data=sys.argv[1], project=sys.argv[2], device="cpu",
                               epochs=1000, imgsz=32, batch=8, workers=1, plots=False)
"""


@pytest.mark.full_matrix  # about 20 s
def test_workers_stop_when_their_launcher_is_killed(digits, tmp_path):
    """The studio kills its training child after 30 s (utils/child_process.py): the ranks it
    started get SIGTERM from the kernel (PDEATHSIG) and stop as on Ctrl+C."""
    trace = tmp_path / "trace"
    env = {**os.environ, "YOLO_DDP_TRACE": str(trace)}
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, str(digits), str(tmp_path / "r")],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while len(_steps(trace)) < 2:  # both ranks train
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        pids = [pid for pid, _ in _steps(trace)]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        deadline = time.monotonic() + 60
        while [pid for pid in pids if _alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in pids if _alive(pid)]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _steps(trace: Path) -> list[tuple[int, int]]:
    """(pid, steps traced) of each rank that has trained a step."""
    found = []
    for path in sorted(trace.glob("rank*.jsonl")):
        lines = path.read_text().splitlines()
        if len(lines) > 1:
            found.append((json.loads(lines[0])["pid"], len(lines) - 1))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def test_the_yolo_command_trains_one_model_in_two_processes(digits, tmp_path):
    # the installed console script, as a user types it: device=cpu with two gloo processes
    yolo = Path(sys.executable).with_name("yolo")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    done = subprocess.run(
        [str(yolo), "classify", "train", f"data={digits}", "model=yolov8n-cls.yaml",
         f"project={tmp_path / 'runs'}", "epochs=1", "imgsz=32", "batch=8", "device=cpu",
         "plots=False"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "2 processes (gloo)" in out, out[-3000:]
    assert [line for line in out.splitlines() if line.startswith("weights:")] == [
        f"weights: {tmp_path / 'runs' / 'train' / 'weights' / 'best.pt'}"], out[-3000:]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["train"]
    assert (tmp_path / "runs" / "train" / "weights" / "last.pt").is_file()
