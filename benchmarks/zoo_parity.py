"""Print the model zoo's parity table: our parameters and GFLOPs next to the reference's.

Run: .venv/bin/python benchmarks/zoo_parity.py  (meta device: a few seconds, no compute)
"""

from __future__ import annotations

import time

import torch

from engine.nn import build_model
from engine.nn.flops import count_flops, default_imgsz

# Reference parameter counts and GFLOPs (BN-fused, at 640; 1280 for P6) from the issue.
REFERENCE = {
    "yolov8n-cls": (2_719_288, 3.29), "yolov8s-cls": (6_361_736, 12.45),
    "yolov8m-cls": (17_053_336, 41.64), "yolov8l-cls": (37_480_744, 98.71),
    "yolov8x-cls": (57_422_840, 153.80),
    "yolov8n-seg": (3_409_968, 12.00), "yolov8s-seg": (11_821_056, 40.09),
    "yolov8m-seg": (27_285_968, 104.54), "yolov8l-seg": (45_997_728, 210.39),
    "yolov8x-seg": (71_827_888, 328.36),
    "yolov8n-pose": (3_295_470, 9.18), "yolov8s-pose": (11_626_046, 30.19),
    "yolov8m-pose": (26_464_462, 81.02), "yolov8l-pose": (44_489_196, 168.55),
    "yolov8x-pose": (69_491_724, 263.21),
    "yolov8x-pose-p6": (99_182_640, 1066.4),
}


def main() -> None:
    print("| model | params (ours) | params (ref) | GFLOPs (ours) | GFLOPs (ref) | diff |")
    print("|---|---:|---:|---:|---:|---:|")
    start = time.perf_counter()
    for name, (ref_params, ref_gflops) in REFERENCE.items():
        with torch.device("meta"):
            model = build_model(f"{name}.yaml")
        params = model.num_parameters()
        gflops = count_flops(model, default_imgsz(model))
        mark = "=" if params == ref_params else "DIFFERS"
        print(f"| {name} | {params:,} | {ref_params:,} {mark} | {gflops:.2f} | {ref_gflops:.2f} "
              f"| {100 * (gflops - ref_gflops) / ref_gflops:+.2f}% |")
    print(f"\n{len(REFERENCE)} models in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
