"""A small job end to end, as a user runs it: ``yolo classify train`` on the digits set, ours
against the reference in the same run, with a breakdown of our fixed costs; ``yolo version``.

Issue 21 (item 3): on the ~1,400-image digits set (32 px, 10 epochs, batch 64) a run is mostly
fixed costs (start-up, checks, plots, the last validation), not training. This times the
installed console scripts themselves, in alternating child processes, from the moment the
command starts to the moment it exits, and timestamps every line they print to place the
phases:

- ours: ``.venv/bin/yolo classify train data=DIGITS model=yolov8n-cls.yaml imgsz=32 epochs=10
  batch=64`` (everything else at its default: plots, validation each epoch, the allocator
  relaunch);
- the reference: the same arguments through its own command-line entry point
  (``ultralytics.cfg.entrypoint``, what its ``yolo`` script runs) in its Python, after
  ``reference_shim.TORCHVISION_SHIM`` (torchvision's C operators do not load here).

Our breakdown: start (command to the run's first line: interpreter, imports, the allocator
relaunch, dataset checks, model), the epochs (train + validation, from the epoch table),
the end (last epoch to "train finished": best.pt's validation, plots, checkpoints) and the
exit; then the pieces of the start measured alone in child processes (a bare command, the
imports a training run needs, the dataset scan), and where the run's own clock puts them
(``TrainResult.phase_seconds``, from one run through the API).

Run: .venv/bin/python benchmarks/small_jobs.py [--reference /tmp/refvenv/bin/python]
     [--rounds 2] [--epochs 10]
The last line is one JSON object with the key figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from reference_shim import TORCHVISION_SHIM

ROOT = Path(__file__).resolve().parent.parent
OUR_YOLO = Path(sys.executable).with_name("yolo")
DEFAULT_REFERENCE = Path("/tmp/refvenv/bin/python")
REFERENCE_CHILD = TORCHVISION_SHIM + (
    "import sys\nfrom ultralytics.cfg import entrypoint\n"
    "sys.argv = ['yolo', *sys.argv[1:]]\nentrypoint()\n"
)
_EPOCH_ROW = re.compile(r"^\s*(\d+)/(\d+)\s+.*\s(\d+(?:\.\d+)?)s(?:\s\*)?\s*$")
_FIRST_EPOCH = re.compile(r"^\s*1/\d+[\s:]")
_ALL_ROW = re.compile(r"^\s*all\s+([\d.\s]+)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Timeline:
    """One command's printed lines, each with the seconds since it started."""

    lines: list[tuple[float, str]] = field(default_factory=list)
    total: float = 0.0
    returncode: int = 0

    def first(self, pattern: re.Pattern | str) -> float | None:
        for stamp, line in self.lines:
            if (pattern.search(line) if isinstance(pattern, re.Pattern) else pattern in line):
                return stamp
        return None

    def last(self, pattern: re.Pattern | str) -> float | None:
        found = None
        for stamp, line in self.lines:
            if (pattern.search(line) if isinstance(pattern, re.Pattern) else pattern in line):
                found = stamp
        return found

    def top1(self) -> float:
        """top-1 of the last ``all`` row (ours: images, top1, top5; the reference's: top1,
        top5)."""
        value = float("nan")
        for _, line in self.lines:
            match = _ALL_ROW.match(line)
            if match:
                numbers = [n for n in match.group(1).split() if "." in n]
                if numbers:
                    value = float(numbers[0])
        return value

    def epoch_rows(self) -> list[tuple[float, float]]:
        """(when printed, the epoch's own seconds) for each row of our epoch table."""
        rows = []
        for stamp, line in self.lines:
            match = _EPOCH_ROW.match(line)
            if match:
                rows.append((stamp, float(match.group(3))))
        return rows


def timed(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> Timeline:
    """Run ``command``, stamping each line (``\\r`` or ``\\n`` ended) of its merged output."""
    timeline = Timeline()
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    pending = b""
    assert process.stdout is not None
    while chunk := process.stdout.read1(65536):
        now = time.perf_counter() - started
        pending += chunk
        *complete, pending = re.split(rb"[\r\n]", pending)
        timeline.lines += [(now, _ANSI.sub("", p.decode(errors="replace")))
                           for p in complete if p.strip()]
    timeline.returncode = process.wait()
    timeline.total = time.perf_counter() - started
    if pending.strip():
        timeline.lines.append((timeline.total, pending.decode(errors="replace")))
    return timeline


def train_arguments(data: Path, project: Path, name: str, epochs: int) -> list[str]:
    return ["classify", "train", f"data={data}", "model=yolov8n-cls.yaml", "imgsz=32",
            f"epochs={epochs}", "batch=64", "seed=0", f"project={project}", f"name={name}"]


def run_ours(data: Path, work: Path, name: str, epochs: int) -> Timeline:
    return timed([str(OUR_YOLO), *train_arguments(data, work / "ours", name, epochs)],
                 cwd=work)


def run_reference(python: Path, data: Path, work: Path, name: str, epochs: int) -> Timeline:
    arguments = train_arguments(data, work / "reference", name, epochs)
    return timed([str(python), "-c", REFERENCE_CHILD, *arguments, "device=cpu"], cwd=work)


def failed(timeline: Timeline, who: str) -> bool:
    if timeline.returncode == 0:
        return False
    print(f"{who} failed (exit {timeline.returncode}); its last lines:", file=sys.stderr)
    for _, line in timeline.lines[-25:]:
        print("   ", line, file=sys.stderr)
    return True


def our_phases(timeline: Timeline) -> dict[str, float]:
    """Start, epochs, end and exit of our run, from its printed lines."""
    begun = timeline.first("train: ") or 0.0
    rows = timeline.epoch_rows()
    finished = timeline.first("train finished") or timeline.total
    last_row = rows[-1][0] if rows else begun
    epoch_seconds = [seconds for _, seconds in rows]
    steady = statistics.median(epoch_seconds[1:] or epoch_seconds or [0.0])
    return {
        "start_s": begun,
        "epochs_s": last_row - begun,
        "epoch_table_sum_s": sum(epoch_seconds),
        "first_epoch_s": epoch_seconds[0] if epoch_seconds else 0.0,
        "steady_epoch_s": steady,
        "end_s": finished - last_row,
        "exit_s": timeline.total - finished,
    }


def reference_phases(timeline: Timeline) -> dict[str, float]:
    """Start (to its first epoch's progress), epochs (to "epochs completed"), end."""
    begun = timeline.first(_FIRST_EPOCH) or 0.0
    done = timeline.last("epochs completed") or timeline.total
    return {"start_s": begun, "epochs_s": done - begun, "end_s": timeline.total - done}


def wall(command: list[str], *, repeats: int = 3, env: dict[str, str] | None = None) -> float:
    """The median wall time of ``command`` (its output discarded)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def start_pieces(data: Path) -> dict[str, float]:
    """The parts of our start measured alone, each in fresh processes (median of 3)."""
    python = sys.executable
    bare = wall([python, "-c", "pass"])
    # What `yolo train` loads before it relaunches with the allocator: paid twice.
    relaunch = wall([python, "-c", "import engine.cli"])
    imports = wall([python, "-c", "from engine.process.threads import configure_threads; "
                    "configure_threads(); import engine.api, engine.train.classify, cv2"])
    scan = subprocess.run(
        [python, "-c", "import sys, time; from engine.data.classify_folder import "
         "load_classify_folder as load; t = time.perf_counter(); load(sys.argv[1]); "
         "print(time.perf_counter() - t)", str(data)],
        check=True, capture_output=True, text=True, cwd=ROOT)
    return {"python_s": bare, "before_relaunch_s": relaunch, "imports_s": imports,
            "dataset_scan_s": float(scan.stdout.strip().splitlines()[-1])}


def in_process_phases(data: Path, work: Path, epochs: int) -> dict[str, float]:
    """``TrainResult.phase_seconds`` of one run through the API, in a child process."""
    code = (
        "import json, sys\n"
        "from engine.process.threads import configure_threads\n"
        "configure_threads()\n"
        "from engine import YOLO\n"
        "result = YOLO('yolov8n-cls.yaml').train(data=sys.argv[1], epochs=int(sys.argv[2]), "
        "imgsz=32, batch=64, seed=0, project=sys.argv[3], name='api')\n"
        "print('PHASES ' + json.dumps(getattr(result, 'phase_seconds', {})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(data), str(epochs),
                           str(work / "api")], capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("PHASES ")]
    if done.returncode or not lines:
        print(done.stderr[-3000:], file=sys.stderr)
        return {}
    return json.loads(lines[-1][len("PHASES "):])


def version_seconds() -> float:
    """``yolo version`` through the installed script, median of 5."""
    return wall([str(OUR_YOLO), "version"], repeats=5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path,
                        default=DEFAULT_REFERENCE if DEFAULT_REFERENCE.exists() else None,
                        help="a Python with ultralytics 8.4.190 (default /tmp/refvenv)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each, alternating")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "digits"
        subprocess.run([sys.executable, "-c", "import sys; from engine.data.samples import "
                        "make_digits_folder as m; m(sys.argv[1])", str(data)], check=True,
                       cwd=ROOT)
        ours: list[Timeline] = []
        reference: list[Timeline] = []
        for index in range(args.rounds):
            order = ["ours", "reference"] if index % 2 == 0 else ["reference", "ours"]
            for who in order:
                if who == "ours":
                    run = run_ours(data, work, f"run{index}", args.epochs)
                    if failed(run, "our yolo"):
                        return 1
                    ours.append(run)
                elif args.reference is not None:
                    run = run_reference(args.reference, data, work, f"run{index}", args.epochs)
                    if failed(run, "the reference"):
                        return 1
                    reference.append(run)
                lowered = " (trained on fewer threads: the CPU was busy)" if (
                    who == "ours" and run.first("CPU is busy") is not None) else ""
                print(f"round {index + 1}: {who} {run.total:.1f} s, top1 {run.top1():.3f}"
                      f"{lowered}", flush=True)
        pieces = start_pieces(data)
        phases = in_process_phases(data, work, args.epochs)
    version = version_seconds()

    our_total = statistics.median(r.total for r in ours)
    our_top1 = ours[-1].top1()
    median_phases = {key: statistics.median(our_phases(r)[key] for r in ours)
                     for key in our_phases(ours[0])}
    print()
    print(f"yolo classify train, digits (1,397 train / 400 val), imgsz 32, batch 64, "
          f"{args.epochs} epochs, {args.rounds} round(s), load average {os.getloadavg()[0]:.1f}")
    print(f"ours:      total {our_total:5.1f} s (runs: "
          f"{', '.join(f'{r.total:.1f}' for r in ours)}), top1 {our_top1:.3f}")
    busy_runs = sum(r.first("CPU is busy") is not None for r in ours)
    if busy_runs:
        print(f"  {busy_runs} of our runs found the CPU busy and trained on fewer threads; "
              "the reference always trains on cores - 1 threads (1 here)")
    figures.update(ours_total_s=round(our_total, 2), ours_top1=our_top1,
                   ours_runs_on_a_busy_cpu=busy_runs)
    if reference:
        ref_total = statistics.median(r.total for r in reference)
        ref_top1 = reference[-1].top1()
        ref_phases = {key: statistics.median(reference_phases(r)[key] for r in reference)
                      for key in reference_phases(reference[0])}
        print(f"reference: total {ref_total:5.1f} s (runs: "
              f"{', '.join(f'{r.total:.1f}' for r in reference)}), top1 {ref_top1:.3f}")
        print(f"ours / reference: {our_total / ref_total:.2f}x (target <= 0.5x)")
        print(f"reference: start {ref_phases['start_s']:.1f} s, epochs "
              f"{ref_phases['epochs_s']:.1f} s, end {ref_phases['end_s']:.1f} s")
        figures.update(reference_total_s=round(ref_total, 2), reference_top1=ref_top1,
                       ratio=round(our_total / ref_total, 3))
    print()
    print("our run, from its printed lines (median over runs):")
    print(f"  start (command -> first line)     {median_phases['start_s']:5.2f} s")
    print(f"  epochs (first line -> last row)   {median_phases['epochs_s']:5.2f} s  (table sum "
          f"{median_phases['epoch_table_sum_s']:.2f} s; first epoch "
          f"{median_phases['first_epoch_s']:.2f} s, then {median_phases['steady_epoch_s']:.2f}"
          " s each)")
    print(f"  end (last row -> 'train finished') {median_phases['end_s']:5.2f} s")
    print(f"  exit (summary, interpreter exit)  {median_phases['exit_s']:5.2f} s")
    print("pieces of the start, alone (median of 3 fresh processes):")
    print(f"  python -c pass                    {pieces['python_s']:5.2f} s")
    print(f"  import engine.cli (the relaunch)  {pieces['before_relaunch_s']:5.2f} s")
    print(f"  imports a training run needs      {pieces['imports_s']:5.2f} s")
    print(f"  dataset scan and checks           {pieces['dataset_scan_s']:5.2f} s")
    if phases:
        print("the run's own clock (TrainResult.phase_seconds, one run through the API):")
        for key, value in phases.items():
            print(f"  {key:<34}{value:5.2f} s")
    print(f"yolo version: {version * 1000:.0f} ms (target < 500 ms)")
    figures.update(
        {f"ours_{key}": round(value, 3) for key, value in median_phases.items()},
        **{f"start_{key}": round(value, 3) for key, value in pieces.items()},
        **{f"phase_{key}": round(value, 3) for key, value in phases.items()},
        yolo_version_s=round(version, 3),
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
