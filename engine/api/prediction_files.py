"""What ``predict`` writes and prints as each result is made: annotated images, label files
and the CLI's line per image."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm


def result_sink(save_dir: Path | None, print_results: bool, *, images: bool = True,
                labels: bool = False, confidences: bool = False):
    """Save annotated images (``images``) and label files (``labels``, under ``labels/``)
    and/or print each result as it is made (the CLI's line per image)."""
    if save_dir is None and not print_results:
        return None
    counter = {"n": 0}
    used: set[str] = set()

    def sink(result) -> None:
        counter["n"] += 1
        if save_dir is not None:
            name = saved_name(result, counter["n"], used)
            if images:
                result.save(save_dir / name)
            if labels:
                result.save_txt(save_dir / "labels" / f"{Path(name).stem}.txt",
                                save_conf=confidences)
        if print_results:
            h, w = result.orig_img.shape[:2]
            speed = sum(result.speed.values())
            # tqdm.write keeps the line above the CLI's progress bar instead of through it
            tqdm.write(f"{counter['n']} {result.path}: {w}x{h} {result.verbose()} {speed:.1f}ms",
                       file=sys.stdout)

    return sink


_SAVED_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def saved_name(result, number: int, used: set[str]) -> str:
    """The source's file name (video frames get ``_<frame>`` and a .jpg; other formats .jpg);
    a name already written in this run gets ``_2``, ``_3`` … rather than overwriting it."""
    source = Path(result.path)
    stem = source.stem or f"image{number}"
    frame = getattr(result, "frame", None)
    suffix = source.suffix.lower() if source.suffix.lower() in _SAVED_SUFFIXES else ".jpg"
    if frame is not None:
        stem, suffix = f"{stem}_{frame}", ".jpg"
    name, copy = f"{stem}{suffix}", 2
    while name in used:
        name, copy = f"{stem}_{copy}{suffix}", copy + 1
    used.add(name)
    return name
