"""Recomputed layers give the same outputs, gradients and batch-norm state as plain ones."""

from __future__ import annotations

import copy

import torch

from engine.nn import build_model
from engine.nn.recompute import recomputed


def _step(model, x):
    model.train()
    out = model(x)
    levels, coefficients, prototypes = out
    loss = sum(level.square().mean() for level in levels)
    loss = loss + coefficients.square().mean() + prototypes.square().mean()
    loss.backward()
    return loss.detach()


def test_recomputing_the_stem_and_prototypes_changes_nothing_but_memory():
    torch.manual_seed(0)
    plain = build_model("yolov8n-seg.yaml", num_classes=2)
    lean = copy.deepcopy(plain)
    lean.recompute = frozenset({0, 1, 2})
    lean.head.recompute_proto = True
    x = torch.rand(2, 3, 64, 64)
    assert torch.allclose(_step(plain, x), _step(lean, x))
    for (name, a), (_, b) in zip(plain.named_parameters(), lean.named_parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, msg=name, rtol=1e-4, atol=1e-6)
    for (name, a), (_, b) in zip(plain.named_buffers(), lean.named_buffers(), strict=True):
        torch.testing.assert_close(a, b, msg=name)  # running stats and batch counts: once


def test_recompute_is_a_plain_call_without_gradients_or_in_eval():
    layer = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert recomputed(layer, x).grad_fn is None
    layer.eval()
    torch.testing.assert_close(recomputed(layer, x), layer(x))
