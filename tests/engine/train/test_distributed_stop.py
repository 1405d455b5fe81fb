"""Issue 22: stopping a run of several processes (gloo on CPU, 2 ranks, the digits).

- Ctrl+C in a terminal (SIGINT to torchrun's process group) stops every rank; no process is
  left and last.pt loads.
- A rank that dies (SIGKILLed at an optimizer step, kill_point.py) stops the run with one line
  from rank 0, last.pt intact; ``resume=True`` then finishes the run.
- ``model.train(device=...)``'s own launcher stops on cancel, leaves no process and relays
  exactly one RunStarted and one RunFinished (``make test-full``: the first two stay in
  ``make test``).

Every wait is bounded (subprocess ``timeout=``), so a hang fails in minutes, not at pytest's
timeout. No test asserts how long anything took.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import YOLO
from engine.cancel import CancelToken
from engine.checkpoints import read_weights
from engine.events import EpochEnd, RunFinished, RunStarted

from .conftest import quick

KILL_POINT = Path(__file__).with_name("kill_point.py")
PEER_STOPPED = "another training process of this run stopped"
RUN_S = 240  # the longest any run here may take before it counts as hung (2 busy cores)


def torchrun(*program: str) -> list[str]:
    """torchrun on this machine with 2 ranks (standalone: it picks a free port)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc_per_node", "2", *program]


def train_args(digits: Path, project: Path, **overrides) -> list[str]:
    values = {**quick(), "data": str(digits), "project": str(project), "device": "cpu",
              "model": "yolov8n-cls.yaml", **overrides}
    return ["classify", "train", *(f"{key}={value}" for key, value in values.items())]


def environment(trace: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "YOLO_DDP_TRACE": str(trace), "GLOO_SOCKET_IFNAME": "lo", **extra}


def trace_pids(trace: Path) -> list[int]:
    """Each rank's pid, from the first line of its trace (engine/train/distributed.py)."""
    pids = []
    for path in sorted(trace.glob("rank*.jsonl")):
        first = path.read_text().splitlines()[:1]
        if first:
            pids.append(json.loads(first[0])["pid"])
    return pids


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie that nobody reaped yet has stopped running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def wait_until(condition, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the run ended early ({process.returncode})"
        assert time.monotonic() < deadline, "the run did not get there in time"
        time.sleep(0.2)


def loads(last: Path) -> int:
    """last.pt reads back; the epoch (from 0) it holds."""
    return int(read_weights(last).metadata["epoch"])


def test_ctrl_c_stops_every_rank_and_leaves_no_process(digits, tmp_path):
    trace, project = tmp_path / "trace", tmp_path / "runs"
    output = tmp_path / "output.txt"
    last = project / "train" / "weights" / "last.pt"
    with output.open("w") as log:
        process = subprocess.Popen(
            torchrun("-m", "engine.cli", *train_args(digits, project, epochs=100)),
            env=environment(trace), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own process group, as a terminal's job
        try:
            wait_until(lambda: last.is_file() and len(trace_pids(trace)) == 2, process, RUN_S)
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl+C sends the foreground job
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    pids = trace_pids(trace)
    assert len(pids) == 2 and not [pid for pid in pids if alive(pid)]
    text = output.read_text()
    assert text.count("weights: ") == 1, text[-3000:]  # rank 0 closed its run and spoke once
    assert loads(last) >= 0
    assert not list(last.parent.glob(".*.tmp")) and not list(last.parent.parent.glob(".*.tmp"))


def test_a_rank_that_dies_stops_the_run_and_resume_finishes_it(digits, tmp_path):
    trace, project = tmp_path / "trace", tmp_path / "runs"
    # 120 images, batch 16 over 2 ranks: 8 steps an epoch; without warm-up an optimizer step
    # every 4 (nbs 64), so rank 1's 3rd optimizer step is in epoch 2
    killed = subprocess.run(
        torchrun(str(KILL_POINT), *train_args(digits, project, epochs=2, warmup_epochs=0)),
        env=environment(trace, YOLO_TEST_KILL_STEP="1:3"), capture_output=True, text=True,
        timeout=RUN_S)
    output = killed.stdout + killed.stderr
    assert killed.returncode != 0
    lines = [line for line in output.splitlines() if PEER_STOPPED in line]
    assert len(lines) == 1 and lines[0].startswith("yolo: error: another"), output[-3000:]
    folder = project / "train"
    last = folder / "weights" / "last.pt"
    assert loads(last) == 0 and str(last) in lines[0]
    assert len((folder / "results.csv").read_text().splitlines()) == 2  # header, epoch 1
    pids = trace_pids(trace)
    assert len(pids) == 2 and not [pid for pid in pids if alive(pid)]

    resumed = subprocess.run(
        torchrun("-m", "engine.cli", "classify", "train", "resume=True", f"model={last}"),
        env=environment(tmp_path / "trace2"), capture_output=True, text=True, timeout=RUN_S)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    assert resumed.stdout.count("weights: ") == 1
    assert len((folder / "results.csv").read_text().splitlines()) == 3  # epochs 1 and 2
    assert not (project / "train2").exists()  # the same run went on, in its own folder
    assert loads(folder / "weights" / "best.pt") >= 0


@pytest.mark.full_matrix  # about 20 s; tests/engine/process/test_launch.py keeps the fast ones
def test_the_launcher_stops_on_cancel_without_orphans(digits, tmp_path, monkeypatch):
    trace = tmp_path / "trace"
    monkeypatch.setenv("YOLO_DDP_CPU_PROCESSES", "2")
    monkeypatch.setenv("YOLO_DDP_TRACE", str(trace))
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    cancel, events = CancelToken(), []

    def report(event) -> None:
        events.append(event)
        if isinstance(event, EpochEnd):
            cancel.cancel()  # as the studio's Stop does, from the caller's side

    result = YOLO("yolov8n-cls.yaml").train(
        progress=report, cancel=cancel, data=str(digits), project=str(tmp_path / "runs"),
        device="cpu", **quick(epochs=100))
    assert result.status == "cancelled"
    started = [e for e in events if isinstance(e, RunStarted)]
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert len(started) == 1 and len(finished) == 1 and events[-1] is finished[0]
    assert finished[0].status == "cancelled"
    assert result.last is not None and loads(result.last) >= 0
    pids = trace_pids(trace)
    assert len(pids) == 2 and os.getpid() not in pids
    assert not [pid for pid in pids if alive(pid)]


@pytest.fixture(autouse=True)
def _no_inherited_ranks(monkeypatch):
    """A pytest run inside torchrun must not make these tests' processes ranks of it."""
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
