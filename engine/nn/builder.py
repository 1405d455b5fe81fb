"""Build a model from a yaml description: ``[from, repeats, block, args]`` rows.

Block names resolve through the explicit ``BLOCKS`` table; nothing read from a file is ever
evaluated. Channel widths and repeat counts scale with the chosen ``[depth, width, cap]``.

Building is planned first (each row's arguments, channels and stride, nothing allocated), so
a yaml, or a checkpoint's yaml, asking for absurd sizes (a width multiple of 1000) is refused
with the key and the limit instead of ending in an allocator traceback.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import ModelConfigError
from .blocks import C2, SPPF, C2f, Concat, Conv
from .heads import Classify, Detect, Pose, Segment

BLOCKS: dict[str, type[nn.Module]] = {
    "Conv": Conv,
    "C2f": C2f,
    "C2": C2,
    "SPPF": SPPF,
    "Concat": Concat,
    "Upsample": nn.Upsample,
    "nn.Upsample": nn.Upsample,
    "Classify": Classify,
    "Detect": Detect,
    "Segment": Segment,
    "Pose": Pose,
}
# Blocks whose first argument is an output width that scales with the model's width multiple.
_WIDTH_SCALED = (Conv, C2f, C2, SPPF)
# Blocks that take the repeat count as their own argument instead of being stacked.
_REPEATS_INSIDE = (C2f, C2)
_DETECTION_HEADS = (Detect, Segment, Pose)
# Bounds on what a yaml may ask for. The largest packaged model (yolov8x-pose-p6) has 99
# million parameters; a billion (4 GiB of float32 weights, about 20 GiB to train with
# gradients, optimizer moments and the EMA copy) leaves a wide margin for custom models while
# refusing widths that could only end in an allocation failure. The largest packaged repeat
# count after the depth multiple is 6; a hundred allows deep experiments, not runaway depths.
MAX_PARAMETERS = 1_000_000_000
MAX_REPEATS = 100
HEAD_TASKS: dict[type[nn.Module], str] = {
    Classify: "classify",
    Detect: "detect",
    Segment: "segment",
    Pose: "pose",
}


@dataclass(frozen=True)
class BuiltLayers:
    """What the builder produces: the layers, which outputs later layers read, and strides."""

    layers: list[nn.Module]
    saved: list[int]
    strides: list[float]
    task: str


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` up to a multiple of ``divisor``."""
    return int(math.ceil(value / divisor) * divisor)


def scaled_repeats(repeats: int, depth: float) -> int:
    """Repeat count after the depth multiple; single blocks stay single."""
    return max(round(repeats * depth), 1) if repeats > 1 else repeats


def build_layers(
    config: dict[str, Any],
    scale: tuple[float, float, float],
    *,
    in_channels: int = 3,
    source: str = "<model yaml>",
) -> BuiltLayers:
    """Instantiate every row of ``config['backbone'] + config['head']``.

    Raises ``ModelConfigError`` before allocating anything when the rows, at this scale, ask
    for more than ``MAX_PARAMETERS`` parameters or ``MAX_REPEATS`` repeats of a block.
    """
    plan = _plan_layers(config, scale, in_channels, source)
    _check_size(plan, config, scale, source)
    strides = [layer.stride for layer in plan]
    layers: list[nn.Module] = []
    saved: set[int] = set()
    for layer in plan:
        try:
            module = _construct(layer, strides)
        except (TypeError, ValueError, IndexError) as exc:
            raise ModelConfigError(
                f"layer {layer.index} ({layer.name} {layer.raw_args}) cannot be built: {exc}",
                path=source,
            ) from exc
        module.i, module.f, module.type = layer.index, layer.origin, layer.name
        module.np = sum(p.numel() for p in module.parameters())
        saved.update(_saved_sources(layer.origin, layer.index))
        layers.append(module)
    head = layers[-1]
    task = HEAD_TASKS.get(type(head))
    if task is None:
        raise ModelConfigError(
            f"the last layer is {type(head).__name__}; it must be a head "
            f"(Classify, Detect, Segment or Pose)",
            path=source,
        )
    return BuiltLayers(layers, sorted(saved), strides, task)


def parameter_estimate(
    config: dict[str, Any],
    scale: tuple[float, float, float],
    *,
    in_channels: int = 3,
    source: str = "<model yaml>",
) -> int:
    """The parameters the rows of ``config`` ask for at ``scale``, counted from their
    arguments without building anything (exact for the blocks in ``BLOCKS``)."""
    return sum(
        _layer_parameters(layer) for layer in _plan_layers(config, scale, in_channels, source)
    )


@dataclass(frozen=True)
class _PlannedLayer:
    """One row with its final arguments: what ``block(*args)`` will be called with."""

    index: int
    origin: Any
    name: str
    raw_args: list[Any]
    block: type[nn.Module]
    args: list[Any]
    repeats: int  # copies stacked in an nn.Sequential (C2f and C2 take theirs as an argument)
    out_channels: int
    stride: float
    sources: list[int]


def _plan_layers(
    config: dict[str, Any], scale: tuple[float, float, float], in_channels: int, source: str
) -> list[_PlannedLayer]:
    depth, width, cap = scale
    # Names a row's args may use; the reference's yaml also writes None as the string 'None'.
    symbols = {"nc": config["nc"], "kpt_shape": config.get("kpt_shape"), "None": None}
    channels: list[int] = []
    strides: list[float] = []
    plan: list[_PlannedLayer] = []
    for index, (origin, repeats, name, raw_args) in enumerate(_rows(config, source)):
        block = _lookup_block(name, index, source)
        sources = _check_origin(origin, index, source)
        args = [symbols.get(a, a) if isinstance(a, str) else a for a in raw_args]
        ctx = _LayerContext(index, source, in_channels, channels, strides, sources)
        count = scaled_repeats(int(repeats), depth)
        if count > MAX_REPEATS:
            raise ModelConfigError(
                f"layer {index} ({name}) repeats its block {count} times ({repeats} × depth "
                f"{depth:g}); at most {MAX_REPEATS} are built. Use a smaller depth multiple",
                path=source,
                key=_scale_key(config),
            )
        try:
            args, count, out_channels, out_stride = _layer_arguments(
                block, args, count, width, cap, ctx
            )
        except (TypeError, ValueError, IndexError) as exc:
            raise ModelConfigError(
                f"layer {index} ({name} {raw_args}) cannot be built: {exc}", path=source
            ) from exc
        plan.append(
            _PlannedLayer(
                index, origin, name, raw_args, block, args, count, out_channels, out_stride,
                sources,
            )
        )
        channels.append(out_channels)
        strides.append(out_stride)
    return plan


def _check_size(
    plan: list[_PlannedLayer],
    config: dict[str, Any],
    scale: tuple[float, float, float],
    source: str,
) -> None:
    """Refuse a plan past ``MAX_PARAMETERS``, naming the layer where it crosses."""
    total = 0
    for layer in plan:
        try:
            total += _layer_parameters(layer)
        except (TypeError, ValueError, IndexError):
            continue  # malformed arguments: building the layer reports them
        if total > MAX_PARAMETERS:
            depth, width, cap = scale
            raise ModelConfigError(
                f"layer {layer.index} ({layer.name}) brings the model to about "
                f"{total / 1e6:,.0f} million parameters; at most {MAX_PARAMETERS // 10**6:,} "
                f"million are built (the largest packaged model, yolov8x-pose-p6, has 99 "
                f"million). Check the scale (depth {depth:g}, width {width:g}, cap {cap:g}), "
                "the layer's channels and nc",
                path=source,
                key=_scale_key(config),
            )


def _scale_key(config: dict[str, Any]) -> str:
    """The yaml key that sets the scale: ``scales``, or the older ``width_multiple``."""
    return "scales" if config.get("scales") else "width_multiple"


@dataclass(frozen=True)
class _LayerContext:
    """What one row needs to know about the rows before it (index -1 is the input image)."""

    index: int
    source: str
    in_channels: int
    channels: list[int]
    strides: list[float]
    sources: list[int]

    def channel(self, i: int) -> int:
        return self.in_channels if i < 0 else self.channels[i]

    def stride(self, i: int) -> float:
        return 1.0 if i < 0 else self.strides[i]

    @property
    def first_in(self) -> tuple[int, float]:
        """Channels and stride of the (first) input."""
        return self.channel(self.sources[0]), self.stride(self.sources[0])


def _layer_arguments(
    block: type[nn.Module],
    args: list[Any],
    repeats: int,
    width: float,
    cap: float,
    ctx: _LayerContext,
) -> tuple[list[Any], int, int, float]:
    """A row's final arguments, stacked copies, output channels and output stride."""
    c_in, stride_in = ctx.first_in
    if block in _WIDTH_SCALED:
        c_out = make_divisible(min(args[0], cap) * width, 8)
        args = [c_in, c_out, *args[1:]]
        if block in _REPEATS_INSIDE:
            args.insert(2, repeats)
            repeats = 1
        stride = stride_in * (args[3] if block is Conv and len(args) > 3 else 1)
    elif block is Classify:
        c_out, stride = args[0], stride_in
        args = [c_in, *args]
    elif block is Concat:
        stride = _same_stride(ctx)
        c_out = sum(ctx.channel(i) for i in ctx.sources)
    elif block in _DETECTION_HEADS:
        if block is Segment:
            args[2] = make_divisible(min(args[2], cap) * width, 8)
        args.append([ctx.channel(i) for i in ctx.sources])
        c_out, stride = 0, stride_in
    elif block is nn.Upsample:
        factor = args[1] if len(args) > 1 else 1
        c_out, stride = c_in, stride_in / factor
    else:  # pragma: no cover - every entry of BLOCKS is handled above
        raise ModelConfigError(f"layer {ctx.index}: no rule for {block.__name__}", path=ctx.source)
    return args, repeats, c_out, stride


def _construct(layer: _PlannedLayer, strides: list[float]) -> nn.Module:
    block, args = layer.block, layer.args
    module = (
        block(*args)
        if layer.repeats == 1
        else nn.Sequential(*(block(*args) for _ in range(layer.repeats)))
    )
    if block in _DETECTION_HEADS:
        module.strides = tuple(int(1.0 if i < 0 else strides[i]) for i in layer.sources)
        module.initialize_biases()
    return module


# -- parameter counts from arguments (kept in step with blocks.py and heads.py) --------------


def _layer_parameters(layer: _PlannedLayer) -> int:
    block, args = layer.block, layer.args
    if block is Conv:
        kernel = args[2] if len(args) > 2 else 1
        groups = args[5] if len(args) > 5 else 1
        count = _conv(args[0], args[1], kernel, groups)
    elif block in _REPEATS_INSIDE:
        count = _csp(block, *args)
    elif block is SPPF:
        hidden = args[0] // 2
        count = _conv(args[0], hidden, 1) + _conv(4 * hidden, args[1], 1)
    elif block is Classify:
        hidden = Classify.hidden_channels
        count = _conv(args[0], hidden, 1) + hidden * args[1] + args[1]
    elif block in _DETECTION_HEADS:
        count = _head(block, args)
    else:  # Concat, Upsample: no parameters
        count = 0
    return count * layer.repeats


def _conv(c_in: int, c_out: int, kernel: int = 1, groups: int = 1) -> int:
    """``Conv``: a bias-free convolution and a batch norm (weight and bias)."""
    return c_in * c_out * kernel * kernel // groups + 2 * c_out


def _csp(
    block: type[nn.Module],
    c_in: int,
    c_out: int,
    n: int = 1,
    shortcut: bool = True,
    groups: int = 1,
    expansion: float = 0.5,
) -> int:
    """``C2f`` / ``C2``: split, ``n`` bottlenecks of two 3x3 convs, merge."""
    hidden = int(c_out * expansion)
    bottlenecks = n * (_conv(hidden, hidden, 3) + _conv(hidden, hidden, 3, groups))
    merged = (2 + n) * hidden if block is C2f else 2 * hidden
    return _conv(c_in, 2 * hidden, 1) + _conv(merged, c_out, 1) + bottlenecks


def _head(block: type[nn.Module], args: list[Any]) -> int:
    """``Detect`` and its kin: per level a box branch and a class branch (and a mask or
    keypoint branch), each two 3x3 convs and a biased 1x1 prediction conv."""
    num_classes, levels = args[0], args[-1]
    first = levels[0]
    reg = 4 * Detect.reg_max
    box_hidden = max(16, first // 4, reg)
    cls_hidden = max(first, min(num_classes, 100))
    count = Detect.reg_max  # the DFL's fixed 1x1 conv
    for c in levels:
        count += _branch(c, box_hidden, reg) + _branch(c, cls_hidden, num_classes)
    extra = 0
    if block is Segment:
        masks, proto = args[1], args[2]
        count += _conv(first, proto, 3) + proto * proto * 4 + proto
        count += _conv(proto, proto, 3) + _conv(proto, masks, 1)
        extra = masks
    elif block is Pose:
        extra = args[1][0] * args[1][1]
    if extra:
        hidden = max(first // 4, extra)
        count += sum(_branch(c, hidden, extra) for c in levels)
    return count


def _branch(c_in: int, hidden: int, c_out: int) -> int:
    return _conv(c_in, hidden, 3) + _conv(hidden, hidden, 3) + hidden * c_out + c_out


def _same_stride(ctx: _LayerContext) -> float:
    found = {ctx.stride(i) for i in ctx.sources}
    if len(found) != 1:
        raise ModelConfigError(
            f"layer {ctx.index} concatenates feature maps of different strides "
            f"{sorted(found)} (layers {ctx.sources}); check its 'from' list",
            path=ctx.source,
        )
    return found.pop()


def _rows(config: dict[str, Any], source: str) -> list[Sequence[Any]]:
    rows: list[Sequence[Any]] = []
    for section in ("backbone", "head"):
        value = config.get(section)
        if not isinstance(value, list) or not value:
            raise ModelConfigError(
                "must be a non-empty list of [from, repeats, block, args] rows",
                path=source,
                key=section,
            )
        rows.extend(value)
    for index, row in enumerate(rows):
        if not (isinstance(row, list | tuple) and len(row) == 4 and isinstance(row[3], list)):
            raise ModelConfigError(
                f"layer {index} is {row!r}; each row must be [from, repeats, block, [args]]",
                path=source,
            )
        if not isinstance(row[1], int) or row[1] < 1:
            raise ModelConfigError(
                f"layer {index} repeats must be a whole number >= 1, not {row[1]!r}", path=source
            )
    return rows


def _lookup_block(name: Any, index: int, source: str) -> type[nn.Module]:
    block = BLOCKS.get(name) if isinstance(name, str) else None
    if block is None:
        hint = difflib.get_close_matches(str(name), BLOCKS, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        raise ModelConfigError(
            f"layer {index} uses unknown block '{name}'{suggestion} "
            f"Known blocks: {', '.join(sorted(BLOCKS))}.",
            path=source,
        )
    return block


def _saved_sources(origin: int | list[int], index: int) -> list[int]:
    """Layers whose outputs must be kept: all inputs except the running ``-1`` one."""
    items = origin if isinstance(origin, list) else [origin]
    return [index + item if item < 0 else item for item in items if item != -1]


def _check_origin(origin: Any, index: int, source: str) -> list[int]:
    """Absolute layer indices a row reads from (-1 means the previous layer or the image)."""
    items = origin if isinstance(origin, list) else [origin]
    resolved = []
    for item in items:
        if not isinstance(item, int):
            raise ModelConfigError(
                f"layer {index}: 'from' must hold integers, not {item!r}", path=source
            )
        absolute = index + item if item < 0 else item
        if absolute >= index or absolute < -1:
            raise ModelConfigError(
                f"layer {index} reads from layer {item}, which does not come before it",
                path=source,
            )
        resolved.append(absolute)
    return resolved
