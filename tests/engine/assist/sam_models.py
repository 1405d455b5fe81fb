"""Tiny Segment Anything ONNX pairs for tests, built with ``onnx.helper`` (no weights needed).

They keep the real input and output contract (names, 1024 input, 64 x 64 embedding, 256 x 256
masks) with few channels. The encoders are pooling plus randomly initialised 1x1 convolutions.
The decoders draw geometry a test can check: mask k is the disc of radius ``RADII[k]``
(encoder pixels) around the nearest positive point, joined with the inside of the box, minus
a disc of ``NEGATIVE_RADIUS`` around each negative point; the random embedding path adds at
most 0.001 to the logits. ``iou_predictions`` are fixed per mask (``ious``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIDE, EMBED, LOW = 1024, 64, 256
RADII = (40.0, 80.0, 160.0, 320.0)
NEGATIVE_RADIUS = 48.0
_BIG = 1e5
_OPSET = 17


class _Graph:
    """Collects nodes and initialisers; ``op`` returns the new node's output name."""

    def __init__(self, seed: int = 0) -> None:
        self.nodes: list = []
        self.weights: list = []
        self.rng = np.random.default_rng(seed)
        self._count = 0

    def const(self, value, dtype=np.float32) -> str:
        self._count += 1
        name = f"c{self._count}"
        self.weights.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def op(self, kind: str, *inputs: str, output: str | None = None, **attrs) -> str:
        self._count += 1
        name = output or f"t{self._count}"
        self.nodes.append(helper.make_node(kind, list(inputs), [name], **attrs))
        return name

    def conv(self, source: str, channels_in: int, channels_out: int, output: str) -> str:
        weight = self.const(self.rng.normal(0, 0.5, (channels_out, channels_in, 1, 1)))
        bias = self.const(self.rng.normal(0, 0.1, channels_out))
        return self.op("Conv", source, weight, bias, output=output)

    def pooled(self, source: str, stride: int) -> str:
        return self.op(
            "AveragePool", source, kernel_shape=[stride, stride], strides=[stride, stride]
        )

    def save(self, path: Path, inputs: list, outputs: list) -> Path:
        graph = helper.make_graph(self.nodes, path.stem, inputs, outputs, self.weights)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
        return path


def _tensor(name: str, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def sam1_encoder(path: Path, *, channels: int = 8, raw_input: bool = False, seed: int = 0) -> Path:
    """SAM 1 / MobileSAM encoder: ``input_image`` [1, 3, 1024, 1024] normalised, or with
    ``raw_input`` a dynamic [H, W, 3] image, to ``image_embeddings`` [1, C, 64, 64]."""
    graph = _Graph(seed)
    if raw_input:
        chw = graph.op("Transpose", "input_image", perm=[2, 0, 1])
        batched = graph.op("Unsqueeze", chw, graph.const([0], np.int64))
        sizes = graph.const([1, 3, EMBED, EMBED], np.int64)
        pooled = graph.op("Resize", batched, "", "", sizes, mode="linear")
        image = _tensor("input_image", ["height", "width", 3])
    else:
        pooled = graph.pooled("input_image", SIDE // EMBED)
        image = _tensor("input_image", [1, 3, SIDE, SIDE])
    graph.conv(pooled, 3, channels, "image_embeddings")
    return graph.save(path, [image], [_tensor("image_embeddings", [1, channels, EMBED, EMBED])])


def sam2_encoder(path: Path, *, channels: int = 8, seed: int = 0) -> Path:
    """SAM 2 encoder: ``image`` [1, 3, 1024, 1024] to ``high_res_feats_0`` [1, C/4, 256, 256],
    ``high_res_feats_1`` [1, C/2, 128, 128] and ``image_embed`` [1, C, 64, 64]."""
    graph = _Graph(seed)
    sizes = {
        "high_res_feats_0": (channels // 4, 4),
        "high_res_feats_1": (channels // 2, 8),
        "image_embed": (channels, 16),
    }
    for name, (out_channels, stride) in sizes.items():
        graph.conv(graph.pooled("image", stride), 3, out_channels, name)
    outputs = [_tensor(name, [1, c, SIDE // s, SIDE // s]) for name, (c, s) in sizes.items()]
    return graph.save(path, [_tensor("image", [1, 3, SIDE, SIDE])], outputs)


def sam1_decoder(path: Path, *, channels: int = 8, ious=None, seed: int = 1) -> Path:
    """SAM 1 decoder (the samexporter names): 4 masks, ``masks`` at ``orig_im_size``."""
    graph = _Graph(seed)
    masks = len(RADII)
    low = _geometry(graph, "image_embeddings", channels, masks)
    extra = graph.op("Mul", graph.op("ReduceMean", "mask_input", keepdims=0), "has_mask_input")
    low = graph.op("Add", low, graph.op("Mul", extra, graph.const(1e-3)), output="low_res_masks")
    size = graph.op("Cast", "orig_im_size", to=TensorProto.INT64)
    sizes = graph.op("Concat", graph.const([1, masks], np.int64), size, axis=0)
    graph.op("Resize", low, "", "", sizes, mode="linear", output="masks")
    _ious(graph, masks, ious)
    inputs = [
        _tensor("image_embeddings", [1, channels, EMBED, EMBED]),
        _tensor("point_coords", [1, "num_points", 2]),
        _tensor("point_labels", [1, "num_points"]),
        _tensor("mask_input", [1, 1, LOW, LOW]),
        _tensor("has_mask_input", [1]),
        _tensor("orig_im_size", [2]),
    ]
    outputs = [
        _tensor("masks", [1, masks, "height", "width"]),
        _tensor("iou_predictions", [1, masks]),
        _tensor("low_res_masks", [1, masks, LOW, LOW]),
    ]
    return graph.save(path, inputs, outputs)


def sam2_decoder(path: Path, *, channels: int = 8, ious=None, seed: int = 1) -> Path:
    """SAM 2 decoder (the samexporter names): 3 low-resolution ``masks``."""
    graph = _Graph(seed)
    masks = 3
    low = _geometry(graph, "image_embed", channels, masks)
    for name in ("high_res_feats_0", "high_res_feats_1", "mask_input"):
        mean = graph.op("ReduceMean", name, keepdims=0)
        low = graph.op("Add", low, graph.op("Mul", graph.op("Tanh", mean), graph.const(1e-4)))
    low = graph.op("Add", low, graph.op("Mul", "has_mask_input", graph.const(0.0)), output="masks")
    _ious(graph, masks, ious)
    inputs = [
        _tensor("image_embed", [1, channels, EMBED, EMBED]),
        _tensor("high_res_feats_0", [1, channels // 4, LOW, LOW]),
        _tensor("high_res_feats_1", [1, channels // 2, LOW // 2, LOW // 2]),
        _tensor("point_coords", ["num_labels", "num_points", 2]),
        _tensor("point_labels", ["num_labels", "num_points"]),
        _tensor("mask_input", ["num_labels", 1, LOW, LOW]),
        _tensor("has_mask_input", ["num_labels"]),
    ]
    outputs = [_tensor("masks", [1, masks, LOW, LOW]), _tensor("iou_predictions", [1, masks])]
    return graph.save(path, inputs, outputs)


def _ious(graph: _Graph, masks: int, ious) -> None:
    values = graph.rng.uniform(0.1, 0.9, masks) if ious is None else ious
    graph.op("Identity", graph.const(np.reshape(values, (1, masks))), output="iou_predictions")


def _geometry(graph: _Graph, embedding: str, channels: int, masks: int) -> str:
    """[1, masks, 256, 256] logits: discs round positive points, the box, negatives cut out."""
    rows, cols = np.mgrid[0:LOW, 0:LOW]
    centres = np.stack([(cols + 0.5) * SIDE / LOW, (rows + 0.5) * SIDE / LOW], -1)
    grid = graph.const(centres.reshape(-1, 2))  # [P, 2] encoder pixels (x, y)
    points = graph.op("Reshape", "point_coords", graph.const([-1, 2], np.int64))  # [N, 2]
    labels = graph.op("Reshape", "point_labels", graph.const([-1, 1], np.int64))  # [N, 1]
    offsets = graph.op("Sub", graph.op("Unsqueeze", points, graph.const([1], np.int64)), grid)
    distance = graph.op(
        "Sqrt",
        graph.op(
            "ReduceSum", graph.op("Mul", offsets, offsets), graph.const([2], np.int64), keepdims=0
        ),
    )  # [N, P]

    def labelled(value: float) -> str:
        return graph.op("Cast", graph.op("Equal", labels, graph.const(value)), to=TensorProto.FLOAT)

    def nearest(value: float) -> str:  # [P]: distance to the nearest point with this label
        away = graph.op(
            "Mul", graph.op("Sub", graph.const(1.0), labelled(value)), graph.const(_BIG)
        )
        return graph.op("ReduceMin", graph.op("Add", distance, away), axes=[0], keepdims=0)

    def corner(value: float) -> str:  # [1, 2]
        return graph.op(
            "ReduceSum",
            graph.op("Mul", points, labelled(value)),
            graph.const([0], np.int64),
            keepdims=1,
        )

    radii = graph.const(np.reshape(RADII[:masks], (masks, 1)))
    near = graph.op(
        "Sub", radii, graph.op("Unsqueeze", nearest(1.0), graph.const([0], np.int64))
    )  # [M, P]
    inside = graph.op(
        "Concat", graph.op("Sub", grid, corner(2.0)), graph.op("Sub", corner(3.0), grid), axis=1
    )
    has_box = graph.op("ReduceSum", labelled(2.0), keepdims=0)
    box = graph.op(
        "Add",
        graph.op("ReduceMin", inside, axes=[1], keepdims=1),
        graph.op("Mul", graph.op("Sub", has_box, graph.const(1.0)), graph.const(_BIG)),
    )  # [P, 1]
    box = graph.op("Transpose", box, perm=[1, 0])  # [1, P]
    cut = graph.op("Sub", nearest(0.0), graph.const(NEGATIVE_RADIUS))
    logits = graph.op(
        "Min", graph.op("Max", near, box), graph.op("Unsqueeze", cut, graph.const([0], np.int64))
    )
    learned = graph.conv(embedding, channels, 1, "learned")
    grown = graph.op(
        "Resize", learned, "", "", graph.const([1, 1, LOW, LOW], np.int64), mode="linear"
    )
    noise = graph.op("Mul", graph.op("Tanh", grown), graph.const(1e-3))
    shaped = graph.op("Reshape", logits, graph.const([1, masks, LOW, LOW], np.int64))
    return graph.op("Add", shaped, noise)


def build_pair(
    folder: Path,
    layout: str = "sam1",
    *,
    name: str | None = None,
    ious=None,
    raw_input: bool = False,
) -> tuple[Path, Path]:
    """A tiny ``<name>.encoder.onnx`` / ``<name>.decoder.onnx`` pair of ``layout`` in
    ``folder``; returns (encoder, decoder)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = name or f"tiny_{layout}"
    encoder, decoder = folder / f"{name}.encoder.onnx", folder / f"{name}.decoder.onnx"
    if layout == "sam1":
        sam1_encoder(encoder, raw_input=raw_input)
        sam1_decoder(decoder, ious=ious)
    else:
        sam2_encoder(encoder)
        sam2_decoder(decoder, ious=ious)
    return encoder, decoder
