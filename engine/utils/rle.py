"""COCO run-length encoding (RLE) of binary masks: encode, decode, area and bounding box.

The format, as the COCO tools define it:

- pixels are read in **column-major** (Fortran) order: down the first column, then the next;
- ``counts`` alternate between runs of 0s and runs of 1s and always **start with a run of 0s**
  (which is 0 long when the first pixel is set); an image of no pixels has ``counts == [0]``;
- the *compressed* form turns the counts into an ASCII string: from the fourth count on, each
  count is stored as its difference from the count two places before; every value is then
  written as signed 5-bit groups, least significant first, each group as ``chr(48 + bits)``
  with bit 0x20 set on every group but the last (so ``"0"`` is 0 and ``"1"`` is 1).

Everything is vectorised with numpy, so encoding a 640×640 mask costs about a millisecond.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

_GROUP_BITS = 5
_MAX_GROUPS = 13  # 13 * 5 bits cover a signed 64-bit value
_OFFSET = 48  # ord("0")
_MORE = 0x20
_SIGN = 0x10
_LOW_BITS = 0x1F


def rle_counts(mask: np.ndarray) -> np.ndarray:
    """The uncompressed counts (int64) of a 2-D mask; any non-zero pixel is foreground."""
    pixels = np.asarray(mask)
    if pixels.ndim != 2:
        raise ValueError(f"mask must be 2-D [H, W], got shape {list(pixels.shape)}")
    flat = pixels.ravel(order="F").astype(bool)
    if flat.size == 0:
        return np.zeros(1, np.int64)
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], edges, [flat.size]))
    counts = np.diff(bounds).astype(np.int64)
    return np.concatenate(([0], counts)) if flat[0] else counts


def counts_to_string(counts: np.ndarray | list[int]) -> str:
    """Compress uncompressed counts into COCO's ASCII string form."""
    values = np.asarray(counts, np.int64).copy()
    if values.ndim != 1:
        raise ValueError("counts must be a flat sequence of run lengths")
    if values.size > 3:
        values[3:] -= np.asarray(counts, np.int64)[1:-2]
    # how many 5-bit groups each value needs as a signed number: -2^(5k-1) <= v < 2^(5k-1)
    groups = np.ones(values.size, np.int64)
    for count in range(1, _MAX_GROUPS):
        limit = 1 << (_GROUP_BITS * count - 1)
        groups += (values < -limit) | (values >= limit)
    shifts = _GROUP_BITS * np.arange(_MAX_GROUPS, dtype=np.int64)
    chunks = (values[:, None] >> shifts[None, :]) & _LOW_BITS
    position = np.arange(_MAX_GROUPS)[None, :]
    chunks |= np.where(position < groups[:, None] - 1, _MORE, 0)
    chunks += _OFFSET
    kept = chunks[position < groups[:, None]]
    return kept.astype(np.uint8).tobytes().decode("ascii")


def string_to_counts(text: str | bytes) -> np.ndarray:
    """Uncompressed counts (int64) from COCO's ASCII string form."""
    raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
    codes = np.frombuffer(raw, np.uint8).astype(np.int64) - _OFFSET
    if codes.size == 0:
        return np.zeros(0, np.int64)
    if codes.min() < 0 or codes.max() > _MORE | _LOW_BITS or codes[-1] & _MORE:
        raise ValueError(f"not a COCO RLE string: {raw[:40]!r}")
    last = (codes & _MORE) == 0
    starts = np.flatnonzero(np.concatenate(([True], last[:-1])))
    value_index = np.cumsum(np.concatenate(([0], last[:-1]))).astype(np.int64)
    position = np.arange(codes.size) - starts[value_index]
    parts = (codes & _LOW_BITS) << (_GROUP_BITS * position)
    values = np.bitwise_or.reduceat(parts, starts)
    group_counts = np.diff(np.append(starts, codes.size))
    negative = (codes[last] & _SIGN) != 0
    values[negative] -= np.left_shift(1, _GROUP_BITS * group_counts[negative])
    return _undo_deltas(values)


def _undo_deltas(values: np.ndarray) -> np.ndarray:
    """counts[i] = values[i] + counts[i - 2] for i >= 3: two running sums, odd and even."""
    counts = values.copy()
    counts[1::2] = np.cumsum(values[1::2])
    if counts.size > 2:
        counts[2::2] = np.cumsum(values[2::2])
    return counts


def encode(mask: np.ndarray, *, compressed: bool = True) -> dict[str, Any]:
    """COCO RLE of a 2-D mask: ``{"size": [H, W], "counts": str | list[int]}``.

    ``compressed`` gives the ASCII string (as ``str``, ready for JSON; pycocotools hands out the
    same characters as ``bytes``), otherwise the list of run lengths.
    """
    counts = rle_counts(mask)
    height, width = np.asarray(mask).shape
    value: str | list[int] = counts_to_string(counts) if compressed else counts.tolist()
    return {"size": [int(height), int(width)], "counts": value}


def _counts_of(rle: Mapping[str, Any]) -> tuple[int, int, np.ndarray]:
    try:
        height, width = (int(side) for side in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"an RLE needs 'size' [H, W] and 'counts', got {rle!r:.80}") from exc
    if isinstance(counts, str | bytes | bytearray):
        values = string_to_counts(counts)
    else:
        values = np.asarray(counts, np.int64).reshape(-1)
    if values.size and values.min() < 0:
        raise ValueError("an RLE run length is negative")
    if int(values.sum()) != height * width:
        raise ValueError(
            f"RLE runs cover {int(values.sum())} pixels, the size {height}x{width} "
            f"holds {height * width}"
        )
    return height, width, values


def decode(rle: Mapping[str, Any]) -> np.ndarray:
    """The [H, W] uint8 mask (0/1) of a COCO RLE, compressed or not."""
    height, width, counts = _counts_of(rle)
    states = np.arange(counts.size, dtype=np.int64) % 2
    flat = np.repeat(states.astype(np.uint8), counts)
    return flat.reshape((height, width), order="F")


def area(rle: Mapping[str, Any]) -> int:
    """Foreground pixel count of a COCO RLE."""
    return int(_counts_of(rle)[2][1::2].sum())


def to_bbox(rle: Mapping[str, Any]) -> list[float]:
    """Tight ``[x, y, w, h]`` box of the foreground (``[0, 0, 0, 0]`` when empty), like COCO's."""
    height, _, counts = _counts_of(rle)
    ends = np.cumsum(counts)
    run_lengths, run_ends = counts[1::2], ends[1::2]
    keep = run_lengths > 0
    if not keep.any():
        return [0.0, 0.0, 0.0, 0.0]
    first = run_ends[keep] - run_lengths[keep]
    last = run_ends[keep] - 1
    first_col, first_row = np.divmod(first, height)
    last_col, last_row = np.divmod(last, height)
    wraps = (last_col > first_col).any()  # a run over a column edge covers rows 0 and H-1
    top = 0 if wraps else int(first_row.min())
    bottom = height - 1 if wraps else int(last_row.max())
    left, right = int(first_col.min()), int(last_col.max())
    return [float(left), float(top), float(right - left + 1), float(bottom - top + 1)]
