"""Detection outputs of the TensorFlow exports in image-size units (engine/export/tensorflow.py).

Box and keypoint coordinates are divided by the image width and height in the ONNX graph before
onnx2tf converts it (the SavedModel signature multiplies them back; TFLite keeps them divided,
so that int8 can quantise the output concatenation with one scale). This is graph surgery on the
ONNX model: the rows of the output concatenation that hold coordinates get a scale.
"""


from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

MASK_COEFFICIENTS = 32
"""Rows of ``output0`` a segment head adds after the class scores (engine/nn/heads.py)."""

log = logging.getLogger(__name__)


def normalize_coordinates(
    proto: Any, metadata: Mapping[str, Any], imgsz: tuple[int, int]
) -> np.ndarray | None:
    """Rebuild a detection ``output0`` from its parts, coordinates divided by the image size.

    ``output0`` is a Concat of the boxes, the class scores and the mask coefficients or the
    keypoints. Each part is multiplied by its rows' factors (1/width for x and w, 1/height for
    y and h) before the Concat, so that it concatenates values of similar range.

    Pose keypoints are assembled by ScatterND (visibility, then x, then y into every third
    row), which TFLite int8 gets wrong: a scatter's output keeps the scale of what is written
    into it, so raw keypoints read back from it were clipped (keypoints came out 20-400x off).
    The parts join the Concat directly (a Gather puts the rows in order), and the raw rows are
    read from before the scatters (which are then dropped). Returns the factors that restore
    pixels per row of ``output0`` (``[rows]``), or None (graph unchanged) for classify models
    and graphs of another shape.
    """
    import onnx

    graph = proto.graph
    if len(graph.output[0].type.tensor_type.shape.dim) != 3:  # a classifier's [N, classes]
        return None
    rows = _row_scales(metadata, imgsz)
    nodes = {output: node for node in graph.node for output in node.output}
    concat = nodes.get(graph.output[0].name)
    axis = next((a.i for a in concat.attribute if a.name == "axis"), None) if concat else None
    if concat is None or concat.op_type != "Concat" or axis != 1:
        return None
    inferred = onnx.shape_inference.infer_shapes(proto)
    parts = _output_parts(graph, inferred, nodes, list(concat.input))
    if parts is None or sorted(c for _, rows_of in parts for c in rows_of) != list(
        range(len(rows))
    ):
        return None
    _rebuild_output(graph, concat, parts, rows)
    _bypass_scatters(graph, inferred)
    _drop_unused_nodes(graph)
    onnx.checker.check_model(proto)
    return rows


def _row_scales(metadata: Mapping[str, Any], imgsz: tuple[int, int]) -> np.ndarray:
    """Per row of ``output0``: the width for x (and w), the height for y (and h), else 1."""
    height, width = imgsz
    keypoints, ndim = metadata.get("kpt_shape") or (0, 0)
    # after the boxes and class scores: a keypoint head's K × ndim rows, a mask head's 32
    # coefficients (the segment task's), or nothing
    extra = keypoints * ndim or (MASK_COEFFICIENTS if metadata["task"] == "segment" else 0)
    first = 4 + len(metadata["names"])
    rows = np.ones(first + extra, dtype=np.float64)
    rows[[0, 2]], rows[[1, 3]] = width, height
    if keypoints:
        rows[first : first + extra : ndim] = width
        rows[first + 1 : first + extra : ndim] = height
    return rows


def _output_parts(
    graph: Any, inferred: Any, nodes: Mapping[str, Any], inputs: list[str]
) -> list[tuple[str, list[int]]] | None:
    """``(tensor, rows of output0 it fills)`` for each input of the Concat, ScatterND chains
    (every row written once, by constant indices) replaced by their updates."""
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in
              [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]}
    parts, start = [], 0
    for name in inputs:
        shape = shapes.get(name)
        if shape is None or len(shape) != 3 or not shape[1]:
            return None
        scattered = _scattered_rows(graph, nodes, name, shape[0], shape[1])
        for part, local_rows in scattered or [(name, list(range(shape[1])))]:
            parts.append((part, [start + row for row in local_rows]))
        start += shape[1]
    return parts


def _scattered_rows(
    graph: Any, nodes: Mapping[str, Any], name: str, batch: int, channels: int
) -> list[tuple[str, list[int]]] | None:
    """For a tensor made by ScatterND writes that cover all its rows: each update and the rows
    it writes; else None."""
    constants = _constants(graph)
    writes, written = [], []
    node = nodes.get(name)
    while node is not None and node.op_type == "ScatterND":
        rows = _scatter_rows(constants.get(node.input[1]), batch)
        if rows is None:
            return None
        writes.append((node.input[2], rows))
        written += rows
        node = nodes.get(node.input[0])
    if not writes or sorted(written) != list(range(channels)):
        return None
    return writes[::-1]


def _bypass_scatters(graph: Any, inferred: Any) -> None:
    """Slices that read rows a ScatterND did not write read them from its input instead.

    Pose decoding reads the raw x (y) rows back from the tensor the visibility (x) was
    scattered into; once these reads go around them, the scatters feed nothing and are dropped.
    """
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in
              [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]}
    constants = _constants(graph)
    nodes = {output: node for node in graph.node for output in node.output}
    for node in graph.node:
        if node.op_type != "Slice":
            continue
        source = nodes.get(node.input[0])
        while source is not None and source.op_type == "ScatterND":
            shape = shapes.get(source.input[0]) or [0, 0]
            written = _scatter_rows(constants.get(source.input[1]), shape[0])
            read = _sliced_rows(node, constants, shape[1]) if len(shape) > 1 else None
            if written is None or read is None or set(written) & set(read):
                break
            node.input[0] = source.input[0]
            source = nodes.get(source.input[0])


def _sliced_rows(node: Any, constants: Mapping[str, np.ndarray], channels: int) -> list[int] | None:
    """The rows (axis 1) a Slice with constant arguments takes; None for other slices."""
    values = [constants.get(name) for name in node.input[1:]]
    if len(values) < 3 or any(v is None for v in values) or values[2].tolist() != [1]:
        return None
    start, end = int(values[0][0]), int(values[1][0])
    step = int(values[3][0]) if len(values) > 3 else 1
    return np.arange(channels)[start:end:step].tolist()


def _scatter_rows(indices: np.ndarray | None, batch: int) -> list[int] | None:
    """The rows a ScatterND writes when its indices are ``(n, row)`` pairs with the same rows
    for every image of the batch; else None."""
    if indices is None or indices.ndim != 3 or indices.shape[0] != batch:
        return None
    if indices.shape[-1] != 2 or not (
        (indices[..., 0] == np.arange(batch)[:, None]).all()
        and (indices[..., 1] == indices[:1, :, 1]).all()
    ):
        return None
    return [int(r) for r in indices[0, :, 1]]


def _constants(graph: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _rebuild_output(
    graph: Any, concat: Any, parts: list[tuple[str, list[int]]], rows: np.ndarray
) -> None:
    """``output0 = Gather(Concat(part * factors ...), order)`` (no Gather when in order)."""
    from onnx import helper, numpy_helper

    inputs, added, order = [], [], []
    for index, (name, part_rows) in enumerate(parts):
        order += part_rows
        factors = 1.0 / rows[part_rows]
        if np.all(factors == 1.0):
            inputs.append(name)
            continue
        constant, scaled = f"output0/part{index}/scale", f"output0/part{index}/normalized"
        values = factors.reshape(1, len(part_rows), 1).astype(np.float32)
        graph.initializer.append(numpy_helper.from_array(values, constant))
        added.append(helper.make_node("Mul", [name, constant], [scaled],
                                      name=f"output0/part{index}/normalize"))
        inputs.append(scaled)
    output = concat.output[0]
    del concat.input[:]
    concat.input.extend(inputs)
    if order != sorted(order):
        gathered = np.argsort(np.asarray(order)).astype(np.int64)
        graph.initializer.append(numpy_helper.from_array(gathered, "output0/order"))
        concat.output[0] = "output0/unordered"
        graph.node.append(helper.make_node("Gather", ["output0/unordered", "output0/order"],
                                           [output], axis=1, name="output0/order"))
    _insert_before(graph, concat, added)


def _drop_unused_nodes(graph: Any) -> None:
    """Remove nodes whose outputs nothing uses (the ScatterND chain after a rebuild)."""
    while True:
        used = {name for node in graph.node for name in node.input}
        used |= {output.name for output in graph.output}
        dead = [node for node in graph.node if not any(o in used for o in node.output)]
        if not dead:
            return
        kept = [node for node in graph.node if all(node is not d for d in dead)]
        _replace_nodes(graph, kept)


def _insert_before(graph: Any, producer: Any, nodes: list[Any]) -> None:
    """Put ``nodes`` just before ``producer``: ONNX wants nodes in topological order."""
    ordered = []
    for node in graph.node:
        if node is producer:
            ordered += nodes
        ordered.append(node)
    _replace_nodes(graph, ordered)


def _replace_nodes(graph: Any, nodes: list[Any]) -> None:
    copies = []
    for node in nodes:
        copies.append(type(node)())
        copies[-1].CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)
