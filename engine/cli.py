"""The ``yolo`` command: ``yolo [TASK] MODE key=value ...``, as in the reference CLI.

This is a shell around the engine: it parses, validates through ``Settings``, calls the API,
and prints. Engine errors become one line on stderr and exit status 1.

Importing this module loads only the standard library and the engine's error and process
modules: ``yolo version`` and ``yolo help`` answer without numpy, pydantic, OpenCV or torch,
and ``yolo train``'s relaunch with the allocator (engine/process/allocator.py) replaces a
process that has loaded next to nothing. The settings, yaml and the API load when a command
needs them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from .errors import Cancelled, CheckpointError, EngineError, ExportCheckFailed, SettingsError
from .process.allocator import relaunch_with_allocator, trains
from .process.threads import configure_threads
from .version import __version__

if TYPE_CHECKING:
    from .cancel import CancelToken
    from .config import Settings

# Modes the engine can run today; the rest are accepted by the parser and named as pending.
AVAILABLE_MODES = ("info", "train", "val", "predict", "export", "benchmark")


def tasks_and_modes() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The task and mode words the command takes (from the settings' types)."""
    from .config.settings import Mode, Task

    return get_args(Task), get_args(Mode)


def usage() -> str:
    """The text ``yolo help`` prints."""
    tasks, modes = tasks_and_modes()
    return USAGE.format(tasks=", ".join(tasks), modes=", ".join(modes))


USAGE = """usage: yolo [TASK] MODE [key=value ...]

  TASK   one of {tasks} (optional; taken from the model when left out)
  MODE   one of {modes}

examples:
  yolo classify train data=mnist160 model=yolov8n-cls.yaml epochs=100 imgsz=64
  yolo classify train model=runs/classify/train/weights/last.pt resume=True
  yolo classify val model=runs/classify/train/weights/best.pt
  yolo classify predict model=best.pt source=path/to/images/
  yolo export model=best.pt format=onnx
  yolo benchmark model=best.pt data=shapes.yaml imgsz=320   every export format: check, val, time
  yolo predict model=best.onnx source=image.jpg
  yolo info model=yolov8n-seg.yaml          layer table, parameters and GFLOPs
  yolo pose info model=yolov8x-pose-p6.yaml imgsz=1280
  yolo convert source=export.zip output=my-data
                                            labelme, CVAT, Label Studio, COCO, mask PNGs or
                                            a YOLO zip -> a YOLO dataset (format and task
                                            guessed and printed, or format= task=)
  yolo settings                             every setting and its default
  yolo setup tfjs                           install the npm packages that run TF.js exports,
                                            for this user (needs npm and its registry)
  yolo version
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``yolo`` console script; returns the exit status."""
    configure_threads()  # before anything imports torch; see engine/process/threads.py
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("help", "-h", "--help"):
        print(usage())
        return 0
    if args[0] in ("version", "--version"):
        print(__version__)
        return 0
    _quiet_opencv()
    if args[0] == "settings":
        from .config import Settings

        print(render_settings(Settings()))
        return 0
    try:
        if args[0] == "convert":
            return _convert(args[1:])
        if args[0] == "setup":
            return _setup(args[1:])
        settings = parse_arguments(args)
        return run(settings)
    except Cancelled:  # Ctrl+C in val or export; train and predict report their own stop
        print("yolo: stopped on request; nothing half-written was kept", file=sys.stderr)
        return 130
    except EngineError as exc:
        if not _repeats_rank_zero(exc):
            print(f"yolo: error: {_rank_prefix()}{exc}", file=sys.stderr)
        return 1


def _rank() -> int:
    """This process's rank in a distributed training run (torchrun's RANK; 0 outside one)."""
    try:
        return int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 \
            else 0
    except ValueError:
        return 0


def _repeats_rank_zero(exc: EngineError) -> bool:
    """Another rank stopping because rank 0 failed: rank 0 has said why already."""
    if _rank() == 0 or "engine.train.distributed" not in sys.modules:
        return False
    from .train.distributed import StoppedByRankZero

    return isinstance(exc, StoppedByRankZero)


def _rank_prefix() -> str:
    """``[rank 1] `` in the lines of a distributed run's other processes; rank 0 speaks for
    the run (one summary, one ``weights:`` line)."""
    rank = _rank()
    return f"[rank {rank}] " if rank else ""


def _convert(args: Sequence[str]) -> int:
    """``yolo convert source=... output=dir [format=...] [task=...]``: another tool's labels
    to a YOLO dataset (engine/data/dataset_convert.py)."""
    from .data.dataset_convert import convert_from_cli

    values: dict[str, Any] = {}
    given: dict[str, str] = {}
    for token in args:
        key, sep, raw = token.partition("=")
        if not sep or not key:
            raise SettingsError(f"'{token}' is not key=value (e.g. source=instances.json)")
        _put_once(values, given, key, raw)
    report = convert_from_cli(values)
    print(report.summary())
    return 0


def _setup(args: Sequence[str]) -> int:
    """``yolo setup tfjs``: the TF.js runner's npm packages into the user's data folder, for
    an install whose own folder cannot be written to (engine/backends/tfjs_setup.py)."""
    from .backends import tfjs_setup

    if list(args) != ["tfjs"]:
        raise SettingsError(f"yolo setup takes one word, tfjs: `{tfjs_setup.setup_command()}` "
                            "installs the npm packages that run TF.js exports, for this user")
    print(f"installing the TF.js runner's npm packages into {tfjs_setup.user_runner_dir()} "
          "(npm ci) ...", flush=True)
    folder = tfjs_setup.install_user_runner()
    print(f"installed: TF.js exports run with the packages in {folder}")
    return 0


def _quiet_opencv() -> None:
    """OpenCV's own decoder messages name no file; the engine reports each bad image itself."""
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def parse_arguments(args: Sequence[str]) -> Settings:
    """Turn ``[TASK] MODE key=value ...`` into validated ``Settings``.

    A key given twice (``epochs=3 epochs=5``, or two modes) and a key with nothing after
    ``=`` are refused rather than resolved silently: either could be a typo that changes
    the run without a word.
    """
    from .config import validate_settings

    tasks, modes = tasks_and_modes()
    values: dict[str, Any] = {}
    given: dict[str, str] = {}
    for token in args:
        if "=" in token:
            key, _, raw = token.partition("=")
            if not key:
                raise SettingsError(f"'{token}' has no key before '='")
            _put_once(values, given, key, raw)
        elif token in tasks:
            _put_once(values, given, "task", token)
        elif token in modes:
            _put_once(values, given, "mode", token)
        else:
            raise SettingsError(
                f"'{token}' is neither a task ({', '.join(tasks)}), a mode "
                f"({', '.join(modes)}) nor key=value"
            )
    if "mode" not in values:
        raise SettingsError(f"no mode given; add one of {', '.join(modes)}")
    return validate_settings(values, source="command line")


def _parse_key_value(key: str, raw: str) -> Any:
    """The value of ``key=raw``; an empty ``raw`` (``conf=``) is refused, not read as None."""
    if not raw.strip():
        raise SettingsError(
            f"no value after '{key}='; give one, or leave {key} out to use its default",
            path="command line",
            key=key,
        )
    return _parse_value(raw)


def _put_once(values: dict[str, Any], given: dict[str, str], key: str, raw: str) -> None:
    """Store ``key=raw`` in ``values`` (``given`` keeps the text as typed), refusing a key,
    or a bare mode or task, given a second time."""
    if key in given:
        if key in ("mode", "task"):
            message = f"two {key}s given ('{given[key]}', then '{raw}'); give one"
        else:
            message = f"given twice ({key}={given[key]}, then {key}={raw}); give each key once"
        raise SettingsError(message, path="command line", key=key)
    given[key] = raw
    values[key] = _parse_key_value(key, raw)


def run(settings: Settings) -> int:
    """Carry out the mode named in ``settings``."""
    if settings.mode not in AVAILABLE_MODES:
        print(
            f"yolo: '{settings.mode}' is not available in engine {__version__} yet; "
            f"available: {', '.join(AVAILABLE_MODES)}",
            file=sys.stderr,
        )
        return 2
    from .api import YOLO

    if settings.mode == "info":
        model = YOLO(settings.model or "yolov8n.yaml", task=settings.task)
        imgsz = settings.imgsz if isinstance(settings.imgsz, int) else max(settings.imgsz)
        model.info(detailed=True, imgsz=imgsz if "imgsz" in settings.model_fields_set else None)
        return 0
    # Exports run by a third-party runtime in a child process: a native crash, or a program
    # inside a foreign export, cannot take this command with it (engine/backends/isolated.py)
    model = YOLO(_model_source(settings), task=settings.task,
                 isolated=settings.mode in ("predict", "val"))
    overrides = {
        key: getattr(settings, key)
        for key in settings.model_fields_set
        if key not in ("mode", "task", "model")
    }
    return MODE_RUNNERS[settings.mode](model, overrides)


def _model_source(settings: Settings) -> str:
    """``model=``, or for ``resume=True`` alone the newest last.pt under runs/ (as the
    reference does), or the task's default weights."""
    if settings.model:
        return settings.model
    if settings.mode == "train" and settings.resume is True:
        from .runs.run_dir import latest_checkpoint

        root = Path(settings.project) if settings.project else Path("runs")
        latest = latest_checkpoint(root)
        if latest is None:
            raise CheckpointError(
                f"resume=True found no interrupted run (no last.pt under {root.resolve()}); "
                "pass model=<run>/weights/last.pt",
                key="resume",
            )
        if _rank() == 0:
            print(f"resuming {latest}", file=sys.stderr)
        return str(latest)
    from .tasks import get_task

    return get_task(settings.task or "classify").model_name("n", ".pt")


@contextlib.contextmanager
def _interruptible() -> Iterator[CancelToken]:
    """Ctrl+C sets a cancel token (the run stops at its next safe point and keeps what it
    saved); a second Ctrl+C interrupts at once."""
    from .cancel import CancelToken

    token = CancelToken()
    if threading.current_thread() is not threading.main_thread():
        yield token
        return

    def on_interrupt(_signum, _frame) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        print("\nstopping after this step (Ctrl+C again to stop now)", file=sys.stderr)
        token.cancel()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)


def _train(model, overrides: dict[str, Any]) -> int:
    with _interruptible() as token:
        result = model.train(cancel=token, **overrides)
    if _rank() != 0:  # one distributed run: rank 0 prints its results
        return 0 if result.status == "completed" else 130
    details = getattr(result.validation, "details", None)
    if details is not None and hasattr(details, "summary_table"):
        print(details.summary_table())
    print(f"weights: {result.best or result.last}")
    return 0 if result.status == "completed" else 130


def _val(model, overrides: dict[str, Any]) -> int:
    with _interruptible() as token:
        metrics = model.val(cancel=token, **overrides)
    print(metrics.summary_table())
    print(f"ran on {model.runtime}")
    folder = getattr(metrics, "save_dir", None)
    if folder:
        print(f"results: {folder}")
        if overrides.get("save_json") and (Path(folder) / "predictions.json").is_file():
            print(f"COCO JSON: {Path(folder) / 'predictions.json'} and ground_truth.json beside it")
    return 0


def _predict(model, overrides: dict[str, Any]) -> int:
    overrides.setdefault("verbose", True)
    count = 0
    with _interruptible() as token:
        try:
            for _ in model.predict(stream=True, print_results=True, cancel=token, **overrides):
                count += 1
        except Cancelled:
            print(f"stopped after {count} images", file=sys.stderr)
            return 130
    if count == 0:
        print("no images were predicted", file=sys.stderr)
        return 1
    print(f"ran on {model.runtime}")
    return 0


def _export(model, overrides: dict[str, Any]) -> int:
    with _interruptible() as token:
        try:
            result = model.export(cancel=token, **overrides)
        except ExportCheckFailed as failed:
            print(failed.result.report() if failed.result else failed, file=sys.stderr)
            return 1
    print(result.report())
    return 0


def _benchmark(model, overrides: dict[str, Any]) -> int:
    from .benchmark import benchmark, format_table

    def show(row) -> None:
        print(f"{row.name}: {row.status}" + (f" ({row.message})" if row.message else ""),
              file=sys.stderr, flush=True)

    with _interruptible() as token:
        rows = benchmark(model, cancel=token, on_row=show, **overrides)
    print(format_table(rows, model.task))
    return 1 if any(row.status == "failed" for row in rows) else 0


MODE_RUNNERS = {"train": _train, "val": _val, "predict": _predict, "export": _export,
                "benchmark": _benchmark}


def render_settings(settings: Settings) -> str:
    """``key: value`` lines, one per setting, in declaration order."""
    return "\n".join(f"{key}: {value!r}" for key, value in settings.model_dump().items())


def _parse_value(raw: str) -> Any:
    """Values are yaml scalars or lists (``True``, ``640``, ``[5, 3]``, ``None``)."""
    import yaml

    from .utils.safe_yaml import safe_load_bounded

    if raw in ("None", "none", "null"):
        return None
    try:
        return safe_load_bounded(raw)
    except yaml.YAMLError:
        return raw


def entry() -> None:
    """The ``yolo`` console script: ``yolo train`` relaunches with a faster allocator where one
    is installed; every other mode runs on the system's malloc (OpenVINO aborts beside
    tcmalloc; see engine/process/allocator.py). Then it runs.

    Kept apart from ``main`` so that calling ``main`` in a process (tests, the studio) never
    replaces that process.
    """
    if trains(sys.argv[1:]):
        relaunch_with_allocator()
        _prestart_plot_worker(sys.argv[1:])
    status = main()
    _exit_quickly()
    raise SystemExit(status)


def _prestart_plot_worker(args: Sequence[str]) -> None:
    """A run that trains here and draws plots starts its plot worker before torch is
    imported (engine/plot_worker.py)."""
    if wants_plot_worker(args, os.environ):
        from .plot_worker import prestart

        prestart()


def wants_plot_worker(args: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether ``yolo`` ``args`` train in this process with plots: not with ``plots=False``,
    not on a rank other than 0, and not in the launcher of a run on several devices (each
    device's process starts its own)."""
    if environ.get("RANK", "0") != "0" or environ.get("YOLO_DDP_CPU_PROCESSES", "1") != "1":
        return False
    for arg in args:
        key, _, value = arg.replace(" ", "").lower().partition("=")
        if key == "plots" and value in ("false", "0"):
            return False
        if key == "device" and ("," in value or "[" in value):
            return False
    return True


def _exit_quickly() -> None:
    """Spare the exiting interpreter its last garbage collections.

    Once torch is loaded, the interpreter's shutdown walks hundreds of thousands of objects
    in its final collections: 0.6-0.7 s after a bare ``import torch`` and 1.5-1.8 s after a
    training run (2 busy cores), against 0.2-0.3 s with them frozen. The command is over:
    files are closed and atomically in place, and exit handlers (thread joins, logging, temp
    folders) still run; only cycles that nothing frees before exit stay as they are.
    """
    if "torch" in sys.modules:
        import gc

        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    entry()
