"""Training on several devices from one call: ``model.train(device=[0, 1])``, ``yolo train
device=0,1``.

The caller's side (:func:`train_in_processes`) writes a job folder (the model, the settings),
starts one worker process (:data:`WORKER_CODE`) per device through torchrun's agent
(engine/process/launch.py), relays rank 0's events to the caller's reporter, and builds the
``TrainResult`` from what rank 0 wrote. Each worker is one rank of an ordinary distributed run
(RANK, WORLD_SIZE, ... set by the agent), so it trains exactly as under a hand-typed torchrun.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cancel import CancelToken
from ..errors import Cancelled, EngineError
from ..events import Event, Reporter, RunFinished, RunStarted, ignore
from ..process import launch

if TYPE_CHECKING:
    from ..config import Settings
    from ..runs.train_result import TrainResult
    from .trainable import TrainableModel

JOB_FILE = "job.json"
RESULT_FILE = "result.json"
START_FILE = "start.pt"
WORKER_CODE = (
    "import sys; from engine.process.launch import prepare_worker; prepare_worker(sys.argv[1]); "
    "from engine.api.ddp_worker import main; sys.exit(main(sys.argv[1:]))"
)
"""A worker's program (``python -c WORKER_CODE FOLDER``): not ``python -m`` this module, since
importing engine.api loads torch, and the rank's thread settings must come first."""


def train_in_processes(trainable: TrainableModel, settings: Settings, nprocs: int, *,
                       progress: Reporter, cancel: CancelToken) -> TrainResult:
    """Train ``trainable``'s model with ``settings`` in ``nprocs`` processes (one per device)."""
    folder = Path(tempfile.mkdtemp(prefix="yolo-ddp-"))
    try:
        _write_json(folder / JOB_FILE, _job(trainable, settings, folder))
        relayed = _RelayedRun(progress)
        command = [sys.executable, "-c", WORKER_CODE, str(folder)]
        launched = launch.run(command, nprocs=nprocs, folder=folder, on_event=relayed,
                              cancel=cancel)
        return _outcome(folder, launched, relayed)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _job(trainable: TrainableModel, settings: Settings, folder: Path) -> dict[str, Any]:
    """What every worker starts from: the model (its checkpoint when the weights are still the
    checkpoint's, else a copy of the ones in memory), how, and with which settings."""
    from ..checkpoints import checkpoint_dict, save_checkpoint

    checkpoint = trainable.checkpoint_path
    if checkpoint is not None and (settings.resume or trainable._runs_checkpoint()):
        model = Path(checkpoint)
    else:  # built from a yaml, or weights changed in memory (load(), fuse()): train those
        model = folder / START_FILE
        save_checkpoint(model, checkpoint_dict(trainable.model))
        checkpoint = None if checkpoint is None else model
    return {
        "model": str(model),
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "settings": settings.model_dump(mode="json", include=settings.model_fields_set),
    }


class _RelayedRun:
    """Passes rank 0's events on, remembering whether the run started and was closed."""

    def __init__(self, progress: Reporter) -> None:
        self.progress = progress
        self.started: RunStarted | None = None
        self.finished = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted) and event.mode == "train":
            self.started = event
        if isinstance(event, RunFinished) and event.mode == "train":
            self.finished = True
        self.progress(event)

    def close(self, message: str) -> None:
        """Send the ``RunFinished`` a rank 0 that was killed could not send."""
        if self.started is not None and not self.finished:
            self.finished = True
            self.progress(RunFinished("train", "failed", self.started.save_dir, message=message))


def _outcome(folder: Path, launched: launch.Launched, relayed: _RelayedRun) -> TrainResult:
    """The run's TrainResult from rank 0's answer; a worker's error, or how it died, raised."""
    answer = _read_json(folder / RESULT_FILE)
    if answer is not None and "status" in answer:
        return _train_result(answer)
    errors = {int(p.stem.split(".")[1]): _read_json(p) or {} for p in folder.glob("error.*.json")}
    if answer is not None and answer.get("cancelled"):
        raise Cancelled("stopped on request")
    if errors:
        message = errors.get(0, errors[min(errors)]).get("error", "")
        relayed.close(message)
        raise EngineError(message)
    message = _died(launched.exit_codes, started=relayed.started is not None)
    relayed.close(message)
    raise EngineError(message)


def _died(exit_codes: Mapping[int, int], *, started: bool) -> str:
    """One line on a worker that ended without an answer (a crash, a kill)."""
    if exit_codes:
        rank = min(exit_codes)
        code = exit_codes[rank]
        how = f"was killed by signal {-code}" if code < 0 else f"stopped (exit code {code})"
        message = f"training process {rank} {how} and the others were stopped"
    else:
        message = "the training processes ended without a result"
    if started:
        return f"{message}; last.pt keeps the last finished epoch: resume with resume=True"
    return f"{message}; their output above says why"


def _train_result(answer: Mapping[str, Any]) -> TrainResult:
    from ..runs.train_result import TrainResult
    from ..runs.validation import Validation

    summary = answer.get("summary")
    validation = None
    if summary:
        validation = Validation(dict(answer.get("final_metrics") or {}),
                                float(answer.get("best_fitness") or 0.0), details=_Summary(summary))

    def path(key: str) -> Path | None:
        return Path(answer[key]) if answer.get(key) else None

    return TrainResult(
        Path(answer["save_dir"]), answer["status"], int(answer["epochs_completed"]),
        best=path("best"), last=path("last"), metrics=dict(answer.get("metrics") or {}),
        best_fitness=answer.get("best_fitness"), seconds=float(answer.get("seconds") or 0.0),
        validation=validation, final_metrics=dict(answer.get("final_metrics") or {}),
        phase_seconds=dict(answer.get("phase_seconds") or {}),
    )


class _Summary:
    """Rank 0's table of best.pt's final validation, as text (what ``yolo train`` prints)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def summary_table(self) -> str:
        return self.text


def _write_json(path: Path, value: Any) -> None:
    from ..utils.atomic import atomic_writer

    with atomic_writer(path) as file:
        file.write(json.dumps(value).encode("utf-8"))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# -- one worker -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """One rank (after ``launch.prepare_worker``): train the job in the folder ``argv[0]``;
    rank 0 reports and answers."""
    folder = Path((sys.argv[1:] if argv is None else argv)[0])
    job = json.loads((folder / JOB_FILE).read_text(encoding="utf-8"))
    rank = int(os.environ.get("RANK", "0"))
    cancel = CancelToken()
    launch.join_run(folder, cancel, rank)
    try:
        result = _train(job, launch.EventWriter(folder) if rank == 0 else ignore, cancel)
    except (Cancelled, KeyboardInterrupt):
        if rank == 0:
            _write_json(folder / RESULT_FILE, {"cancelled": True})
        return 130
    except EngineError as exc:  # one line for the launcher to raise; no traceback
        _write_json(folder / f"error.{rank}.json", {"error": str(exc)})
        return 1
    if rank == 0:
        _write_json(folder / RESULT_FILE, _answer(result))
    return 0


def _train(job: Mapping[str, Any], progress: Callable[[Any], None],
           cancel: CancelToken) -> TrainResult:
    from ..checkpoints import load_model
    from ..config import validate_settings
    from .trainable import train_model

    model, _ = load_model(job["model"])
    settings = validate_settings(dict(job["settings"]), source="train()")
    checkpoint = Path(job["checkpoint"]) if job.get("checkpoint") else None
    return train_model(model, settings, checkpoint=checkpoint, progress=progress, cancel=cancel)


def _answer(result: TrainResult) -> dict[str, Any]:
    details = getattr(result.validation, "details", None)
    summary = details.summary_table() if hasattr(details, "summary_table") else None
    return {
        "save_dir": str(result.save_dir), "status": result.status,
        "epochs_completed": result.epochs_completed,
        "best": str(result.best) if result.best else None,
        "last": str(result.last) if result.last else None,
        "metrics": _floats(result.metrics), "best_fitness": result.best_fitness,
        "seconds": result.seconds, "final_metrics": _floats(result.final_metrics),
        "phase_seconds": _floats(result.phase_seconds), "summary": summary,
    }


def _floats(values: Mapping[str, Any]) -> dict[str, float]:
    return {str(k): float(v) for k, v in (values or {}).items() if isinstance(v, int | float)}
