"""The task model: a list of layers wired by their ``from`` indices, plus fuse/info/FLOPs."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .blocks import DETECTION_BN_EPS, DETECTION_BN_MOMENTUM, Conv
from .builder import build_layers
from .heads import Detect, Pose


class TaskModel(nn.Module):
    """A YOLOv8 network for one task. ``model.model[i]`` is layer ``i`` of its yaml.

    The state-dict names (``model.0.conv.weight`` ...) are those of the official checkpoints.
    """

    def __init__(
        self,
        config: dict[str, Any],
        scale: tuple[float, float, float],
        *,
        in_channels: int = 3,
        source: str = "<model yaml>",
    ) -> None:
        super().__init__()
        built = build_layers(config, scale, in_channels=in_channels, source=source)
        self.yaml = copy.deepcopy(config)
        self.yaml["ch"] = in_channels
        self.model = nn.ModuleList(built.layers)
        self.save = built.saved
        self.task = built.task
        self.names: dict[int, str] = {i: f"class{i}" for i in range(int(config["nc"]))}
        # Pose models: the training data's ``kpt_names``, ``skeleton`` and ``flip_idx`` (the
        # keys present), kept so predictions draw the dataset's own limbs.
        self.keypoint_layout: dict[str, list] = {}
        if self.task != "classify":
            self.set_batchnorm(eps=DETECTION_BN_EPS, momentum=DETECTION_BN_MOMENTUM)
        head = self.model[-1]
        self.strides: tuple[int, ...] = tuple(
            int(s) for s in (head.strides if isinstance(head, Detect) else (built.strides[-1],))
        )
        self.register_buffer(
            "stride", torch.tensor(self.strides, dtype=torch.float32), persistent=False
        )

    @property
    def head(self) -> nn.Module:
        """The last layer: Classify, Detect, Segment or Pose."""
        return self.model[-1]

    @property
    def num_classes(self) -> int:
        return int(self.yaml["nc"])

    @property
    def in_channels(self) -> int:
        return int(self.yaml["ch"])

    @property
    def keypoint_shape(self) -> tuple[int, int] | None:
        return self.head.kpt_shape if isinstance(self.head, Pose) else None

    def forward(self, x: torch.Tensor):
        outputs: list[torch.Tensor | None] = []
        for layer in self.model:
            if layer.f != -1:
                x = (
                    outputs[layer.f]
                    if isinstance(layer.f, int)
                    else [x if j == -1 else outputs[j] for j in layer.f]
                )
            x = layer(x)
            outputs.append(x if layer.i in self.save else None)
        return x

    def fuse(self) -> TaskModel:
        """Fold every batch norm into its convolution; outputs stay the same in eval mode."""
        for module in self.modules():
            if isinstance(module, Conv):
                module.fuse()
        return self

    @property
    def is_fused(self) -> bool:
        return not any(isinstance(m, nn.BatchNorm2d) for m in self.modules())

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def set_batchnorm(self, *, eps: float, momentum: float) -> None:
        """Set eps and momentum of every batch norm (they differ between task families)."""
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eps, module.momentum = eps, momentum
