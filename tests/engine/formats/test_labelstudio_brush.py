"""Label Studio's brush run-length code: the bytes of Label Studio's own test decode to its
values, and codes written by a second, independent encoder decode to what was coded."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.formats.labelstudio_brush import decode_brush

# label-studio-converter tests/test_brush.py::test_rle_encoding: 18 values and the bytes
# Label Studio's encoder writes for them (a literal block and a repeated run)
BRUSH_VALUES = [1, 1, 1, 1, 2, 3, 5, 6, 7, 8, 4, 4, 4, 4, 4, 4, 4, 4]
BRUSH_CODE = [0, 0, 0, 18, 57, 27, 252, 96, 32, 1, 0, 6, 0, 40, 0, 192, 3, 128, 17, 56, 32]


def brush_code(values: np.ndarray, literal: bool = False) -> list[int]:
    """Label Studio's brush code for ``values``: repeated runs, or (``literal``) blocks of
    values one by one, each with a 16-bit length, which the format allows. A second writer
    of the code, independent of Label Studio's, for codes its own test does not give."""
    fields = [f"{len(values):032b}", f"{8 - 1:05b}", *(f"{s - 1:04b}" for s in (3, 4, 8, 16))]
    if literal:
        for start in range(0, len(values), 1 << 16):
            block = values[start:start + (1 << 16)]
            fields.append(f"0{3:02b}{len(block) - 1:016b}")
            fields.extend(f"{int(v):08b}" for v in block)
    starts = np.flatnonzero(np.diff(values, prepend=-1) != 0).tolist() + [len(values)]
    for start, end in zip(starts, starts[1:], strict=False):
        length = end - start
        while length and not literal:
            run = min(length, 1 << 16)
            fields.append(f"1{3:02b}{run - 1:016b}{int(values[start]):08b}")
            length -= run
    bits = "".join(fields)
    bits += "0" * (-len(bits) % 8)
    return [int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)]


def test_the_brush_code_of_label_studios_own_test_decodes_to_its_values():
    assert decode_brush(BRUSH_CODE).tolist() == BRUSH_VALUES


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=1, max_size=300), st.booleans())
def test_brush_codes_decode_to_what_was_coded(values, literal):
    array = np.array(values, np.uint8)
    assert decode_brush(brush_code(array, literal)).tolist() == values
