"""Print the model zoo's parity table: our parameters and GFLOPs next to the reference's.

Run: .venv/bin/python benchmarks/zoo_parity.py  (meta device: a few seconds, no compute)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from engine.nn import build_model
from engine.nn.flops import count_flops, default_imgsz

REFERENCE_TABLE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "reference_zoo.json"


def main() -> None:
    print("| model | params (ours) | params (ref) | GFLOPs (ours) | GFLOPs (ref) | diff |")
    print("|---|---:|---:|---:|---:|---:|")
    start = time.perf_counter()
    reference = json.loads(REFERENCE_TABLE.read_text())["models"]
    for name, entry in reference.items():
        ref_params, ref_gflops = entry["params"], entry["gflops"]
        with torch.device("meta"):
            model = build_model(f"{name}.yaml")
        params = model.num_parameters()
        gflops = count_flops(model, default_imgsz(model))
        mark = "=" if params == ref_params else "DIFFERS"
        print(
            f"| {name} | {params:,} | {ref_params:,} {mark} | {gflops:.2f} | {ref_gflops:.2f} "
            f"| {100 * (gflops - ref_gflops) / ref_gflops:+.2f}% |"
        )
    print(f"\n{len(reference)} models in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
