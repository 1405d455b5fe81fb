"""Import the three reference checkpoints and print the largest output differences.

Run: .venv/bin/python benchmarks/official_import.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from engine import YOLO

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ultralytics"


def main() -> None:
    for meta_path in sorted(FIXTURES.glob("*.json")):
        meta = json.loads(meta_path.read_text())
        start = time.perf_counter()
        model = YOLO(FIXTURES / meta["checkpoint"])
        load_s = time.perf_counter() - start
        x = torch.from_numpy(np.load(FIXTURES / meta["input"]))
        with torch.no_grad():
            first, rest = model.model.eval()(x)
        ours = [first] + ([rest] if model.task == "classify" else [])
        ours += [rest[2]] if model.task == "segment" else []
        diffs = [
            float(np.abs(o.numpy() - np.load(FIXTURES / ref["file"])).max())
            for o, ref in zip(ours, meta["outputs"], strict=True)
        ]
        print(
            f"{meta['checkpoint']}: load {load_s * 1000:.0f} ms, max abs diff per output "
            + ", ".join(f"{d:.2e}" for d in diffs)
        )


if __name__ == "__main__":
    main()
