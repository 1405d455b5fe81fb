import torch
from hypothesis import given
from hypothesis import strategies as st

from engine.nn.blocks import C2, DFL, SPPF, Bottleneck, C2f, Concat, Conv, Proto
from engine.nn.builder import make_divisible, scaled_repeats
from engine.nn.heads import distances_to_boxes, make_anchors


def test_conv_keeps_size_at_stride_one_and_halves_at_two():
    x = torch.rand(2, 3, 16, 16)
    assert Conv(3, 8, 3, 1)(x).shape == (2, 8, 16, 16)
    assert Conv(3, 8, 3, 2)(x).shape == (2, 8, 8, 8)
    conv = Conv(3, 8, 3)
    assert conv.conv.bias is None and isinstance(conv.act, torch.nn.SiLU)


def test_bottleneck_adds_residual_only_when_shapes_match():
    assert Bottleneck(8, 8, shortcut=True).add
    assert not Bottleneck(8, 16, shortcut=True).add
    assert not Bottleneck(8, 8, shortcut=False).add


def test_c2f_keeps_every_bottleneck_output():
    block = C2f(16, 32, n=3, shortcut=True)
    assert block.cv2.conv.in_channels == (2 + 3) * 16
    assert block(torch.rand(1, 16, 8, 8)).shape == (1, 32, 8, 8)


def test_c2_and_sppf_and_concat_shapes():
    x = torch.rand(1, 16, 8, 8)
    assert C2(16, 32, n=2)(x).shape == (1, 32, 8, 8)
    assert SPPF(16, 24)(x).shape == (1, 24, 8, 8)
    assert Concat(1)([x, x]).shape == (1, 32, 8, 8)


def test_proto_doubles_resolution():
    assert Proto(16, 8, 4)(torch.rand(1, 16, 10, 10)).shape == (1, 4, 20, 20)


def test_dfl_returns_expected_bin_index():
    dfl = DFL(16)
    logits = torch.full((1, 64, 1), -1e4)
    for side, peak in enumerate((0, 3, 7, 15)):
        logits[0, side * 16 + peak, 0] = 1e4
    assert dfl(logits).flatten().tolist() == [0.0, 3.0, 7.0, 15.0]


def test_make_anchors_are_cell_centres_per_level():
    features = [torch.zeros(1, 1, 2, 3), torch.zeros(1, 1, 1, 1)]
    points, strides = make_anchors(features, (8, 16))
    assert points[:3].tolist() == [[0.5, 0.5], [1.5, 0.5], [2.5, 0.5]]
    assert points[-1].tolist() == [0.5, 0.5]
    assert strides.flatten().tolist() == [8.0] * 6 + [16.0]


@given(
    st.lists(st.floats(0, 100), min_size=4, max_size=4),
    st.tuples(st.floats(-50, 50), st.floats(-50, 50)),
)
def test_distances_to_boxes_are_centred_and_sized(distances, anchor):
    left, top, right, bottom = distances
    box = distances_to_boxes(
        torch.tensor([distances], dtype=torch.float64),
        torch.tensor([anchor], dtype=torch.float64),
        dim=1,
    )[0]
    assert torch.allclose(
        box,
        torch.tensor(
            [
                anchor[0] + (right - left) / 2,
                anchor[1] + (bottom - top) / 2,
                left + right,
                top + bottom,
            ],
            dtype=torch.float64,
        ),
    )


@given(st.floats(1, 5000))
def test_make_divisible_rounds_up_to_multiple_of_eight(value):
    result = make_divisible(value, 8)
    assert result % 8 == 0 and value <= result < value + 8


def test_scaled_repeats_follow_the_reference_rounding():
    assert [scaled_repeats(n, 0.33) for n in (1, 3, 6)] == [1, 1, 2]
    assert [scaled_repeats(n, 0.67) for n in (1, 3, 6)] == [1, 2, 4]
