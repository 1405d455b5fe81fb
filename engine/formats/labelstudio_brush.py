"""Label Studio's brush run-length code (``brushlabels`` results' ``rle``): a list of bytes
decoded to the RGBA values of the brush layer, row by row; the reader traces its alpha."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["decode_brush"]


def decode_brush(rle: Sequence[int], expected: int | None = None) -> np.ndarray:
    """Label Studio's brush run-length code (a list of bytes) decoded to its flat values
    (RGBA of every pixel, row by row: reshape to ``[height, width, 4]``). A code that does not
    hold ``expected`` values (when given) is refused before it is expanded.

    The bits, most significant first: a 32-bit count of values, 5 bits of word size minus 1,
    four 4-bit run-length field sizes minus 1; then blocks, each a 1-bit flag, a 2-bit choice
    of field size and a length field (the block covers length + 1 values), followed by one
    word repeated over the block (flag 1) or one word per value (flag 0).
    """
    data = np.asarray(rle)
    if data.ndim != 1 or data.size < 7 or data.dtype.kind not in "iu" or (data < 0).any() \
            or (data > 255).any():
        raise ValueError("it must be a list of at least 7 bytes (0..255)")
    bits = np.unpackbits(data.astype(np.uint8))
    text = (bits + ord("0")).tobytes().decode("ascii")  # int(text[a:b], 2) reads a field
    count, word = int(text[:32], 2), int(text[32:37], 2) + 1
    if expected is not None and count != expected:
        raise ValueError(f"it holds {count} values, not {expected}")
    sizes = [int(text[37 + 4 * i:41 + 4 * i], 2) + 1 for i in range(4)]
    # runs gathered as (value, length) and expanded once: a brush has ~10^5 blocks, and
    # one numpy call per block would cost more than the decoding itself
    values: list[int] = []
    lengths: list[int] = []
    at, index, total = 53, 0, len(text)
    while index < count:
        size = sizes[int(text[at + 1:at + 3], 2)] if at + 3 <= total else total
        if at + 3 + size > total:
            raise ValueError("the code ends before its last run")
        repeat, run = text[at] == "1", int(text[at + 3:at + 3 + size], 2) + 1
        at += 3 + size
        run = min(run, count - index)
        if repeat:
            values.append(_field(text, at, word))
            lengths.append(run)
            at += word
        else:
            values.extend(_fields(bits, at, run, word))
            lengths.extend([1] * run)
            at += run * word
        index += run
    dtype = np.uint8 if word <= 8 else np.uint32
    return np.repeat(np.array(values, dtype), np.array(lengths, np.int64))


def _field(text: str, at: int, size: int) -> int:
    if at + size > len(text):
        raise ValueError("the code ends before its last run")
    return int(text[at:at + size], 2)


def _fields(bits: np.ndarray, at: int, count: int, size: int) -> list[int]:
    """``count`` consecutive ``size``-bit fields from bit ``at``, at numpy speed."""
    end = at + count * size
    if end > len(bits):
        raise ValueError("the code ends before its last run")
    block = bits[at:end].reshape(count, size).astype(np.uint64)
    return (block @ (np.uint64(1) << np.arange(size - 1, -1, -1, dtype=np.uint64))).tolist()
