"""Build a model from a yaml description: ``[from, repeats, block, args]`` rows.

Block names resolve through the explicit ``BLOCKS`` table; nothing read from a file is ever
evaluated. Channel widths and repeat counts scale with the chosen ``[depth, width, cap]``.
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
    """Instantiate every row of ``config['backbone'] + config['head']``."""
    depth, width, cap = scale
    # Names a row's args may use; the reference's yaml also writes None as the string 'None'.
    symbols = {"nc": config["nc"], "kpt_shape": config.get("kpt_shape"), "None": None}
    rows = _rows(config, source)
    channels: list[int] = []
    strides: list[float] = []
    layers: list[nn.Module] = []
    saved: set[int] = set()
    for index, (origin, repeats, name, raw_args) in enumerate(rows):
        block = _lookup_block(name, index, source)
        sources = _check_origin(origin, index, source)
        args = [symbols.get(a, a) if isinstance(a, str) else a for a in raw_args]
        ctx = _LayerContext(index, source, in_channels, channels, strides, sources)
        try:
            module, out_channels, out_stride = _instantiate(
                block, args, scaled_repeats(int(repeats), depth), width, cap, ctx
            )
        except (TypeError, ValueError, IndexError) as exc:
            raise ModelConfigError(
                f"layer {index} ({name} {raw_args}) cannot be built: {exc}", path=source
            ) from exc
        module.i, module.f, module.type = index, origin, name
        module.np = sum(p.numel() for p in module.parameters())
        saved.update(_saved_sources(origin, index))
        layers.append(module)
        channels.append(out_channels)
        strides.append(out_stride)
    head = layers[-1]
    task = HEAD_TASKS.get(type(head))
    if task is None:
        raise ModelConfigError(
            f"the last layer is {type(head).__name__}; it must be a head "
            f"(Classify, Detect, Segment or Pose)",
            path=source,
        )
    return BuiltLayers(layers, sorted(saved), strides, task)


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


def _instantiate(
    block: type[nn.Module],
    args: list[Any],
    repeats: int,
    width: float,
    cap: float,
    ctx: _LayerContext,
) -> tuple[nn.Module, int, float]:
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
    module = (
        block(*args) if repeats == 1 else nn.Sequential(*(block(*args) for _ in range(repeats)))
    )
    if block in _DETECTION_HEADS:
        module.strides = tuple(int(ctx.stride(i)) for i in ctx.sources)
        module.initialize_biases()
    return module, c_out, stride


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
