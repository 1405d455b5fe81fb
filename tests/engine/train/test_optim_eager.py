"""The optimizers a run builds skip torch's compiler wrappers (engine/train/optim.eager): the
same numbers as torch's own classes, and no ``torch._dynamo`` import (1.2 s at each start)."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch
from torch import nn

from engine.train.auto_optimizer import OptimizerChoice
from engine.train.optim import build_optimizer, eager

CASES = [
    (torch.optim.AdamW, {"lr": 1e-2, "betas": (0.9, 0.999), "fused": True}),
    (torch.optim.Adam, {"lr": 1e-2, "betas": (0.9, 0.999)}),
    (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "fused": True}),
    (torch.optim.RMSprop, {"lr": 1e-3, "momentum": 0.9}),
]


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.SiLU(), nn.Flatten(),
                         nn.Linear(8 * 6 * 6, 4))


def _train(model: nn.Module, optimizer, steps: int = 5) -> None:
    torch.manual_seed(1)
    for _ in range(steps):
        optimizer.zero_grad()
        model(torch.randn(4, 3, 8, 8)).square().mean().backward()
        optimizer.step()


@pytest.mark.parametrize(("cls", "options"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_the_eager_optimizer_takes_exactly_torch_s_steps(cls, options):
    ours, theirs = _model(), _model()
    theirs.load_state_dict(copy.deepcopy(ours.state_dict()))
    groups = lambda m: [{"params": list(m.parameters())[:2]},  # noqa: E731
                        {"params": list(m.parameters())[2:], "weight_decay": 0.01}]
    fast, plain = eager(cls)(groups(ours), **options), cls(groups(theirs), **options)
    assert isinstance(fast, cls) and type(fast).__name__ == cls.__name__
    _train(ours, fast)
    _train(theirs, plain)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)
    mine, reference = fast.state_dict(), plain.state_dict()
    assert mine["param_groups"] == reference["param_groups"]
    for key, state in reference["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(mine["state"][key][name]), torch.as_tensor(value))
    resumed = eager(cls)(groups(_model()), **options)
    resumed.load_state_dict(mine)  # a checkpoint's optimizer state loads as before
    assert resumed.state_dict()["param_groups"] == reference["param_groups"]


def test_building_and_stepping_a_run_s_optimizer_does_not_import_torch_s_compiler():
    code = """
import sys, torch
from torch import nn
from engine.train.auto_optimizer import OptimizerChoice
from engine.train.optim import build_optimizer
model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(288, 2))
for name in ("AdamW", "SGD"):
    optimizer = build_optimizer(model, OptimizerChoice(name, 0.01, 0.9, False), 5e-4)
    for _ in range(2):
        optimizer.zero_grad()
        model(torch.randn(2, 3, 8, 8)).sum().backward()
        optimizer.step()
    optimizer.load_state_dict(optimizer.state_dict())
print("torch._dynamo" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr
    # and a plain torch optimizer does import it: the check above can fail
    plain = subprocess.run([sys.executable, "-c", "import sys, torch; torch.optim.SGD("
                            "[torch.zeros(1, requires_grad=True)], lr=0.1); "
                            "print('torch._dynamo' in sys.modules)"],
                           capture_output=True, text=True, check=True, timeout=120)
    assert plain.stdout.strip() == "True"


def test_build_optimizer_still_makes_the_three_groups():
    model = _model()
    optimizer = build_optimizer(model, OptimizerChoice("SGD", 0.01, 0.937, False), 5e-4)
    assert isinstance(optimizer, torch.optim.SGD) and len(optimizer.param_groups) == 3


def test_seeding_sets_torch_s_deterministic_flags_without_its_compiler():
    code = """
import sys, torch
from engine.train.seeding import seed_everything
seed_everything(0, True)
on = (torch.are_deterministic_algorithms_enabled(),
      torch.is_deterministic_algorithms_warn_only_enabled())
seed_everything(0, False)
print(on, torch.are_deterministic_algorithms_enabled(), "torch._dynamo" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.strip() == "(True, True) False False", result.stderr


def test_a_whole_training_run_never_imports_torch_s_compiler(tmp_path):
    code = """
import sys
from engine import YOLO
from engine.data.samples import make_digits_folder
data = make_digits_folder(sys.argv[1] + "/digits")
YOLO("yolov8n-cls.yaml").train(data=str(data), epochs=1, imgsz=32, batch=64, plots=False,
                               project=sys.argv[1], name="run")
print("torch._dynamo" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                            text=True, check=True, timeout=300)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr[-2000:]
