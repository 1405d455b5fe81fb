"""int8 OpenVINO against fp32 OpenVINO: speed (yolov8n-seg at 640) and accuracy cost (box and
mask mAP50-95 of a 30-epoch model on the generated shapes set), with our engine's exports.

Steps, all in this process with the same threads:
1. a yolov8n-seg trained by our engine at imgsz 320 for 30 epochs on
   engine.data.shape_samples.make_shapes_dataset (seed 0); cached under
   ``~/.cache/yolo-studio/benchmarks/int8_openvino/`` so reruns skip training (``--retrain``);
2. that model exported to OpenVINO fp32 and int8 at 320 (calibrated on the set's images, as
   ``yolo export int8=True data=...`` does), both validated on the set's val split;
3. the same model exported at 640 (yolov8n-seg@640) fp32 and int8; batch-1 latency of each,
   interleaved, many runs, median; and how many of the compiled int8 model's operations run in
   int8 against those in floating point (OpenVINO's ``runtime_precision`` of each executed node).

Run: .venv/bin/python benchmarks/int8_openvino.py [--runs 100] [--epochs 30] [--retrain]
The last line is one JSON object of the key figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from engine.process.threads import configure_threads

configure_threads()  # as the yolo command does, before torch loads

import torch  # noqa: E402
import yaml  # noqa: E402

from engine import YOLO  # noqa: E402
from engine.data.shape_samples import make_shapes_dataset  # noqa: E402

CACHE = Path.home() / ".cache" / "yolo-studio" / "benchmarks" / "int8_openvino"
TRAIN_IMGSZ = 320
SPEED_IMGSZ = 640


def trained_model(epochs: int, seed: int, *, retrain: bool = False) -> tuple[Path, Path]:
    """``(best.pt, shapes.yaml)``: the shapes set and a yolov8n-seg our engine trained on it,
    made once and kept in CACHE (keyed by epochs and seed)."""
    folder = CACHE / f"shapes-seed{seed}-e{epochs}-{TRAIN_IMGSZ}"
    data = folder / "data" / "shapes.yaml"
    weights = folder / "best.pt"
    if not data.exists():  # written beside, then renamed: a killed run leaves no half set
        shutil.rmtree(folder / "data.tmp", ignore_errors=True)
        make_shapes_dataset(folder / "data.tmp", seed=seed)
        (folder / "data.tmp").rename(folder / "data")
    if weights.exists() and not retrain:
        return weights, data
    print(f"training yolov8n-seg for {epochs} epochs at {TRAIN_IMGSZ} (cached afterwards in "
          f"{folder})", flush=True)
    with tempfile.TemporaryDirectory() as temp:
        result = YOLO("yolov8n-seg.yaml").train(
            data=str(data), epochs=epochs, imgsz=TRAIN_IMGSZ, batch=16, seed=seed, workers=2,
            project=str(Path(temp) / "runs"), plots=False, progress=lambda _event: None,
        )
        shutil.copy2(result.best, folder / "best.pt.tmp")
        (folder / "best.pt.tmp").replace(weights)
    return weights, data


def calibration_yaml(data: Path) -> Path:
    """A yaml of the same set whose val split is its train images: the export calibrates int8
    (and checks parity) on a dataset's val split, and scoring on the very images it was
    calibrated on would flatter int8."""
    target = data.with_name("calibrate_on_train.yaml")
    values = yaml.safe_load(data.read_text())
    values["val"] = values["train"]
    target.write_text(yaml.safe_dump(values, sort_keys=False))
    return target


def exported(weights: Path, folder: Path, data: Path, imgsz: int, int8: bool):
    """``yolo export format=openvino imgsz=... data=... [int8=True]`` of a copy of ``weights``
    in ``folder`` (so the fp32 and int8 folders do not replace each other); ``data`` is the
    set the export calibrates on."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / weights.name
    shutil.copy2(weights, copy)
    return YOLO(copy, progress=lambda _event: None).export(
        format="openvino", imgsz=imgsz, data=str(data), int8=int8,
        progress=lambda _event: None)


def scored(folder: Path, data: Path, imgsz: int) -> tuple[float, float]:
    """Box and mask mAP50-95 of an export on the set's val split."""
    metrics = YOLO(folder, progress=lambda _event: None).val(
        data=str(data), imgsz=imgsz, plots=False, save=False, progress=lambda _event: None)
    values = metrics.results_dict
    return float(values["metrics/mAP50-95(B)"]), float(values["metrics/mAP50-95(M)"])


def latencies(backends: dict[str, object], imgsz: int, runs: int) -> dict[str, float]:
    """Median ms of one batch-1 forward pass of each backend, interleaved run by run (so a
    busy moment of the machine costs both alike), after a warm-up."""
    image = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {name: [] for name in backends}
    for backend in backends.values():
        for _ in range(3):
            backend.forward(image)
    for _ in range(runs):
        for name, backend in backends.items():
            started = time.perf_counter()
            backend.forward(image)
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def cpu_int8_instructions() -> str:
    """The CPU's int8 dot-product instructions, from /proc/cpuinfo (Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines()
                      if line.startswith("flags")), []))
    found = [f for f in ("avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    return ", ".join(found) or "none (int8 gains little on this CPU)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--train-only", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    weights, data = trained_model(args.epochs, args.seed, retrain=args.retrain)
    print(f"model {weights} ({time.perf_counter() - started:.0f} s)", flush=True)
    if args.train_only:
        return 0
    from engine.backends import load_backend
    from engine.export.openvino import precision_census

    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="int8-openvino-") as temp:
        work = Path(temp)
        calibration = calibration_yaml(data)
        print(f"\naccuracy: yolov8n-seg ({args.epochs} epochs) at {TRAIN_IMGSZ} on the val "
              f"split of {data}; int8 calibrated on its train images")
        for precision in ("fp32", "int8"):
            result = exported(weights, work / f"{precision}{TRAIN_IMGSZ}", calibration,
                              TRAIN_IMGSZ, precision == "int8")
            box, mask = scored(result.path, data, TRAIN_IMGSZ)
            figures[f"box_map_{precision}"], figures[f"mask_map_{precision}"] = box, mask
            print(f"  {precision}: box mAP50-95 {box:.4f}, mask mAP50-95 {mask:.4f} (export "
                  f"{result.seconds:.0f} s; parity {result.parity.summary()})", flush=True)
        box_change = figures["box_map_int8"] - figures["box_map_fp32"]
        mask_change = figures["mask_map_int8"] - figures["mask_map_fp32"]
        print(f"  int8 against fp32 (negative: int8 scores lower): box {box_change:+.4f}, mask "
              f"{mask_change:+.4f} (target: within 0.01)")

        print(f"\nspeed: the same model at {SPEED_IMGSZ} (yolov8n-seg@{SPEED_IMGSZ}), batch 1, "
              f"{args.runs} interleaved runs, torch threads {torch.get_num_threads()}")
        backends = {}
        for precision in ("fp32", "int8"):
            result = exported(weights, work / f"{precision}{SPEED_IMGSZ}", calibration,
                              SPEED_IMGSZ, precision == "int8")
            backends[precision] = load_backend(result.path, device="cpu")
        median = latencies(backends, SPEED_IMGSZ, args.runs)
        compiled = backends["int8"].compiled
        census = precision_census(compiled)
        speedup = median["fp32"] / median["int8"]
        threads = compiled.get_property("INFERENCE_NUM_THREADS")
        hint = compiled.get_property("PERFORMANCE_HINT")
        print(f"  OpenVINO fp32 {median['fp32']:.1f} ms, int8 {median['int8']:.1f} ms: int8 "
              f"{speedup:.2f}x the fp32 speed (target >= 1.5x)")
        print(f"  compiled int8 model: {census.summary()}")
        kept = sorted({name.split("/")[0].removeprefix("__module.")
                       for name in census.float_convolutions})
        print(f"  convolutions left in fp32: {', '.join(kept) or 'none'} (the export keeps the "
              f"DFL, the head's output convolutions and the box decoding in fp32: "
              f"engine/export/openvino.py kept_in_float)")
        print(f"  CPU plugin: {threads} inference threads, {hint} hint; CPU int8 instructions: "
              f"{cpu_int8_instructions()}")
        if speedup < 1.5:
            print("  int8 is not clearly faster here: see the fp32 operations above (layers kept "
                  "in fp32, reorders between precisions) and the CPU's int8 instructions")
        figures.update(
            int8_speedup=round(speedup, 3), fp32_ms=round(median["fp32"], 2),
            int8_ms=round(median["int8"], 2), box_change=round(box_change, 4),
            mask_change=round(mask_change, 4), int8_ops=census.int8_ops, fp32_ops=census.float_ops,
            int8_convolutions=census.int8_convolutions, convolutions=census.convolutions,
        )
    for key in ("box_map_fp32", "box_map_int8", "mask_map_fp32", "mask_map_int8"):
        figures[key] = round(float(figures[key]), 4)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
