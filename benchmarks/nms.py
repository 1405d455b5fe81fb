"""NMS latency on a synthetic yolov8n-seg head output at 640 (8,400 anchors, 80 classes, 32 mask
coefficients), CPU.

A randomly initialised head does not give realistic score distributions, so the output is
synthesised: ~20 objects, each predicted by ~15 jittered boxes with scores over 0.25 (about
300 candidates pass ``conf=0.25``), and small low-scoring boxes at every other anchor. The
worst case lifts every score over 0.25 so that all 8,400 candidates reach NMS (class-aware,
``max_det=300``); in the "crowded" variant every anchor predicts one of the 20 objects, so
few boxes survive and NMS runs through all candidates. Prints medians in milliseconds:
``non_max_suppression`` end to end and the ``nms`` core alone, plus the all-pass core without
``max_keep`` (the full greedy pass keeps ~8,100 boxes: quadratic work, and never what
``non_max_suppression`` asks for).

Run: .venv/bin/python benchmarks/nms.py [--runs 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from engine.process.threads import configure_threads

configure_threads()  # as the yolo command does, before torch loads

import torch  # noqa: E402

from engine.predict.nms import nms, non_max_suppression  # noqa: E402
from engine.utils.boxes import xywh_to_xyxy  # noqa: E402

ANCHORS, CLASSES, MASKS, SIZE = 8400, 80, 32, 640


def synthetic_output(objects: int = 20, per_object: int = 15, seed: int = 0) -> torch.Tensor:
    """``[1, 4 + 80 + 32, 8400]``: clustered confident boxes among low-scoring background."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(*shape: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        return torch.rand(*shape, generator=generator) * (high - low) + low

    background = ANCHORS - objects * per_object
    centres = uniform(background, 2, high=SIZE)
    sizes = uniform(background, 2, low=8, high=96)
    scores = uniform(background, CLASSES, high=0.2)
    object_centres = uniform(objects, 2, low=60, high=SIZE - 60)
    object_sizes = uniform(objects, 2, low=24, high=240)
    noise = 0.06 * torch.randn(objects, per_object, 4, generator=generator)
    cluster_centres = object_centres[:, None] + object_sizes[:, None] * noise[..., :2]
    cluster_sizes = object_sizes[:, None] * (1 + noise[..., 2:])
    cluster_centres, cluster_sizes = cluster_centres.reshape(-1, 2), cluster_sizes.reshape(-1, 2)
    cluster_scores = uniform(objects * per_object, CLASSES, high=0.05)
    labels = torch.randint(0, CLASSES, (objects,), generator=generator).repeat_interleave(
        per_object
    )
    cluster_scores[torch.arange(len(labels)), labels] = uniform(len(labels), low=0.26, high=0.95)
    boxes = torch.cat(
        (torch.cat((centres, sizes), 1), torch.cat((cluster_centres, cluster_sizes), 1))
    )
    output = torch.cat((boxes, torch.cat((scores, cluster_scores)), torch.randn(ANCHORS, MASKS)), 1)
    shuffled = output[torch.randperm(ANCHORS, generator=generator)]
    return shuffled.T.unsqueeze(0).contiguous()


def all_pass(output: torch.Tensor) -> torch.Tensor:
    """The same output with every anchor's best score lifted over 0.25."""
    lifted = output.clone()
    lifted[:, 4 : 4 + CLASSES] = lifted[:, 4 : 4 + CLASSES] * 0.7 + 0.26
    return lifted


def median_ms(function: Callable[[], object], runs: int) -> float:
    for _ in range(max(5, runs // 10)):
        function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def core_inputs(output: torch.Tensor, conf: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-offset boxes and scores as ``non_max_suppression`` hands them to ``nms``."""
    candidates = output[0].T
    best, label = candidates[:, 4 : 4 + CLASSES].max(1)
    passing = best > conf
    boxes = xywh_to_xyxy(candidates[passing, :4]) + label[passing, None] * 7680.0
    return boxes, best[passing]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    runs = args.runs
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {runs} runs")
    cases = (
        ("typical", synthetic_output()),
        ("all-pass", all_pass(synthetic_output())),
        ("crowded", all_pass(synthetic_output(per_object=ANCHORS // 20))),
    )
    for name, output in cases:
        boxes, scores = core_inputs(output, 0.25)
        kept = non_max_suppression(output, num_classes=CLASSES)[0].shape[0]
        full = median_ms(lambda o=output: non_max_suppression(o, num_classes=CLASSES), runs)
        core = median_ms(lambda b=boxes, s=scores: nms(b, s, 0.7, max_keep=300), runs)
        line = (
            f"{name:>8}: {len(scores):5d} of {ANCHORS} pass conf 0.25, {kept:3d} kept | "
            f"non_max_suppression {full:6.2f} ms | nms core {core:6.2f} ms"
        )
        if name == "all-pass":
            unbounded = median_ms(lambda b=boxes, s=scores: nms(b, s, 0.7), max(10, runs // 10))
            line += (
                f" | core without max_keep ({len(nms(boxes, scores, 0.7))} kept) {unbounded:.2f} ms"
            )
        print(line)


if __name__ == "__main__":
    main()
