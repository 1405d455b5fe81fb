"""Issue 21, item 3: small jobs are not dominated by fixed costs. Behaviour only, never time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from engine.process.threads import busy_threads_elsewhere, training_threads
from engine.train.epoch_hooks import EpochOutcome


def _run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


HEAVY = ("torch", "numpy", "pydantic", "cv2", "yaml", "matplotlib")


def _imported_by_console_script(*args: str) -> set[str]:
    """Top-level packages the installed ``yolo`` script imports for ``args`` (-X importtime)."""
    script = Path(sys.executable).with_name("yolo")
    done = subprocess.run([sys.executable, "-X", "importtime", str(script), *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "engine" in names  # the script was measured
    return names


def test_yolo_version_imports_no_torch_numpy_or_settings():
    assert not set(HEAVY) & _imported_by_console_script("version")


def test_yolo_help_imports_no_torch():
    assert "torch" not in _imported_by_console_script("help")


def test_the_cli_module_loads_nothing_heavy_before_the_allocator_relaunch():
    # entry() relaunches `yolo train` right after this import: what it loads is paid twice.
    out = _run_python(f"""
        import sys
        import engine.cli
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
    """)
    assert out == "[]"


def _fake_proc(root: Path, runnable: int, own_states: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "loadavg").write_text(f"7.92 7.68 6.20 {runnable}/177 14199\n")
    for index, state in enumerate(own_states):
        task = root / "self" / "task" / str(100 + index)
        task.mkdir(parents=True)
        task.joinpath("stat").write_text(f"{100 + index} (pt main) thread) {state} 1 2 3\n")
    return root


def test_busy_threads_elsewhere_leaves_out_this_processes_own(tmp_path):
    proc = _fake_proc(tmp_path, runnable=10, own_states="RSSR")
    assert busy_threads_elsewhere(proc=proc, samples=1) == 8
    quiet = _fake_proc(tmp_path / "quiet", runnable=1, own_states="RS")
    assert busy_threads_elsewhere(proc=quiet, samples=1) == 0


def test_the_threads_of_this_processes_children_count_as_its_own(tmp_path):
    # A run's plot worker (a child) warming up is the run's own load, not another program's.
    proc = _fake_proc(tmp_path, runnable=6, own_states="RS")
    (proc / "self" / "task" / "100" / "children").write_text("4242 4243\n")
    for pid, states in (("4242", "RR"), ("4243", "S")):
        for index, state in enumerate(states):
            task = proc / pid / "task" / f"{pid}{index}"
            task.mkdir(parents=True)
            task.joinpath("stat").write_text(f"{pid} (python3) {state} 1 2 3\n")
    assert busy_threads_elsewhere(proc=proc, samples=1) == 3  # 6 runnable - 1 own - 2 children


def _ticks(proc: Path, *, busy: int, idle: int, ours: int, child: int) -> None:
    """/proc/stat of 2 CPUs, this process's CPU ticks and one child's."""
    user = busy // 2
    proc.joinpath("stat").write_text(
        f"cpu  {user} 0 {busy - user} {idle} 0 0 0 0 0 0\ncpu0 1 2 3 4\ncpu1 1 2 3 4\n"
        "intr 12345\n")
    me = proc / "self"
    (me / "task" / "7").mkdir(parents=True, exist_ok=True)
    (me / "task" / "7" / "children").write_text("99\n")
    me.joinpath("stat").write_text(f"7 (yolo run) R 1 2 3 4 5 6 7 8 9 10 {ours} 0 0 0 20\n")
    (proc / "99").mkdir(exist_ok=True)
    (proc / "99" / "stat").write_text(f"99 (python3) S 7 2 3 4 5 6 7 8 9 10 {child} 0 0 0\n")


def test_cpu_use_elsewhere_is_other_programs_average_use_since_the_last_look(tmp_path):
    from engine.process.threads import CpuUseElsewhere

    _ticks(tmp_path, busy=1000, idle=1000, ours=300, child=50)
    use = CpuUseElsewhere(proc=tmp_path)
    # 1 s on 2 CPUs (200 ticks): the run used 150, its plot worker 30, others 10 -> none busy
    _ticks(tmp_path, busy=1190, idle=1010, ours=450, child=80)
    assert use() == 0
    # the next second: the run 100, others 80 (a program keeping most of a core) -> one
    _ticks(tmp_path, busy=1370, idle=1030, ours=550, child=80)
    assert use() == 1
    (tmp_path / "stat").unlink()
    assert use() is None


def test_busy_threads_elsewhere_is_none_where_the_system_does_not_say(tmp_path):
    assert busy_threads_elsewhere(proc=tmp_path, samples=1) is None


def test_training_threads_one_per_free_core_and_the_users_choice_kept():
    assert training_threads(2, 0, cores=2, environ={}) == 2  # a free machine: as before
    assert training_threads(2, 8, cores=2, environ={}) == 1  # never below one
    assert training_threads(8, 3, cores=8, environ={}) == 5
    assert training_threads(4, 0, cores=8, environ={}) == 4  # never above torch's own count
    assert training_threads(2, None, cores=2, environ={}) == 2
    assert training_threads(2, 8, cores=2, environ={"OMP_NUM_THREADS": "2"}) == 2


def test_cpu_threads_follow_the_load_warn_once_and_give_the_count_back(monkeypatch):
    import torch

    from engine.train.setup import CpuThreads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    load = [64]
    threads = CpuThreads(torch.device("cpu"), busy_threads=lambda: load[0])
    try:
        first = threads.adjust()
        assert torch.get_num_threads() == 1
        assert (first is not None and "OMP_NUM_THREADS" in first) == (before > 1)
        load[0] = 0  # the others stopped: back to every core, without a second warning
        assert threads.adjust() is None and torch.get_num_threads() == before
        load[0] = 64
        assert threads.adjust() is None and torch.get_num_threads() == 1
    finally:
        threads.restore()
    assert torch.get_num_threads() == before
    on_gpu = CpuThreads(torch.device("meta"), busy_threads=lambda: 64)
    assert on_gpu.adjust() is None and torch.get_num_threads() == before


def test_a_run_on_a_busy_cpu_warns_after_it_starts_and_restores_torchs_threads(
        digits, tmp_path, monkeypatch):
    import torch

    from engine import YOLO
    from engine.events import EpochEnd, RunStarted, Warning

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    looks: list[int] = []  # torch's count each time the load is looked at

    def busy() -> int:
        looks.append(torch.get_num_threads())
        return 64

    class AverageSinceLastLook:  # what the looks between epochs read
        def __call__(self) -> int:
            return busy()

    monkeypatch.setattr("engine.train.setup.busy_threads_elsewhere", busy)
    monkeypatch.setattr("engine.train.setup.CpuUseElsewhere", AverageSinceLastLook)
    events: list = []
    result = YOLO("yolov8n-cls.yaml").train(
        progress=events.append, data=str(digits), project=str(tmp_path), epochs=2, imgsz=32,
        batch=16, workers=1, plots=False)
    assert result.status == "completed" and isinstance(events[0], RunStarted)
    assert len(looks) == 2  # at the start and before the second epoch
    # where the time went, phase by phase, within the run's own time
    phases = result.phase_seconds
    assert {"setup", "setup/dataset", "train", "val", "epoch_hooks", "end",
            "end/final_validation", "end/after_final"} <= set(phases)
    assert all(value >= 0 for value in phases.values())
    assert phases["setup/dataset"] <= phases["setup"]
    assert sum(phases[k] for k in ("setup", "train", "val", "epoch_hooks", "end")) <= result.seconds
    busy_warnings = [i for i, e in enumerate(events)
                     if isinstance(e, Warning) and "CPU is busy" in e.message]
    assert len(busy_warnings) == (1 if before > 1 else 0)
    first_epoch_end = next(i for i, e in enumerate(events) if isinstance(e, EpochEnd))
    assert all(i < first_epoch_end for i in busy_warnings)
    assert torch.get_num_threads() == before


# --- plots drawn off the run's path, all in place when it ends ------------------------------


def test_results_png_is_drawn_by_the_plot_worker_and_waited_for(tmp_path, monkeypatch):
    import engine.plots
    from engine.train.classify import ClassifyTask
    from engine.train.epoch_hooks import Plots, ResultsCsv
    from engine.train.loop_progress import LoopProgress

    def not_here(*args, **kwargs):
        raise AssertionError("drawn in the run's process")

    monkeypatch.setattr(engine.plots, "_save_figure", not_here)  # the worker has its own
    warnings: list[str] = []
    hook = Plots(ClassifyTask(), tmp_path, {0: "a"}, first_epoch=0, warn=warnings.append)
    hook.before_train(LoopProgress())
    worker = hook._worker
    assert worker is not None and worker.alive
    progress = LoopProgress().after_epoch(0, {"epoch": 1, "train/loss": 0.5}, 0.1)[0]
    ResultsCsv(tmp_path / "results.csv").after_epoch(EpochOutcome(0, {}, True, progress))
    hook.after_train(progress)  # hands results.png over and returns
    hook.after_final(None)  # waits for it
    assert (tmp_path / "results.png").is_file() and warnings == []
    assert hook._worker is None and not worker.alive
    assert worker._process.wait(timeout=30) == 0  # it exits by itself once told to stop


def test_a_final_plot_that_fails_fails_on_the_runs_thread(tmp_path, monkeypatch):
    import pytest

    from engine.train.epoch_hooks import Plots
    from engine.train.loop_progress import LoopProgress

    class Task:
        def final_plots(self, validation, save_dir, names):
            raise OSError(28, "No space left on device")

    hook = Plots(Task(), tmp_path, {}, first_epoch=0, warn=lambda message: None)
    hook.after_train(LoopProgress())
    with pytest.raises(OSError, match="No space left"):
        hook.after_final(object())


def test_the_console_script_leaves_every_plot_and_the_same_files(digits, tmp_path):
    # The yolo command as a user runs it: when it exits, every plot is in place.
    script = Path(sys.executable).with_name("yolo")
    done = subprocess.run(
        [str(script), "classify", "train", f"data={digits}", "model=yolov8n-cls.yaml",
         "imgsz=32", "epochs=2", "batch=32", "workers=1", f"project={tmp_path}", "name=run"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == [
        "args.yaml", "confusion_matrix.csv", "confusion_matrix.png",
        "confusion_matrix_normalized.png", "final_validation.json", "results.csv",
        "results.png", "train_batch0.jpg", "train_batch1.jpg", "train_batch2.jpg", "weights"]
    assert sorted(p.name for p in (run / "weights").iterdir()) == ["best.pt", "last.pt"]
    assert not [p for p in run.rglob(".*.tmp")]
    assert f"weights: {run / 'weights' / 'best.pt'}" in done.stdout


# --- best.pt's final validation: its epoch's own where that is the same computation ----------


def test_the_final_validation_is_best_pts_without_reading_it_back(digits, tmp_path, monkeypatch):
    import numpy as np
    import torch

    import engine.checkpoints
    from engine import YOLO
    from engine.cancel import NEVER
    from engine.checkpoints import load_model
    from engine.events import EpochEnd
    from engine.train.classify import ClassifyTask

    loads: list[str] = []
    real_load = engine.checkpoints.load_model
    monkeypatch.setattr(engine.checkpoints, "load_model",
                        lambda path: loads.append(str(path)) or real_load(path))
    events: list = []
    result = YOLO("yolov8n-cls.yaml").train(
        progress=events.append, data=str(digits), project=str(tmp_path), epochs=2, imgsz=32,
        batch=16, workers=1, plots=False, seed=0)
    assert result.status == "completed" and loads == []  # best.pt was not loaded again
    best_epoch = max((e for e in events if isinstance(e, EpochEnd)),
                     key=lambda e: (e.best_fitness if e.is_best else -1.0, e.epoch))
    assert result.final_metrics == {k: v for k, v in best_epoch.metrics.items()
                                    if k in result.final_metrics}
    # ... and it is what validating best.pt from the file gives, to the last bit
    model, _ = load_model(result.best)
    task = ClassifyTask()
    data = task.build_data(_settings(digits), 32, 16, warn=lambda *a: None)
    try:
        fresh = task.validate(model, data.val, torch.device("cpu"), half=False, cancel=NEVER)
    finally:
        data.train.close()
        data.val.close()
    assert fresh.metrics == result.validation.metrics
    assert fresh.losses == result.validation.losses
    assert np.array_equal(fresh.details.confusion_matrix,
                          result.validation.details.confusion_matrix)


def _settings(digits):
    from engine.config import validate_settings

    return validate_settings({"data": str(digits), "workers": 1, "imgsz": 32, "batch": 16},
                             source="test")


def test_a_cpu_run_on_every_core_makes_in_memory_batches_between_steps(digits, tmp_path,
                                                                          monkeypatch):
    import concurrent.futures

    import pytest
    import torch

    import engine.data.loader
    from engine import YOLO
    from engine.process.threads import available_cores

    pools: list[str] = []

    class Recording(concurrent.futures.ThreadPoolExecutor):
        def __init__(self, *args, thread_name_prefix: str = "", **kwargs) -> None:
            pools.append(thread_name_prefix)
            super().__init__(*args, thread_name_prefix=thread_name_prefix, **kwargs)

    monkeypatch.setattr(engine.data.loader, "ThreadPoolExecutor", Recording)
    # other programs' load (the suite's other worker) would lower the run's threads itself
    monkeypatch.setattr("engine.train.setup.busy_threads_elsewhere", lambda: 0)
    before = torch.get_num_threads()

    def train(threads: int) -> list[float]:
        pools.clear()
        torch.set_num_threads(threads)
        try:
            result = YOLO("yolov8n-cls.yaml").train(
                data=str(digits), project=str(tmp_path), epochs=1, imgsz=32, batch=16,
                workers=2, plots=False, seed=0, device="cpu", progress=lambda event: None)
        finally:
            torch.set_num_threads(before)
        assert result.status == "completed"
        return list(result.final_metrics.values())

    on_every_core = train(available_cores())
    assert "yolo-data" not in pools  # the batches were made on the training thread
    if available_cores() < 2:
        pytest.skip("cannot run here: one core, so torch always has a thread on every core")
    on_fewer = train(available_cores() - 1)
    assert "yolo-data" in pools  # a free core: the loader's threads make the batches
    assert len(on_fewer) == len(on_every_core)
