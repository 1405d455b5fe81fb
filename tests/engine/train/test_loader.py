from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pytest
import torch

from engine.cancel import CancelToken
from engine.data.images import read_image
from engine.data.loader import BatchLoader, ImageStore, to_tensor
from engine.errors import Cancelled


def paths_and_labels(digits):
    paths = sorted((digits / "train").glob("*/*.png"))
    return paths, [int(p.parent.name) for p in paths]


def identity(image, _rng):
    return image


def test_to_tensor_is_rgb_float_nchw():
    bgr = np.zeros((2, 4, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    out = to_tensor([bgr])
    assert out.shape == (1, 3, 2, 4) and out.dtype == torch.float32
    assert out[0, 2].max() == 1.0 and out[0, 0].max() == 0.0  # blue lands in channel 2


def test_batches_cover_every_image_once_in_a_seeded_order(digits):
    paths, labels = paths_and_labels(digits)
    loader = BatchLoader(ImageStore(paths), labels, identity, batch_size=32, shuffle=True,
                         seed=3, workers=2)
    seen = [p for batch in loader for p in batch["paths"]]
    again = [p for batch in loader for p in batch["paths"]]
    loader.set_epoch(1)
    other = [p for batch in loader for p in batch["paths"]]
    loader.close()
    assert sorted(seen) == sorted(map(str, paths)) and len(loader) == 4
    assert seen == again and seen != other


def test_labels_follow_images(digits):
    paths, labels = paths_and_labels(digits)
    loader = BatchLoader(ImageStore(paths, cache="ram"), labels, identity, batch_size=50,
                         shuffle=True, workers=0)
    for batch in loader:
        assert [int(p.split("/")[-2]) for p in batch["paths"]] == batch["cls"].tolist()
        assert batch["img"].shape[1:] == (3, 32, 32)


def test_a_corrupt_image_is_reported_once_and_replaced(digits, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(digits, root)
    paths, labels = paths_and_labels(root)
    paths[5].write_bytes(b"not a png")
    warnings = []
    loader = BatchLoader(ImageStore(paths), labels, identity, batch_size=40, shuffle=False,
                         workers=2, on_warning=lambda m, p: warnings.append((m, p)))
    for _ in range(2):
        batches = list(loader)
        assert sum(len(b["paths"]) for b in batches) == len(paths)
        assert str(paths[5]) not in [p for b in batches for p in b["paths"]]
    loader.close()
    assert len(warnings) == 1 and warnings[0][1] == str(paths[5])
    assert paths[5].read_bytes() == b"not a png"  # never rewritten


def test_cancel_stops_between_batches_and_threads_end(digits):
    paths, labels = paths_and_labels(digits)
    token = CancelToken()

    def slow(image, _rng):
        time.sleep(0.002)
        return image

    loader = BatchLoader(ImageStore(paths), labels, slow, batch_size=8, shuffle=False,
                         workers=2, cancel=token)
    batches = 0
    with pytest.raises(Cancelled):
        for i, _ in enumerate(loader):
            batches += 1
            if i == 1:
                token.cancel()
    loader.close()
    assert batches < len(loader)  # stopped at the cancel, not at the end
    assert not [t for t in threading.enumerate() if t.name.startswith("yolo-data")]


def test_ram_cache_decodes_each_file_once(digits, monkeypatch):
    paths, _ = paths_and_labels(digits)
    store = ImageStore(paths[:10], cache="ram")
    store.fill(workers=2)
    calls = []
    monkeypatch.setattr("engine.data.loader.read_image",
                        lambda p: calls.append(p) or read_image(p))
    for i in range(10):
        store.get(i)
    assert calls == []


def test_disk_cache_decodes_once_and_notices_edits(digits, tmp_path, monkeypatch):
    import os

    data = tmp_path / "d"
    shutil.copytree(digits / "val" / "1", data)
    paths = sorted(data.glob("*.png"))
    ImageStore(paths, cache="disk", cache_dir=tmp_path / "cache").fill(workers=2)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == len(paths)
    calls = []
    monkeypatch.setattr("engine.data.loader.read_image",
                        lambda p: calls.append(p) or read_image(p))
    store = ImageStore(paths, cache="disk", cache_dir=tmp_path / "cache")
    cached = store.get(0)
    assert calls == [] and np.array_equal(cached, read_image(paths[0]))
    calls.clear()
    store.get(1)
    assert calls == []
    os.utime(paths[1], ns=(1, 1))  # an edited file is decoded again by the next run
    ImageStore(paths, cache="disk", cache_dir=tmp_path / "cache").get(1)
    assert calls == [paths[1]]


def test_without_a_cache_small_datasets_stay_in_memory_up_to_the_budget(digits, monkeypatch):
    paths, _ = paths_and_labels(digits)
    one_image = read_image(paths[0]).nbytes
    calls = []
    monkeypatch.setattr("engine.data.loader.read_image",
                        lambda p: calls.append(p) or read_image(p))
    store = ImageStore(paths[:10], auto_ram_bytes=4 * one_image)
    for _ in range(2):
        for i in range(10):
            store.get(i)
    assert calls == paths[:10] + paths[4:10]  # the first four were kept, the rest read again
    assert store.ram_bytes == 4 * one_image
    assert not store.caches_everything  # so nothing is decoded up front
    none_kept = ImageStore(paths[:10], auto_ram_bytes=0)
    none_kept.get(0)
    assert none_kept.ram == {}


def test_a_dataset_that_fits_the_automatic_cache_is_decoded_up_front(digits, monkeypatch):
    paths, _ = paths_and_labels(digits)
    files = sum(p.stat().st_size for p in paths[:10])
    calls = []
    monkeypatch.setattr("engine.data.loader.read_image",
                        lambda p: calls.append(p) or read_image(p))
    small = ImageStore(paths[:10], auto_ram_bytes=20 * files)
    assert small.fits_in_ram
    small.fill(workers=2)
    assert sorted(calls) == sorted(paths[:10]) and len(small.ram) == 10
    calls.clear()
    for i in range(10):
        small.get(i)
    assert calls == []  # the epochs read memory only
    large = ImageStore(paths[:10], auto_ram_bytes=20 * files - 1)
    assert not large.fits_in_ram
    large.fill(workers=2)
    assert calls == [] and large.ram == {}  # decoded as the first epoch asks


def test_a_loader_with_every_image_in_ram_makes_its_batches_inline_and_the_same(digits):
    paths, labels = paths_and_labels(digits)
    held = ImageStore(paths[:40])
    held.fill(workers=2)
    assert held.all_in_ram
    threaded = BatchLoader(held, labels[:40], lambda im, rng: im + rng.integers(0, 9, dtype=np.uint8),
                           batch_size=16, shuffle=True, seed=1, workers=2)
    before = [batch["img"].clone() for batch in threaded]
    threaded.share_cores_with_training()
    assert threaded.workers == 0
    names_before = threading.enumerate()
    after = [batch["img"] for batch in threaded]
    assert threading.enumerate() == names_before  # no pool started
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))

    on_disk = ImageStore(paths[:40], auto_ram_bytes=0)
    from_disk = BatchLoader(on_disk, labels[:40], identity, batch_size=16, shuffle=False,
                            workers=2)
    from_disk.share_cores_with_training()
    assert not on_disk.all_in_ram and from_disk.workers == 2  # decoding keeps its threads
