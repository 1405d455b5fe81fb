"""Non-maximum suppression in plain torch (no torchvision), with the reference's semantics.

``nms`` is exact greedy NMS: boxes are visited by descending score (ties: lower index first),
and a box is dropped when its IoU with an already kept box is greater than the threshold.
It is fast without a compiled kernel because the greedy pass never walks boxes one by one
in Python: score-ordered spans of boxes are tested against every box kept so far in one IoU
computation; the survivors go in blocks whose greedy order is resolved on a 0/1 suppression
matrix by a fixed-point iteration of matrix-vector products (see ``_resolve_block``). Work is
about ``n x kept`` plus ``survivors x block`` instead of ``n x n``; it stops once ``max_keep``
boxes are kept, and the full score sort is skipped when the best ``HEAD_SIZE`` boxes suffice.
Measured in ``benchmarks/nms.py``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch

from ..utils.boxes import xywh_to_xyxy

BLOCK_SIZE = 512
"""Candidates per block: one block covers the usual few hundred boxes left after ``conf``."""
MAX_SPAN = 4096
"""Largest span of candidates tested against the kept boxes at once (spans grow while almost
all of a span is suppressed; survivors still go through blocks of ``BLOCK_SIZE``)."""
HEAD_SIZE = 1024
"""Best-scored boxes sorted first; the rest are sorted only if NMS gets that far."""
_FIXED_POINT_ROUNDS = 24
"""Fixed-point rounds before ``_resolve_block`` switches to the sequential walk."""
_TINY = torch.finfo(torch.float32).tiny


def nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    iou_threshold: float,
    max_keep: int | None = None,
) -> torch.Tensor:
    """Indices (int64, by descending score) of the boxes greedy NMS keeps.

    ``boxes`` are xyxy ``[n, 4]``, ``scores`` ``[n]``. A box is suppressed by a kept box when
    their IoU is greater than ``iou_threshold``; a pair whose union is empty never suppresses.
    ``max_keep`` stops after that many keeps: the result equals the full result's head.
    """
    count = boxes.shape[0]
    limit = count if max_keep is None else min(max_keep, count)
    dtype = torch.float64 if boxes.dtype == torch.float64 else torch.float32
    kept = _Kept.empty(dtype, boxes.device)
    if count == 0 or limit <= 0:
        return kept.index
    threshold = _round_down(iou_threshold, dtype)
    for order in _score_order(scores, HEAD_SIZE):
        columns = boxes[order].to(dtype).T.contiguous()  # [4, n]: x1, y1, x2, y2 by score
        areas = (columns[2] - columns[0]) * (columns[3] - columns[1])
        start, size = 0, BLOCK_SIZE
        while start < len(order):
            span = slice(start, start + size)
            survivors = start + _unsuppressed(columns[:, span], areas[span], kept, threshold)
            tested = len(kept.index)  # survivors need testing only against later keeps
            for block in survivors.split(BLOCK_SIZE):
                fresh = kept.since(tested)
                new = block[_block_keeps(columns[:, block], areas[block], fresh, threshold)]
                kept = kept.extend(columns[:, new], areas[new], order[new])
                if len(kept.index) >= limit:
                    return kept.index[:limit]
            # where nearly everything is suppressed, spans grow: fewer steps, each cheap
            sparse = len(survivors) * 8 <= min(size, len(order) - start)
            start, size = start + size, min(2 * size, MAX_SPAN) if sparse else BLOCK_SIZE
    return kept.index


class _Kept(NamedTuple):
    """The boxes kept so far: ``[4, k]`` coordinates, areas ``[k]`` and input indices ``[k]``."""

    columns: torch.Tensor
    areas: torch.Tensor
    index: torch.Tensor

    @classmethod
    def empty(cls, dtype: torch.dtype, device: torch.device) -> _Kept:
        columns = torch.zeros(4, 0, dtype=dtype, device=device)
        return cls(columns, columns[0], torch.zeros(0, dtype=torch.long, device=device))

    def since(self, start: int) -> _Kept:
        return _Kept(self.columns[:, start:], self.areas[start:], self.index[start:])

    def extend(self, columns: torch.Tensor, areas: torch.Tensor, index: torch.Tensor) -> _Kept:
        return _Kept(
            torch.cat((self.columns, columns), 1),
            torch.cat((self.areas, areas)),
            torch.cat((self.index, index)),
        )


def _round_down(value: float, dtype: torch.dtype) -> float:
    """The largest ``dtype`` number <= ``value``: ``iou > it`` in ``dtype`` then equals
    torchvision's ``iou > value`` (a float IoU against a double threshold)."""
    rounded = torch.tensor(value, dtype=dtype)
    if rounded.item() > value:
        rounded = torch.nextafter(rounded, torch.tensor(-math.inf, dtype=dtype))
    return rounded.item()


def _score_order(scores: torch.Tensor, head: int) -> Iterator[torch.Tensor]:
    """The stable descending-score order in two parts: about ``head`` best, then the rest.

    NMS with ``max_keep`` rarely looks past the head, so the full sort is skipped then. Ties
    with the head's last score all join the head, keeping the order exactly stable.
    """
    if len(scores) <= 2 * head:
        yield torch.sort(scores, descending=True, stable=True).indices
        return
    cutoff = torch.topk(scores, head, sorted=False).values.min()
    in_head = scores >= cutoff
    for part in (in_head, ~in_head):
        index = torch.nonzero(part).squeeze(1)
        yield index[torch.sort(scores[index], descending=True, stable=True).indices]


def _unsuppressed(
    boxes: torch.Tensor, areas: torch.Tensor, kept: _Kept, iou_threshold: float
) -> torch.Tensor:
    """Positions of the ``[4, b]`` boxes that no kept box suppresses."""
    if len(kept.index) == 0:
        return torch.arange(boxes.shape[1], device=boxes.device)
    overlap = _iou(boxes, areas, kept.columns, kept.areas).amax(1)
    return torch.nonzero(overlap <= iou_threshold).squeeze(1)


def _block_keeps(
    block: torch.Tensor, block_areas: torch.Tensor, kept: _Kept, iou_threshold: float
) -> torch.Tensor:
    """Positions in a score-ordered block (``[4, b]`` coordinates) of the boxes greedy NMS keeps,
    given the boxes kept before it."""
    alive = _unsuppressed(block, block_areas, kept, iou_threshold)
    if len(alive) == 0:
        return alive
    block, block_areas = block[:, alive], block_areas[alive]
    # IoU - threshold is exact near the threshold (Sterbenz), so its sign is the comparison;
    # float arithmetic instead of bool ops, which are several times slower on CPU here
    suppressing = _iou(block, block_areas, block, block_areas).sub_(iou_threshold)
    suppressing.clamp_(min=0).sign_().mul_(_upper_mask(len(alive), suppressing))
    return alive[_resolve_block(suppressing)]


def _iou(a: torch.Tensor, area_a: torch.Tensor, b: torch.Tensor, area_b: torch.Tensor):
    """``[len(a), len(b)]`` IoU of boxes given as ``[4, n]`` coordinate rows.

    torchvision's arithmetic, so that thresholding agrees to the last bit; an empty union
    (two zero-area boxes) gives 0 instead of NaN.
    """
    width = torch.minimum(a[2, :, None], b[2]).sub_(torch.maximum(a[0, :, None], b[0]))
    height = torch.minimum(a[3, :, None], b[3]).sub_(torch.maximum(a[1, :, None], b[1]))
    inter = width.clamp_(min=0).mul_(height.clamp_(min=0))
    union = (area_a[:, None] + area_b).sub_(inter).clamp_(min=_TINY)
    return inter.div_(union)


@functools.lru_cache(maxsize=4)
def _upper_triangle(size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """1 above the diagonal, 0 elsewhere (built once: ``triu_`` costs as much as an IoU)."""
    return torch.ones(size, size, dtype=dtype, device=device).triu_(1)


def _upper_mask(size: int, like: torch.Tensor) -> torch.Tensor:
    return _upper_triangle(BLOCK_SIZE, like.dtype, like.device)[:size, :size]


def _resolve_block(suppressing: torch.Tensor) -> torch.Tensor:
    """Greedy keep mask of score-ordered boxes; ``suppressing[i, j]`` is 1 when ``i < j`` and
    box ``i`` would suppress box ``j`` (IoU over the threshold), else 0.

    The greedy result is the unique ``keep`` with ``keep[j] = not any(keep[i] and
    suppressing[i, j])``. Iterating that equation from "keep all" settles at least one more box
    per round and in practice converges in a handful (the longest chain of suppressions); one
    round is a matrix-vector product. Long chains fall back to a walk over the suppressing pairs.
    """
    keep = torch.ones(suppressing.shape[0], dtype=torch.bool, device=suppressing.device)
    for _ in range(_FIXED_POINT_ROUNDS):
        update = torch.mv(suppressing.T, keep.to(suppressing.dtype)) == 0
        if torch.equal(update, keep):
            return keep
        keep = update
    return _resolve_sequentially(suppressing)


def _resolve_sequentially(suppressing: torch.Tensor) -> torch.Tensor:
    """The same greedy keep mask from one pass over the suppressing pairs in row order."""
    suppressed = [False] * suppressing.shape[0]
    for i, j in torch.nonzero(suppressing).tolist():
        if not suppressed[i]:  # row i is final: every pair (k, i) with k < i came before
            suppressed[j] = True
    return ~torch.tensor(suppressed, dtype=torch.bool, device=suppressing.device)


def non_max_suppression(
    prediction: torch.Tensor,
    conf: float = 0.25,
    iou: float = 0.7,
    classes: Sequence[int] | None = None,
    agnostic: bool = False,
    max_det: int = 300,
    num_classes: int = 0,
    max_nms: int = 30000,
    max_wh: int = 7680,
    multi_label: bool = False,
) -> list[torch.Tensor]:
    """Per image ``[n, 6 + extra]`` rows (x1, y1, x2, y2, conf, cls, extra...), best first.

    ``prediction`` is a head's eval output ``[N, 4 + nc + extra, A]``: xywh boxes in input
    pixels, ``nc`` class scores, then extra columns (mask coefficients, keypoints) carried
    along. ``num_classes=0`` means every column after the box is a class score. Each box keeps
    its best class only; boxes scoring ``<= conf`` and classes outside ``classes`` are dropped,
    at most ``max_nms`` of the best go into NMS, which is per class (boxes shifted by
    ``class * max_wh``) unless ``agnostic``, and at most ``max_det`` rows come out.

    ``multi_label`` (what validation uses, as the reference does) keeps every class scoring
    above ``conf`` as its own candidate, so a box whose best class is wrong can still count
    for the right one.
    """
    if not 0 <= conf <= 1 or not 0 <= iou <= 1:
        raise ValueError(f"conf and iou must lie in [0, 1], got conf={conf}, iou={iou}")
    num_classes = num_classes or prediction.shape[1] - 4
    allowed = None if classes is None else torch.tensor(list(classes), device=prediction.device)
    select = _every_class_above if multi_label else _best_class_above
    return [
        _suppress_candidates(
            image,
            *select(image[4 : 4 + num_classes], conf),
            num_classes,
            iou,
            allowed,
            agnostic,
            max_det,
            max_nms,
            max_wh,
        )
        for image in prediction
    ]


def _best_class_above(scores: torch.Tensor, conf: float):
    """(anchors, scores, classes) of the anchors whose best class scores above ``conf``.

    Only the passing anchors are gathered; the extra columns are gathered later for the kept
    rows alone.
    """
    best_all = scores.amax(0)
    anchors = torch.nonzero(best_all > conf).squeeze(1)
    best = best_all[anchors]
    labels = _best_class(scores if len(anchors) == len(best_all) else scores[:, anchors], best)
    return anchors, best, labels


def _every_class_above(scores: torch.Tensor, conf: float):
    """(anchors, scores, classes): one candidate per (anchor, class) scoring above ``conf``."""
    labels, anchors = torch.nonzero(scores > conf).unbind(1)
    return anchors, scores[labels, anchors], labels


def _suppress_candidates(
    candidates: torch.Tensor,
    anchors: torch.Tensor,
    best: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    iou: float,
    allowed: torch.Tensor | None,
    agnostic: bool,
    max_det: int,
    max_nms: int,
    max_wh: int,
) -> torch.Tensor:
    """Filter by ``allowed`` classes, cap at ``max_nms``, suppress, gather the output rows."""
    if allowed is not None:
        wanted = (labels[:, None] == allowed).any(1)
        anchors, best, labels = anchors[wanted], best[wanted], labels[wanted]
    if len(anchors) > max_nms:
        top = torch.sort(best, descending=True, stable=True).indices[:max_nms]
        anchors, best, labels = anchors[top], best[top], labels[top]
    boxes = xywh_to_xyxy(candidates[:4, anchors].T)
    offsets = labels[:, None].to(boxes.dtype) * (0 if agnostic else max_wh)
    keep = nms(boxes + offsets, best, iou, max_keep=max_det)
    extras = candidates[4 + num_classes :, anchors[keep]].T
    return torch.cat((boxes[keep], best[keep, None], labels[keep, None].to(boxes.dtype), extras), 1)


def _best_class(scores: torch.Tensor, best: torch.Tensor) -> torch.Tensor:
    """Index of the first maximum of each column of ``scores [nc, m]`` whose maxima are ``best``.

    Same answer as ``scores.max(0).indices`` at less than half the cost (torch's indexed
    reductions are slow on CPU): mark the maxima with 1, weight row ``k`` by ``nc - k``, amax.
    """
    rows = scores.shape[0]
    weights = torch.arange(rows, 0, -1, dtype=scores.dtype, device=scores.device)[:, None]
    hits = (scores - best).sign_().add_(1).mul_(weights)
    return (rows - hits.amax(0)).long()
