"""The loop's progress is one value that goes into last.pt and comes back out unchanged, and
the set-up is built from explicit arguments."""

from __future__ import annotations

import pytest
import torch

from engine.errors import SettingsError
from engine.nn.zoo import build_model
from engine.train.auto_optimizer import OptimizerChoice
from engine.train.loop_progress import LoopProgress
from engine.train.setup import CPU_DEFAULT_BATCH, build_setup, resolve_batch, round_imgsz


def test_the_best_epoch_is_the_latest_with_the_highest_fitness():
    progress = LoopProgress()
    bests = []
    for epoch, fitness in enumerate([0.5, 0.5, 0.4, 0.7]):
        progress, is_best = progress.after_epoch(epoch, {"epoch": epoch + 1}, fitness)
        bests.append(is_best)
    assert bests == [True, True, False, True]  # a tie goes to the later epoch
    assert (progress.epoch, progress.best_epoch, progress.best_fitness) == (3, 3, 0.7)
    assert progress.next_epoch == progress.epochs_completed == 4
    assert [row["epoch"] for row in progress.history] == [1.0, 2.0, 3.0, 4.0]
    assert progress.last_row == {"epoch": 4.0}


def test_progress_goes_through_a_checkpoint_unchanged(tmp_path):
    progress = LoopProgress()
    for epoch, fitness in enumerate([0.2, 0.9, 0.3]):
        progress, _ = progress.after_epoch(epoch, {"epoch": epoch + 1, "loss": fitness}, fitness)
    path = tmp_path / "last.pt"
    torch.save({"epoch": progress.epoch, "train_state": progress.state()}, path)
    back = LoopProgress.from_checkpoint(torch.load(path, weights_only=True))
    assert back == progress and back.best_epoch == 1


def test_a_checkpoint_from_before_best_epoch_and_history_were_kept_still_resumes():
    old = {"epoch": 2, "train_state": {"best_fitness": 0.4}}
    assert LoopProgress.from_checkpoint(old) == LoopProgress(2, 0.4, 2, ())


def test_setup_follows_its_arguments():
    model = build_model("yolov8n-cls.yaml", num_classes=2)
    setup = build_setup(
        model, OptimizerChoice("SGD", 0.02, 0.9, auto=True), device=torch.device("cpu"),
        amp=False, imgsz=64, batch=16, memory_format=torch.contiguous_format, epochs=10,
        steps_per_epoch=5, nbs=64, weight_decay=0.0005, lrf=0.1, cos_lr=False,
        warmup_epochs=2.0, warmup_bias_lr=0.1, warmup_momentum=0.8, val_each_epoch=False,
    )
    assert setup.accumulate == 4  # 64 images a step: 4 batches of 16
    decayed = setup.optimizer.param_groups[1]
    assert decayed["weight_decay"] == pytest.approx(0.0005 * 16 * 4 / 64)
    assert setup.schedule.warmup_bias_lr == 0.0  # auto's choice warms the biases up from 0
    assert setup.schedule.warmup_steps == 10 and not setup.scaler.is_enabled()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    optimizer = setup.optimizer
    assert setup.schedule.warm_up(optimizer, 0, 0) == 1  # accumulation ramps up from 1
    assert optimizer.param_groups[1]["lr"] == 0.0 and optimizer.param_groups[1]["momentum"] == 0.8
    assert setup.schedule.warm_up(optimizer, 11, 0) == 4
    setup.schedule.start_epoch(optimizer, 5)
    assert optimizer.param_groups[1]["lr"] == pytest.approx(0.02 * (0.5 * 0.9 + 0.1))


def test_batch_and_image_size_come_out_as_used_with_a_warning_when_changed():
    warnings = []
    assert resolve_batch(-1, lambda m, p=None: warnings.append(m)) == CPU_DEFAULT_BATCH
    assert resolve_batch(8, warnings.append) == 8
    with pytest.raises(SettingsError, match="batch=0 must be at least 1"):
        resolve_batch(0, warnings.append)
    assert round_imgsz([60, 30], 32, lambda m, p: warnings.append(m)) == 64
    assert warnings[-1] == "imgsz=60 is not a multiple of the model's stride 32; using 64"
