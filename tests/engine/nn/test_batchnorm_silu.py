"""The fused training path of Conv's batch norm + SiLU matches the two torch modules."""

from __future__ import annotations

import copy
import gc
import weakref

import pytest
import torch
from torch import nn

import engine.nn.batchnorm_silu
from engine.nn import build_model
from engine.nn.batchnorm_silu import FUSE_MIN_ELEMENTS, RecomputingConv2d, batchnorm_silu, can_fuse
from engine.nn.blocks import Conv


@pytest.fixture(autouse=True)
def fuse_small_tensors(request, monkeypatch):
    """The tests below use small tensors: let them take the fused path (the threshold has its
    own test)."""
    if "threshold" not in request.node.name:
        monkeypatch.setattr(engine.nn.batchnorm_silu, "FUSE_MIN_ELEMENTS", 0)


def test_the_fused_path_starts_at_the_threshold_and_smaller_tensors_take_the_modules() -> None:
    conv = Conv(4, 16, 1).train()
    side = int((FUSE_MIN_ELEMENTS // 16) ** 0.5)
    large = torch.randn(1, 16, side, side)
    small = torch.randn(1, 16, side, side - 1)
    assert large.numel() == FUSE_MIN_ELEMENTS and can_fuse(conv.bn, conv.act, large)
    assert not can_fuse(conv.bn, conv.act, small)
    out = conv(torch.randn(1, 4, side, side - 1))  # the block's plain path
    assert not hasattr(out, engine.nn.batchnorm_silu.SOURCE_ATTRIBUTE)
    assert hasattr(conv(torch.randn(1, 4, side, side)), engine.nn.batchnorm_silu.SOURCE_ATTRIBUTE)


def _pair(channels: int) -> tuple[nn.BatchNorm2d, nn.BatchNorm2d]:
    torch.manual_seed(0)
    first = nn.BatchNorm2d(channels, eps=1e-3, momentum=0.03)
    first.weight.data.uniform_(0.5, 1.5)
    first.bias.data.normal_()
    first.running_mean.normal_()
    second = nn.BatchNorm2d(channels, eps=1e-3, momentum=0.03)
    second.load_state_dict(first.state_dict())
    return first, second


@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_matches_modules_forward_backward_and_running_stats(channels_last: bool) -> None:
    reference_bn, fused_bn = _pair(8)
    x = torch.randn(4, 8, 12, 10) * 3 + 1
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x_ref, x_fused = x.clone().requires_grad_(), x.clone().requires_grad_()
    expected = nn.functional.silu(reference_bn(x_ref))
    assert can_fuse(fused_bn, nn.SiLU(), x_fused)
    got = batchnorm_silu(fused_bn, x_fused)
    grad = torch.randn_like(expected)
    expected.backward(grad)
    got.backward(grad)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(x_fused.grad, x_ref.grad)
    torch.testing.assert_close(fused_bn.weight.grad, reference_bn.weight.grad)
    torch.testing.assert_close(fused_bn.bias.grad, reference_bn.bias.grad)
    torch.testing.assert_close(fused_bn.running_mean, reference_bn.running_mean)
    torch.testing.assert_close(fused_bn.running_var, reference_bn.running_var)
    assert int(fused_bn.num_batches_tracked) == int(reference_bn.num_batches_tracked) == 1
    assert got.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_fused_keeps_only_the_batch_norm_input_for_backward() -> None:
    bn = nn.BatchNorm2d(8)
    x = torch.randn(2, 8, 16, 16, requires_grad=True)
    saved: list[int] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        batchnorm_silu(bn, x)
    assert sum(n for n in saved if n == x.numel()) == x.numel()  # one full-size tensor only


def test_conv_uses_the_plain_modules_where_the_fused_path_does_not_apply() -> None:
    conv = Conv(3, 8, 3)
    x = torch.randn(2, 3, 8, 8)
    conv.eval()
    assert not can_fuse(conv.bn, conv.act, x)  # eval: running statistics
    conv.train()
    with torch.no_grad():
        assert not can_fuse(conv.bn, conv.act, x)  # nothing to keep for backward
    assert not can_fuse(conv.bn, nn.ReLU(), x)
    assert not can_fuse(conv.bn, conv.act, x.double())
    assert can_fuse(conv.bn, conv.act, x)


def test_conv_training_step_matches_unfused_conv() -> None:
    torch.manual_seed(1)
    fused = Conv(3, 8, 3)
    plain = Conv(3, 8, 3)
    plain.load_state_dict(fused.state_dict())
    x = torch.randn(2, 3, 8, 8)
    out_fused = fused(x)
    out_plain = plain.act(plain.bn(plain.conv(x)))
    out_fused.square().sum().backward()
    out_plain.square().sum().backward()
    torch.testing.assert_close(out_fused, out_plain)
    torch.testing.assert_close(fused.conv.weight.grad, plain.conv.weight.grad)
    torch.testing.assert_close(fused.bn.running_var, plain.bn.running_var)


def test_a_conv_on_a_fused_output_keeps_nothing_of_its_input() -> None:
    torch.manual_seed(2)
    first, second, head = Conv(3, 8, 3), Conv(8, 8, 3), RecomputingConv2d(8, 4, 1)
    x = torch.randn(2, 3, 16, 16)
    for consumer in (second, head):
        middle = first(x)
        alive = weakref.ref(middle)
        out = consumer(middle)
        del middle
        gc.collect()
        assert alive() is None  # neither consumer's backward holds the 8-channel output
        out.square().sum().backward()  # ... and backward still runs, recomputing it
    plain = first(x)
    alive = weakref.ref(plain)
    out = nn.functional.conv2d(plain, second.conv.weight, padding=1)
    del plain
    gc.collect()
    assert alive() is not None  # a plain convolution keeps it: the check above can fail


@pytest.mark.parametrize("config", ["yolov8n-pose.yaml", "yolov8n-seg.yaml"])
def test_recomputed_inputs_give_the_same_gradients(config: str, monkeypatch) -> None:
    torch.manual_seed(0)
    ours = build_model(config).train().to(memory_format=torch.channels_last)
    for module in ours.modules():  # trained-looking norms: scale and shift round differently
        if isinstance(module, nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0.0, 0.5)
    plain = copy.deepcopy(ours)
    x = torch.rand(2, 3, 64, 64).contiguous(memory_format=torch.channels_last)

    def backward(model: nn.Module) -> None:
        outputs: list[torch.Tensor] = []

        def collect(item) -> None:
            if isinstance(item, torch.Tensor):
                outputs.append(item)
            elif isinstance(item, list | tuple):
                for part in item:
                    collect(part)

        collect(model(x))
        sum(out.square().mean() for out in outputs).backward()

    backward(ours)
    monkeypatch.setattr(RecomputingConv2d, "forward", nn.Conv2d.forward)  # keeps its input
    backward(plain)
    pairs = [
        (name, a.grad, b.grad)
        for (name, a), b in zip(ours.named_parameters(), plain.parameters(), strict=True)
        if a.grad is not None
    ]
    assert pairs
    for name, got, expected in pairs:  # float32 rounding of the recomputed input, no more
        scale = float(expected.abs().max())
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6 * scale, msg=name)


def test_hooks_on_the_convolution_still_run_in_training() -> None:
    block = Conv(4, 4, 3)
    seen: list[tuple[int, ...]] = []
    block.conv.register_forward_pre_hook(lambda _m, inputs: seen.append(tuple(inputs[0].shape)))
    block(Conv(3, 4, 3)(torch.randn(1, 3, 8, 8))).sum().backward()
    assert seen == [(1, 4, 8, 8)]
