"""Batches for training and validation, built by a small thread pool inside the process.

Why threads and not worker processes: decoding (OpenCV) and the array ops release the GIL,
the per-image Python work is tens of microseconds, and on the 2–8 core machines the studio
targets, forked workers cost hundreds of MiB each and are the usual source of orphaned
processes after a cancel. Every image's randomness comes from (seed, epoch, position), so a
run is reproducible whatever the thread scheduling, and a resumed run sees the same batches.
A CPU run whose torch threads take every core makes in-memory batches between its steps
instead (``BatchLoader.share_cores_with_training``): the same batches, no thread switches.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..cancel import NEVER, CancelToken
from ..errors import DatasetError, ImageReadError
from ..utils.atomic import atomic_writer
from ..utils.cache_dirs import cache_folder
from .images import read_image

if TYPE_CHECKING:
    from torch.utils.data import DistributedSampler

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]
WarningSink = Callable[[str, str | None], None]


AUTO_RAM_CACHE_BYTES = 256 * 2**20
"""Without ``cache='ram'``, decoded images are still kept in memory up to this many bytes.

A small dataset then decodes once per run instead of once per epoch: on the digits benchmark
(2 cores) an epoch takes ~1.0 s instead of ~1.3 s. Pixels are the same either way, so results
do not change; large datasets keep the first images only and read the rest from disk.
"""


class ImageStore:
    """Decoded images by index: from disk each time, kept in RAM (``cache='ram'``/True), or
    decoded once into ``.npy`` files under the cache folder (``cache='disk'``). Otherwise the
    first :data:`AUTO_RAM_CACHE_BYTES` of decoded images stay in RAM (``auto_ram_bytes``).

    The disk cache lives outside the dataset (the user's folders are never written to); a
    file's entry is keyed by its path, size and modification time, so edits invalidate it.
    """

    def __init__(self, paths: Sequence[Path], *, cache: bool | str = False,
                 cache_dir: Path | None = None,
                 auto_ram_bytes: int = AUTO_RAM_CACHE_BYTES) -> None:
        self.paths = list(paths)
        self.ram: dict[int, np.ndarray] = {}
        self.ram_budget = math.inf if cache in (True, "ram") else max(auto_ram_bytes, 0)
        self.ram_bytes = 0
        self._ram_lock = threading.Lock()
        self.disk = (cache_dir or image_cache_dir()) if cache == "disk" else None
        self.bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def caches_everything(self) -> bool:
        """True for ``cache='ram'`` or ``'disk'``: worth decoding everything up front."""
        return self.ram_budget == math.inf or self.disk is not None

    @property
    def all_in_ram(self) -> bool:
        """Every image is decoded and held in memory (bad files aside)."""
        return len(self.ram) + len(self.bad) >= len(self.paths)

    def get(self, index: int) -> np.ndarray:
        image = self.ram.get(index)
        if image is not None:
            return image
        image = self._from_disk_cache(index) if self.disk is not None else None
        if image is None:
            image = read_image(self.paths[index])
            if self.disk is not None:
                self._to_disk_cache(index, image)
        self._keep(index, image)
        return image

    def _keep(self, index: int, image: np.ndarray) -> None:
        with self._ram_lock:  # loader threads share the budget
            if index not in self.ram and self.ram_bytes + image.nbytes <= self.ram_budget:
                self.ram[index] = image
                self.ram_bytes += image.nbytes

    def _cache_file(self, index: int) -> Path:
        path = Path(self.paths[index])
        stat = path.stat()
        key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        return self.disk / f"{key.hexdigest()}.npy"

    def _from_disk_cache(self, index: int) -> np.ndarray | None:
        try:
            return np.load(self._cache_file(index), allow_pickle=False)
        except (OSError, ValueError):
            return None

    def _to_disk_cache(self, index: int, image: np.ndarray) -> None:
        target = self._cache_file(index)
        try:
            with atomic_writer(target) as handle:
                np.save(handle, image, allow_pickle=False)
        except OSError:
            pass  # a full or read-only cache only costs speed

    @property
    def fits_in_ram(self) -> bool:
        """Whether every image will likely stay in the automatic RAM cache: their files take at
        most 1/20 of its budget (decoded PNG and JPEG images are ~2-15x their files)."""
        if self.ram_budget == 0 or not self.paths:
            return False
        total = 0
        for path in self.paths:
            try:
                total += os.stat(path).st_size
            except OSError:
                continue
            if total * 20 > self.ram_budget:
                return False
        return True

    def fill(self, workers: int, cancel: CancelToken = NEVER) -> None:
        """Decode everything now, in parallel, for ``cache='ram'`` or ``'disk'``, and for a
        dataset that fits the automatic RAM cache: decoded up front on every core instead of
        during the first epoch beside the training (the digits run took ~1 s less: 1.0-1.1 s
        epochs instead of 1.1-1.4 s, the images then lie together in memory instead of among
        the first epoch's tensors). Files that fail are left for the loader to report."""
        if not (self.caches_everything or self.fits_in_ram):
            return

        def load(i: int) -> None:
            if cancel.cancelled:
                return
            try:
                self.get(i)
            except ImageReadError:
                self.bad.discard(i)  # reported (once) when a batch asks for it

        with ThreadPoolExecutor(max(workers, 1)) as pool:
            list(pool.map(load, range(len(self.paths))))
        cancel.raise_if_cancelled()


def image_cache_dir() -> Path:
    """``$YOLO_STUDIO_CACHE_DIR/images``, else ``$XDG_CACHE_HOME/yolo-studio/images``."""
    return cache_folder("images")


def to_tensor(images: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
    """H×W×3 uint8 BGR arrays (or their N×H×W×3 stack) → float32 N×3×H×W RGB in 0..1."""
    # In numpy: one strided pass flips the channels, transposes and casts, then one in-place
    # divide; bit for bit torch's permute().float().div_(255) and 3-4x faster (a 640x480
    # image 0.7 ms against 2.5 ms, a batch of 16 at 320 px 4.5 ms against 15 ms), as torch's
    # passes over a permuted view are slow and wake its thread pool.
    batch = images if isinstance(images, np.ndarray) else np.stack(images)
    out = np.ascontiguousarray(batch[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32)
    np.divide(out, np.float32(255.0), out=out)
    return torch.from_numpy(out)


def _as_tensors(batch: dict) -> dict:
    return {**batch, "img": to_tensor(batch["img"]), "cls": torch.from_numpy(batch["cls"])}


class BatchLoader:
    """Iterates ``{"img": N×3×S×S float, "cls": N int64, "paths": [...]}`` batches.

    ``transform(image, rng)`` makes one sample; a sample whose file fails to decode is
    reported once through ``on_warning`` and replaced by the next readable one, so a single
    bad image never stops a run.
    """

    def __init__(
        self,
        store: ImageStore,
        labels: Sequence[int],
        transform: Transform,
        *,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        workers: int = 2,
        prefetch: int = 2,
        on_warning: WarningSink | None = None,
        cancel: CancelToken = NEVER,
    ) -> None:
        if len(store) == 0:
            raise DatasetError("no images to load")
        self.store = store
        self.labels = np.asarray(labels, dtype=np.int64)
        self.transform = transform
        self.batch_size = max(int(batch_size), 1)
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.workers = max(0, min(int(workers), os.cpu_count() or 1))
        self.prefetch = max(prefetch, 1)
        self.on_warning = on_warning
        self.cancel = cancel
        self._pool: ThreadPoolExecutor | None = None
        self._sampler: DistributedSampler | None = None  # see shard()

    def __len__(self) -> int:
        return -(-self._count() // self.batch_size)

    def shard(self, rank: int, world: int) -> None:
        """Load only rank ``rank``'s share of each epoch, out of ``world`` training processes.

        The epoch's order stays this loader's own permutation; a ``DistributedSampler`` (no
        process group needed) picks every ``world``-th position of it, from ``rank`` on,
        padded to a multiple of ``world``. With ``batch_size`` the total over ``world``, step
        k's batches of the ranks together are exactly step k's batch of a single process at
        the total batch, and each sample is augmented the same way (its randomness is keyed
        by its dataset position, not by the process that loads it).
        """
        from torch.utils.data import DistributedSampler

        self._sampler = None if world <= 1 else DistributedSampler(
            range(len(self.store)), num_replicas=world, rank=rank, shuffle=False,
            drop_last=False,
        )

    def share_cores_with_training(self) -> None:
        """Called when training runs on the CPU with a torch thread on every core: make the
        batches on the iterating thread, between steps, where that is cheap (all images in
        RAM: only the augmentation is left, ~5 ms for 64 digits at 32 px).

        Why: a loader thread then has no free core; each time it runs it stops one of torch's
        threads, and the others wait for it at the operator's end. On the digits benchmark
        (2 cores, yolov8n-cls at 32 px) 10 epochs took 9.0-9.7 s of training this way against
        10.6-11.8 s with two loader threads. Images read from disk keep the threads (decoding
        is slower than the thread switches it causes).
        """
        if self.store.all_in_ram:
            self.workers = 0

    def _count(self) -> int:
        return len(self._sampler) if self._sampler is not None else len(self.store)

    @property
    def num_images(self) -> int:
        return len(self.store)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> np.ndarray:
        """The dataset positions of this epoch, in order (this rank's share when sharded)."""
        if not self.shuffle:
            order = np.arange(len(self.store))
        else:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.store))
        if self._sampler is None:
            return order
        return order[np.fromiter(iter(self._sampler), dtype=np.int64)]

    def __iter__(self) -> Iterator[dict]:
        order = self.order()
        chunks = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.workers == 0:
            for chunk in chunks:
                self.cancel.raise_if_cancelled()
                yield self._to_tensors(self._make_batch(chunk))
            return
        pool = self._executor()
        pending: deque[Future] = deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(self._make_batch, chunk))
                if len(pending) > self.prefetch:
                    yield self._to_tensors(pending.popleft().result())
                    self.cancel.raise_if_cancelled()
            while pending:
                yield self._to_tensors(pending.popleft().result())
                self.cancel.raise_if_cancelled()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        """Stop the threads (waiting for the batch in hand); the loader can be iterated again."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="yolo-data")
        return self._pool

    def _to_tensors(self, batch: dict) -> dict:
        """On the caller's thread: numpy batch → tensors (see ``_make_batch``)."""
        return _as_tensors(batch)

    def _make_batch(self, indices: np.ndarray) -> dict:
        images, labels, paths = [], [], []
        for position in indices:
            index, image = self._readable(int(position))
            rng = np.random.default_rng([self.seed, self.epoch, int(position)])
            images.append(self.transform(image, rng))
            labels.append(self.labels[index])
            paths.append(str(self.store.paths[index]))
        # Plain numpy here: a torch op on a pool thread starts a second OpenMP team whose
        # spinning threads slow the training step 2-3x. The caller's thread makes tensors.
        return {"img": np.stack(images), "cls": np.asarray(labels), "paths": paths}

    def _readable(self, index: int) -> tuple[int, np.ndarray]:
        """Image ``index``, or the next one that decodes (each bad file is reported once)."""
        n = len(self.store)
        for step in range(n):
            candidate = (index + step) % n
            if candidate in self.store.bad:
                continue
            try:
                return candidate, self.store.get(candidate)
            except ImageReadError as exc:
                self.store.bad.add(candidate)
                if self.on_warning:
                    self.on_warning(f"skipped: {exc.message}", exc.path)
        raise DatasetError("none of the images could be read", path=self.store.paths[0].parent)
