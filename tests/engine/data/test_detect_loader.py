"""The detection batch loader: targets, the mosaic switch, bad images, val geometry."""

from __future__ import annotations

import pytest
import torch

from engine.config import Settings
from engine.data.detect_augment import DetectAugment
from engine.data.detect_dataset import load_detect_dataset
from engine.data.detect_labels import verify_split
from engine.data.detect_loader import DetectBatchLoader
from engine.data.shape_samples import make_shapes_dataset


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    data = make_shapes_dataset(tmp_path_factory.mktemp("shapes") / "d", size=96, train=6, val=3)
    dataset = load_detect_dataset(data, "segment")
    return {
        split: list(verify_split(dataset.splits[split], "segment", dataset.names).samples)
        for split in ("train", "val")
    }


def train_loader(samples, **options):
    augment = DetectAugment.from_settings(Settings(), 64, task="segment")
    return DetectBatchLoader(
        samples,
        imgsz=64,
        task="segment",
        augment=augment,
        batch_size=3,
        shuffle=True,
        workers=1,
        **options,
    )


def test_train_batches_hold_images_and_targets_for_the_loss(samples):
    loader = train_loader(samples["train"])
    batches = list(loader)
    loader.close()
    assert len(batches) == 2
    batch = batches[0]
    assert batch["img"].shape == (3, 3, 64, 64) and batch["img"].dtype == torch.float32
    assert batch["masks"].shape == (3, 16, 16)
    count = len(batch["cls"])
    assert batch["bboxes"].shape == (count, 4) and batch["batch_idx"].shape == (count,)
    assert ((batch["bboxes"] >= 0) & (batch["bboxes"] <= 1)).all()
    for image in range(3):  # each image's index map numbers exactly its own objects
        owned = int((batch["batch_idx"] == image).sum())
        assert int(batch["masks"][image].max()) <= owned


def test_mosaic_closes_for_the_last_epochs_and_runs_repeat_per_seed(samples):
    loader = train_loader(samples["train"], epochs=10, close_mosaic=3)
    loader.set_epoch(6)
    assert loader.mosaic
    first = next(iter(loader))["img"]
    again = next(iter(loader))["img"]
    loader.set_epoch(7)
    assert not loader.mosaic
    loader.close()
    assert torch.equal(first, again)


def test_an_unreadable_image_is_reported_once_and_replaced(samples, tmp_path):
    broken = list(samples["train"])
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    broken[0] = type(broken[0])(bad, broken[0].label, broken[0].instances)
    warnings = []
    loader = train_loader(broken, on_warning=lambda message, path: warnings.append(path))
    for _ in range(2):
        assert sum(len(b["paths"]) for b in loader) == 6
    loader.close()
    assert warnings == [str(bad)]


def test_val_batches_keep_what_maps_back_to_the_original(samples):
    loader = DetectBatchLoader(
        samples["val"],
        imgsz=64,
        task="segment",
        augment=None,
        batch_size=3,
        shuffle=False,
        workers=0,
    )
    batch = next(iter(loader))
    assert batch["ori_shapes"] == [(96, 96)] * 3
    (ratio_x, ratio_y), (pad_x, pad_y) = batch["ratio_pad"][0]
    assert ratio_x == pytest.approx(64 / 96) and ratio_y == pytest.approx(64 / 96)
    assert (pad_x, pad_y) == (0.0, 0.0)
    assert batch["img"].shape == (3, 3, 64, 64) and batch["masks"].shape == (3, 16, 16)
    loader.close()
