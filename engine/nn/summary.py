"""``model.info()``: a layer table, parameter and gradient counts, and GFLOPs."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .flops import count_flops, default_imgsz
from .model import TaskModel


@dataclass(frozen=True)
class LayerRow:
    index: int
    origin: int | list[int]
    repeats: int
    parameters: int
    block: str


@dataclass(frozen=True)
class ModelSummary:
    """What ``info()`` reports; ``str()`` renders it as a table."""

    name: str
    layers: list[LayerRow]
    modules: int
    parameters: int
    gradients: int
    gflops: float
    imgsz: int
    fused: bool

    def __str__(self) -> str:
        lines = [f"{'':>3}{'from':>20}{'n':>3}{'params':>12}  block"]
        for row in self.layers:
            lines.append(
                f"{row.index:>3}{str(row.origin):>20}{row.repeats:>3}"
                f"{row.parameters:>12,}  {row.block}"
            )
        lines.append(
            f"{self.name} summary{' (fused)' if self.fused else ''}: {self.modules} layers, "
            f"{self.parameters:,} parameters, {self.gradients:,} gradients, "
            f"{self.gflops:.1f} GFLOPs at {self.imgsz}x{self.imgsz}"
        )
        return "\n".join(lines)


def summarize(model: TaskModel, imgsz: int | None = None) -> ModelSummary:
    """Count everything ``info()`` shows; FLOPs come from a meta-device twin (no compute)."""
    size = imgsz or default_imgsz(model)
    rows = [
        LayerRow(
            layer.i,
            layer.f,
            _repeats(layer),
            sum(p.numel() for p in layer.parameters()),
            layer.type,
        )
        for layer in model.model
    ]
    name = model.yaml.get("yaml_file") or "model"
    return ModelSummary(
        name=str(name).removesuffix(".yaml").removesuffix(".yml"),
        layers=rows,
        modules=len(list(model.modules())),
        parameters=model.num_parameters(),
        gradients=model.num_parameters(trainable_only=True),
        gflops=count_flops(model, size, fused=True),
        imgsz=size,
        fused=model.is_fused,
    )


def _repeats(layer: nn.Module) -> int:
    inner = getattr(layer, "m", None)
    if isinstance(inner, nn.ModuleList | nn.Sequential):
        return len(inner)
    return len(layer) if isinstance(layer, nn.Sequential) else 1
