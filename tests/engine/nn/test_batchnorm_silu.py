"""The fused training path of Conv's batch norm + SiLU matches the two torch modules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.nn.batchnorm_silu import batchnorm_silu, can_fuse
from engine.nn.blocks import Conv


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
