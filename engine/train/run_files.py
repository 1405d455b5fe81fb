"""A run's files beside its checkpoints: results.csv, the temp files that killed saves leave,
and the message for a disk that filled up (what the run kept, how to go on)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..utils.atomic import (
    DiskFullError,
    atomic_writer,
    disk_full_cause,
    disk_full_target,
    remove_stale_temp_files,
)


def remove_interrupted_saves(folders: Iterable[Path],
                             warn: Callable[[str, str | None], None]) -> None:
    """Delete what killed saves left (``.last.pt.<pid>.<random>.tmp``, up to a checkpoint's
    size each): they are never renamed into place, and only fill the disk."""
    for folder in folders:
        removed = remove_stale_temp_files(folder)
        if removed:
            size = sum(r.size for r in removed) / 1e6
            names = ", ".join(r.path.name for r in removed[:3])
            more = f" and {len(removed) - 3} more" if len(removed) > 3 else ""
            warn(
                f"removed {len(removed)} temp file(s) of interrupted saves ({size:.1f} MB): "
                f"{names}{more}",
                str(folder),
            )


def disk_full_error(exc: BaseException, *, saved: Mapping[str, int | None], save_dir: Path,
                    weights_dir: Path, task: str) -> DiskFullError | None:
    """A full disk, said once with what the run kept and how to go on; None otherwise.

    ``saved`` maps ``last.pt`` / ``best.pt`` to the epoch each holds (``last.pt`` None: the
    run had finished and stripped it).
    """
    if disk_full_cause(exc) is None:
        return None
    target = disk_full_target(exc)
    folder = target.parent if target is not None else save_dir
    what = f"{target.name} could not be written" if target is not None else "a write failed"
    last = weights_dir / "last.pt"
    if saved.get("last.pt", 0) is None:  # the run had finished; only its plots are missing
        return DiskFullError(
            f"the disk is full: {what}. Training finished: last.pt and best.pt are saved "
            "and intact; some plots or result files are missing. Free some space; `yolo "
            f"{task} val model={weights_dir / 'best.pt'}` draws the validation plots again",
            path=folder,
            target=target,
        )
    if "last.pt" not in saved:
        return DiskFullError(
            f"the disk is full: {what}; no checkpoint was saved yet. Free some space and "
            "start the run again",
            path=folder,
            target=target,
        )
    kept = [f"last.pt (epoch {saved['last.pt'] + 1})"]
    if saved.get("best.pt") is not None:
        kept.append(f"best.pt (epoch {saved['best.pt'] + 1})")
    return DiskFullError(
        f"the disk is full: {what}. The run keeps {' and '.join(kept)}, intact. Free some "
        f"space, then resume with: yolo {task} train resume=True model={last}",
        path=folder,
        target=target,
    )


def write_results_csv(path: Path, history: Sequence[Mapping[str, float | None]]) -> None:
    """One row per epoch, the columns in the order they first appear (atomically)."""
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    lines = [",".join(columns)]
    for row in history:
        lines.append(",".join(_csv_value(row.get(c), c) for c in columns))
    with atomic_writer(path) as handle:
        handle.write(("\n".join(lines) + "\n").encode())


def _csv_value(value: float | None, column: str) -> str:
    if value is None:
        return ""
    if column == "epoch":
        return str(int(value))
    return f"{value:.6g}"


def write_run_args(save_dir: Path, settings, imgsz: int, batch: int) -> dict[str, Any]:
    """args.yaml: every setting of the run, with the image size and batch it really uses;
    returns them (checkpoints keep them as ``train_args``)."""
    args = settings.model_dump(mode="json")
    args.update(imgsz=imgsz, batch=batch, save_dir=str(save_dir))
    local = Path(str(args.get("data") or "")).expanduser()
    if args.get("data") and local.is_dir():  # so model.val() works from any folder
        args["data"] = str(local.resolve())
    with atomic_writer(save_dir / "args.yaml") as handle:
        handle.write(yaml.safe_dump(args, sort_keys=False).encode())
    return args


def write_final_validation(save_dir: Path, validation, task: str, best: Path,
                           best_epoch: int | None) -> str | None:
    """Keep best.pt's final validation in the run folder (final_validation.json), so a reader
    shows it without validating again. ``best_epoch`` is 0-based. Returns why it was not
    written (the run only warns), or None."""
    from ..errors import EngineError
    from ..val.validation_record import RECORD_NAME, validation_record, write_validation_record

    if validation.details is None:
        return None
    try:
        record = validation_record(validation.details, task,
                                   checkpoint=best.relative_to(save_dir),
                                   epoch=None if best_epoch is None else best_epoch + 1)
        write_validation_record(save_dir / RECORD_NAME, record)
    except (OSError, EngineError, ValueError) as exc:
        return f"{RECORD_NAME} was not written: {exc}"
    return None
