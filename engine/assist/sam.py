"""Segment Anything on the CPU through onnxruntime: the image encoder once per image (its
embedding cached), then only the small decoder for each click or box.

The layouts and the file checks are in :mod:`.sam_models`. An image is resized (and for SAM 1
padded) to the encoder's input; the :class:`Frame` kept with its embedding maps prompts into
the encoder's pixels and the decoder's low-resolution masks back onto the image.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..formats.outlines import trace_outlines
from .sam_models import (
    ENCODER_OUTPUTS,
    Layout,
    SamModelError,
    check_pair,
)

__all__ = ["Frame", "SamEmbedding", "SamPredictor", "image_key", "load_sam"]

DEFAULT_SIDE = 1024  # both families' encoders take 1024 x 1024
_SAM1_MEAN = np.array([123.675, 116.28, 103.53], np.float32)  # on 0..255
_SAM1_STD = np.array([58.395, 57.12, 57.375], np.float32)
_SAM2_MEAN = np.array([0.485, 0.456, 0.406], np.float32)  # ImageNet, on 0..1
_SAM2_STD = np.array([0.229, 0.224, 0.225], np.float32)
# Tracing a 10,000-pixel mask would hold the GUI's worker for seconds: outlines are traced
# at most this long a side and scaled back (SAM's own masks are 256 pixels a side).
POLYGON_MAX_SIDE = 2048
# The decoder runs on one thread: SAM's real decoder network (1.8 GMACs) took 69 ms on one
# thread and 166-188 ms on two on this 2-core machine under load (benchmarks/sam_latency.py);
# a click must not wait for cores the encoder or the GUI are using. The encoder takes them all.
DECODER_THREADS = 1
_FLOAT_MASK_SIDE = 4096
_FLOAT_MASK_PIXELS = _FLOAT_MASK_SIDE * _FLOAT_MASK_SIDE

Point = tuple[float, float, int]  # x, y in image pixels; label 1 = object, 0 = background
Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels


@dataclass(frozen=True)
class Frame:
    """How an image of ``image_size`` (h, w) sits in the encoder's ``canvas`` (h, w): scaled by
    ``scale`` (x, y) into the top-left ``content`` (h, w) rectangle (SAM 1 pads the rest;
    SAM 2 stretches, so its content is the whole canvas)."""

    image_size: tuple[int, int]
    canvas: tuple[int, int]
    content: tuple[int, int]
    scale: tuple[float, float]

    def to_canvas(self, points: np.ndarray) -> np.ndarray:
        """``[n, 2]`` image pixels (x, y) to encoder pixels."""
        return np.asarray(points, np.float64) * np.asarray(self.scale)

    def to_image(self, logits: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """A low-resolution mask's logits (covering the canvas) as a bool mask of ``size``
        (h, w; default the image's): upscaled to the canvas, cropped to the content, resized
        (the order SAM's own post-processing uses)."""
        height, width = size or self.image_size
        canvas = cv2.resize(
            np.ascontiguousarray(logits, np.float32),
            (self.canvas[1], self.canvas[0]),
            interpolation=cv2.INTER_LINEAR,
        )
        content = canvas[: self.content[0], : self.content[1]]
        if height * width <= _FLOAT_MASK_PIXELS:
            return cv2.resize(content, (width, height), interpolation=cv2.INTER_LINEAR) > 0
        # A 10,000-pixel image: 400 MB of float logits at full size. The mask is settled at
        # most _FLOAT_MASK_SIDE a side and enlarged as bytes (a quarter of the memory).
        shrink = _FLOAT_MASK_SIDE / max(height, width)
        middle = (max(1, round(width * shrink)), max(1, round(height * shrink)))
        settled = (cv2.resize(content, middle, interpolation=cv2.INTER_LINEAR) > 0) * 255
        grown = cv2.resize(
            settled.astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR
        )
        return grown > 127


@dataclass(frozen=True)
class SamEmbedding:
    """The encoder's outputs for one image (by name) and the frame that maps into them."""

    features: dict[str, np.ndarray]
    frame: Frame


def image_key(path: str | Path) -> tuple[str, int, int]:
    """A cache key for an image file that changes when the file does: (path, mtime, size)."""
    stat = Path(path).stat()
    return str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size


def load_sam(
    encoder_path: str | Path, decoder_path: str | Path, *, cache_size: int = 4
) -> SamPredictor:
    """Check both files (SamModelError naming the file at fault) and open them on the CPU."""
    layout = check_pair(encoder_path, decoder_path)
    return SamPredictor(
        _session(encoder_path, threads=0),
        _session(decoder_path, threads=DECODER_THREADS),
        layout,
        cache_size=cache_size,
    )


def _session(path: str | Path, *, threads: int) -> Any:
    import onnxruntime

    from ..process.threads import session_options

    try:
        return onnxruntime.InferenceSession(
            str(path), session_options(intra_op_threads=threads), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own classes (Fail, InvalidGraph, ...)
        first = (str(exc).strip().splitlines() or [repr(exc)])[0][:200]
        raise SamModelError(
            f"cannot be opened by onnxruntime ({first}); download or export it again", path=path
        ) from exc


class SamPredictor:
    """An encoder/decoder pair ready to run. ``set_image`` runs the encoder (or finds the
    embedding in a small LRU cache by key); ``predict`` runs only the decoder.

    Safe to call from one worker thread at a time per image; the cache is locked.
    ``encoder_runs`` counts the encoder's runs (what the cache saves)."""

    def __init__(self, encoder: Any, decoder: Any, layout: Layout, *, cache_size: int = 4):
        self.encoder, self.decoder, self.layout = encoder, decoder, layout
        self.cache_size = max(1, cache_size)
        self.encoder_runs = 0
        self._cache: OrderedDict[Hashable, SamEmbedding] = OrderedDict()
        self._lock = threading.Lock()
        self._current: SamEmbedding | None = None
        image_input = encoder.get_inputs()[0]
        self._image_name, self._image_shape = image_input.name, tuple(image_input.shape)
        self._decoder_outputs = [output.name for output in decoder.get_outputs()]
        self._mask_input_shape = _mask_input_shape(decoder)

    # --- the encoder --------------------------------------------------------------------

    def set_image(self, image: np.ndarray, key: Hashable | None = None) -> SamEmbedding:
        """Encode an RGB ``[h, w, 3]`` uint8 image (or take its cached embedding when ``key``
        was seen) and make it the image that ``predict`` works on."""
        with self._lock:
            cached = self._cache.get(key) if key is not None else None
            if cached is not None:
                self._cache.move_to_end(key)
                self._current = cached
                return cached
        embedding = self.encode(image)
        with self._lock:
            if key is not None:
                self._cache[key] = embedding
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            self._current = embedding
        return embedding

    def encode(self, image: np.ndarray) -> SamEmbedding:
        """Run the encoder on ``image`` (no cache)."""
        image = _rgb(image)
        if self.layout == "sam2":
            feed, frame = _sam2_input(image, self._image_shape)
        elif len(self._image_shape) == 3:
            feed, frame = _sam1_raw_input(image, self._image_shape)
        else:
            feed, frame = _sam1_input(image, self._image_shape)
        names = list(ENCODER_OUTPUTS[self.layout])
        outputs = self.encoder.run(names, {self._image_name: feed})
        self.encoder_runs += 1
        return SamEmbedding(dict(zip(names, outputs, strict=True)), frame)

    # --- the decoder --------------------------------------------------------------------

    def predict(
        self,
        points: Sequence[Point] = (),
        box: Box | None = None,
        *,
        embedding: SamEmbedding | None = None,
    ) -> np.ndarray:
        """The best mask (by the decoder's IoU prediction) for the prompts, as a bool
        ``[h, w]`` array in the image's pixels. Points are (x, y, label): 1 on the object, 0
        on the background; ``box`` is (x1, y1, x2, y2)."""
        embedding = self._embedding(embedding)
        return embedding.frame.to_image(self.predict_logits(points, box, embedding=embedding))

    def predict_polygon(
        self,
        points: Sequence[Point] = (),
        box: Box | None = None,
        *,
        embedding: SamEmbedding | None = None,
    ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """The outlines of the best mask: (outer rings, holes) as ``[k, 2]`` arrays of image
        pixels. Large images are traced on a copy at most POLYGON_MAX_SIDE a side."""
        embedding = self._embedding(embedding)
        logits = self.predict_logits(points, box, embedding=embedding)
        height, width = embedding.frame.image_size
        shrink = min(1.0, POLYGON_MAX_SIDE / max(height, width))
        size = (max(1, round(height * shrink)), max(1, round(width * shrink)))
        outer, holes = trace_outlines(embedding.frame.to_image(logits, size))
        back = np.array([width / size[1], height / size[0]])
        return tuple(ring * back for ring in outer), tuple(ring * back for ring in holes)

    def predict_logits(
        self,
        points: Sequence[Point] = (),
        box: Box | None = None,
        *,
        embedding: SamEmbedding | None = None,
    ) -> np.ndarray:
        """The decoder's best low-resolution mask logits (over the encoder's canvas)."""
        embedding = self._embedding(embedding)
        coords, labels = _prompt(points, box, embedding.frame, pad=self.layout == "sam1")
        feed = self._decoder_feed(embedding, coords, labels)
        outputs = dict(
            zip(self._decoder_outputs, self.decoder.run(self._decoder_outputs, feed), strict=True)
        )
        masks, scores = _masks_and_scores(outputs, self._decoder_outputs)
        best = int(np.argmax(scores.reshape(-1)))
        return masks.reshape(-1, *masks.shape[-2:])[best]

    def _embedding(self, embedding: SamEmbedding | None) -> SamEmbedding:
        chosen = embedding or self._current
        if chosen is None:
            raise SamModelError("no image is set: call set_image before predict")
        return chosen

    def _decoder_feed(
        self, embedding: SamEmbedding, coords: np.ndarray, labels: np.ndarray
    ) -> dict[str, np.ndarray]:
        feed = {name: embedding.features[name] for name in ENCODER_OUTPUTS[self.layout]}
        if self.layout == "sam1":  # the decoder's own name for the encoder's output
            feed = {"image_embeddings": embedding.features["image_embeddings"]}
            # the content size keeps the decoder's full-size "masks" output small; the mask
            # shown comes from low_res_masks through the frame
            feed["orig_im_size"] = np.array(embedding.frame.content, np.float32)
        feed["point_coords"] = coords[None].astype(np.float32)
        feed["point_labels"] = labels[None].astype(np.float32)
        feed["mask_input"] = np.zeros(self._mask_input_shape, np.float32)
        feed["has_mask_input"] = np.zeros(1, np.float32)
        return feed


def _mask_input_shape(decoder: Any) -> tuple[int, ...]:
    """[1, 1, 256, 256] unless the decoder declares another fixed size."""
    for graph_input in decoder.get_inputs():
        if graph_input.name == "mask_input":
            dims = [d if isinstance(d, int) and d > 0 else None for d in graph_input.shape]
            if len(dims) == 4 and dims[2] and dims[3]:
                return 1, 1, dims[2], dims[3]
    return 1, 1, DEFAULT_SIDE // 4, DEFAULT_SIDE // 4


def _masks_and_scores(
    outputs: dict[str, np.ndarray], order: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Low-resolution logits when the decoder gives them (SAM 1's full-size ``masks`` are
    fixed to the export's dummy aspect ratio in some exports), and the IoU predictions."""
    masks = outputs.get("low_res_masks", outputs.get("masks", outputs[order[0]]))
    scores = outputs.get("iou_predictions", outputs[order[1]])
    return masks, scores


def _prompt(
    points: Sequence[Point], box: Box | None, frame: Frame, *, pad: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Encoder-pixel coordinates ``[n, 2]`` and labels ``[n]``: the points, the box as its two
    corners (labels 2 and 3), and for SAM 1 without a box the padding point (label -1)."""
    coords = [(float(x), float(y)) for x, y, _label in points]
    labels = [1.0 if int(label) == 1 else 0.0 for _x, _y, label in points]
    if box is not None:
        x1, y1, x2, y2 = box
        coords += [(min(x1, x2), min(y1, y2)), (max(x1, x2), max(y1, y2))]
        labels += [2.0, 3.0]
    elif pad:
        coords.append((0.0, 0.0))
        labels.append(-1.0)
    if not points and box is None:
        raise SamModelError("no prompt: give at least one point or a box")
    scaled = frame.to_canvas(np.array(coords, np.float64).reshape(-1, 2))
    if pad and box is None:
        scaled[-1] = 0.0  # the padding point stays at the origin
    return scaled, np.array(labels, np.float64)


# --- encoder inputs ---------------------------------------------------------------------------


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
        raise SamModelError(f"expected an RGB image [h, w, 3]; got an array of shape {image.shape}")
    return np.ascontiguousarray(image[:, :, :3])


def _side(shape: tuple, axes: tuple[int, int]) -> tuple[int, int]:
    dims = [shape[a] if isinstance(shape[a], int) and shape[a] > 0 else None for a in axes]
    return dims[0] or DEFAULT_SIDE, dims[1] or DEFAULT_SIDE


def _fitted(image: np.ndarray, canvas: tuple[int, int]) -> tuple[np.ndarray, Frame]:
    """``image`` scaled to fit ``canvas`` at the top-left, keeping its aspect (SAM 1)."""
    height, width = image.shape[:2]
    scale = min(canvas[0] / height, canvas[1] / width)
    content = (max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5)))
    resized = cv2.resize(image, (content[1], content[0]), interpolation=cv2.INTER_LINEAR)
    frame = Frame((height, width), canvas, content, (content[1] / width, content[0] / height))
    return resized, frame


def _sam1_input(image: np.ndarray, shape: tuple) -> tuple[np.ndarray, Frame]:
    """[1, 3, S, S], normalised with SAM's mean and std, zero-padded bottom-right."""
    canvas = _side(shape, (2, 3))
    resized, frame = _fitted(image, canvas)
    normalised = (resized.astype(np.float32) - _SAM1_MEAN) / _SAM1_STD
    padded = np.zeros((*canvas, 3), np.float32)
    padded[: frame.content[0], : frame.content[1]] = normalised
    return padded.transpose(2, 0, 1)[None], frame


def _sam1_raw_input(image: np.ndarray, shape: tuple) -> tuple[np.ndarray, Frame]:
    """[H, W, 3] RGB on 0..255 (the graph normalises and pads): the long side made 1024, or
    fitted and padded into a fixed H x W when the graph declares one."""
    fixed = all(isinstance(d, int) and d > 0 for d in shape[:2])
    resized, frame = _fitted(image, _side(shape, (0, 1)))
    if not fixed:
        frame = Frame(frame.image_size, (DEFAULT_SIDE, DEFAULT_SIDE), frame.content, frame.scale)
        return resized.astype(np.float32), frame
    padded = np.zeros((*frame.canvas, 3), np.float32)
    padded[: frame.content[0], : frame.content[1]] = resized
    # points and masks live in the 1024 square the graph pads to
    side = max(frame.canvas)
    return padded, Frame(frame.image_size, (side, side), frame.content, frame.scale)


def _sam2_input(image: np.ndarray, shape: tuple) -> tuple[np.ndarray, Frame]:
    """[1, 3, H, W]: the image stretched to the canvas, ImageNet mean and std on 0..1."""
    canvas = _side(shape, (2, 3))
    height, width = image.shape[:2]
    resized = cv2.resize(image, (canvas[1], canvas[0]), interpolation=cv2.INTER_LINEAR)
    normalised = (resized.astype(np.float32) / 255.0 - _SAM2_MEAN) / _SAM2_STD
    frame = Frame((height, width), canvas, canvas, (canvas[1] / width, canvas[0] / height))
    return normalised.transpose(2, 0, 1)[None].astype(np.float32), frame
