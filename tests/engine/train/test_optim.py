from __future__ import annotations

import math

import pytest
import torch

from engine.errors import SettingsError
from engine.nn.zoo import build_model
from engine.train.ema import ModelEMA
from engine.train.optim import (
    build_optimizer,
    choose_optimizer,
    interpolate,
    lr_factor,
    parameter_groups,
    warmup_steps,
)


def test_auto_picks_adamw_with_the_class_count_rule_for_short_runs():
    choice = choose_optimizer("auto", 0.01, 0.937, iterations=220, num_classes=10)
    assert (choice.name, choice.lr, choice.momentum) == ("AdamW", 0.000714, 0.9)


def test_auto_picks_sgd_for_long_runs_and_explicit_names_pass_through():
    assert choose_optimizer("auto", 0.02, 0.9, iterations=10_001, num_classes=3).name == "SGD"
    explicit = choose_optimizer("Adam", 0.003, 0.8, iterations=5, num_classes=3)
    assert (explicit.name, explicit.lr, explicit.auto) == ("Adam", 0.003, False)


def test_parameter_groups_split_biases_weights_and_norms():
    model = build_model("yolov8n-cls.yaml", num_classes=3)
    biases, weights, norms = parameter_groups(model)
    assert len(biases) + len(weights) + len(norms) == len(list(model.parameters()))
    bn_weights = [m.weight for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert {id(p) for p in norms} == {id(p) for p in bn_weights}
    optimizer = build_optimizer(model, choose_optimizer("SGD", 0.01, 0.9, iterations=1,
                                                        num_classes=3), 5e-4)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.0, 5e-4, 0.0]


def test_unknown_optimizer_is_a_settings_error():
    model = build_model("yolov8n-cls.yaml", num_classes=3)
    with pytest.raises(SettingsError, match="optimizer"):
        build_optimizer(model, choose_optimizer("Lion", 0.01, 0.9, iterations=1,
                                                num_classes=3), 0.0)


def test_lr_schedules_end_at_lrf():
    linear, cosine = lr_factor(10, 0.01, False), lr_factor(10, 0.01, True)
    assert linear(0) == 1.0 and math.isclose(linear(10), 0.01)
    assert math.isclose(cosine(0), 1.0) and math.isclose(cosine(10), 0.01)
    assert math.isclose(linear(5), 0.505)


def test_warmup_lasts_its_epochs_and_leaves_the_last_epoch_alone():
    assert warmup_steps(3.0, 30, 13) == 39  # no 100-batch floor: 3 of 30 epochs, not 8
    assert warmup_steps(3.0, 3, 13) == 26  # capped at epochs - 1
    assert warmup_steps(0.5, 30, 10) == 5
    assert warmup_steps(3.0, 1, 13) == -1  # one epoch: trained at its scheduled rate
    assert warmup_steps(0.0, 30, 13) == -1


def test_interpolate_clamps():
    assert interpolate(-1, (0, 10), (1, 3)) == 1
    assert interpolate(5, (0, 10), (1, 3)) == 2
    assert interpolate(11, (0, 10), (1, 3)) == 3


def test_ema_follows_the_ramped_decay():
    model = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    ema = ModelEMA(model, decay=0.9, tau=1.0)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)
    d = 0.9 * (1 - math.exp(-1))
    assert torch.allclose(ema.ema.weight, torch.full((1, 2), 1 - d))
    state = ema.state_dict()
    again = ModelEMA(torch.nn.Linear(2, 1, bias=False))
    again.load_state_dict(state)
    assert again.updates == 1 and torch.equal(again.ema.weight, ema.ema.weight)


def test_the_emas_contiguous_copy_is_made_once_and_follows_every_update():
    model = build_model("yolov8n-cls.yaml").to(memory_format=torch.channels_last)
    ema = ModelEMA(model, decay=0.5, tau=1.0)
    first = ema.contiguous_copy()
    conv = next(m for m in first.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous()  # the layout best.pt loads in
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        for b in model.buffers():
            if b.is_floating_point():
                b.add_(0.5)
    ema.update(model)
    again = ema.contiguous_copy()
    assert again is first
    for (name, value), copied in zip(ema.ema.state_dict().items(),
                                     again.state_dict().values(), strict=True):
        assert torch.equal(value, copied), name
    ema.load_state_dict(ema.state_dict())
    assert ema.contiguous_copy() is not first  # weights loaded anew: a new copy
