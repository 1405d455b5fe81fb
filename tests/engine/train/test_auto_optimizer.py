"""optimizer=auto resolved without torch: the same function for the trainer and the studio."""

from __future__ import annotations

import subprocess
import sys

from engine.config import validate_settings
from engine.config.settings import effective_workers
from engine.train.auto_optimizer import auto_iterations, resolve_optimizer


def test_auto_counts_iterations_as_accumulated_batches_of_nbs_images():
    assert auto_iterations(200, 16, 64, 30) == 4 * 30  # 200 images / 64 per optimizer step
    assert auto_iterations(200, 128, 64, 30) == 2 * 30  # a batch above nbs steps per batch


def test_resolve_optimizer_picks_adamw_by_class_count_and_sgd_for_long_runs():
    short = resolve_optimizer(validate_settings({"epochs": 30}), train_images=200, batch=16,
                              num_classes=3)
    assert (short.name, short.lr, short.momentum, short.auto) == ("AdamW", 0.001429, 0.9, True)
    long = resolve_optimizer(validate_settings({"epochs": 300}), train_images=3000, batch=16,
                             num_classes=3)  # 47 * 300 = 14,100 iterations
    assert (long.name, long.lr) == ("SGD", 0.01)


def test_a_named_optimizer_keeps_lr0_and_momentum():
    settings = validate_settings({"optimizer": "Adam", "lr0": 0.003, "momentum": 0.8})
    choice = resolve_optimizer(settings, train_images=10, batch=4, num_classes=2)
    assert (choice.name, choice.lr, choice.momentum, choice.auto) == ("Adam", 0.003, 0.8, False)


def test_resolving_the_optimizer_does_not_import_torch():
    code = ("import sys; from engine.train.auto_optimizer import resolve_optimizer; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_effective_workers_is_at_most_the_cpu_count(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert (effective_workers(8), effective_workers(1), effective_workers(0)) == (2, 1, 0)
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert effective_workers(8) == 8
