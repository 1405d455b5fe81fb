"""Import checkpoints written by the reference package without that package, safely.

Such a file is a pickled module tree. We load it with ``torch.load(weights_only=True)`` and
an allowlist that maps each permitted class name onto an *inert placeholder*: a class that
only stores the state it is given. Tensors come from torch's own rebuilders. Any other
global refuses the whole file before a byte of it is unpickled, naming the class. No code
from the file runs, and nothing of the reference package is needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError

# torch.nn layers and containers a reference model tree is made of.
ALLOWED_TORCH_CLASSES = frozenset(
    f"torch.nn.modules.{path}"
    for path in (
        "activation.SiLU",
        "activation.ReLU",
        "activation.LeakyReLU",
        "activation.Sigmoid",
        "activation.Hardswish",
        "activation.GELU",
        "batchnorm.BatchNorm2d",
        "container.ModuleList",
        "container.Sequential",
        "conv.Conv2d",
        "conv.ConvTranspose2d",
        "dropout.Dropout",
        "linear.Identity",
        "linear.Linear",
        "pooling.AdaptiveAvgPool2d",
        "pooling.MaxPool2d",
        "upsampling.Upsample",
    )
)
# The reference's own classes (any of its versions) and the torchvision transforms its
# classifiers carry: only their names and stored state are kept, never their behaviour.
_PLACEHOLDER_NAMESPACES = re.compile(r"^(ultralytics\.[\w.]+|torchvision\.transforms\.[\w.]+)$")


class InertObject:
    """Stands in for a class from the file: it accepts any arguments and keeps the state."""

    qualified_name = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    @property
    def attributes(self) -> dict[str, Any]:
        state = getattr(self, "state", None)
        return state if isinstance(state, dict) else {}


@dataclass
class OfficialCheckpoint:
    """What an official checkpoint holds once imported: plain data, no live objects."""

    state_dict: dict[str, torch.Tensor]
    model_yaml: dict[str, Any]
    names: dict[int, str]
    model_class: str
    batchnorm_eps: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def is_allowed_global(name: str) -> bool:
    return name in ALLOWED_TORCH_CLASSES or bool(_PLACEHOLDER_NAMESPACES.match(name))


def read_official_checkpoint(path: str | Path, unsafe_globals: list[str]) -> OfficialCheckpoint:
    """Unpickle ``path`` with placeholders for ``unsafe_globals`` (all must be allowed)."""
    refused = sorted(name for name in unsafe_globals if not is_allowed_global(name))
    if refused:
        raise CheckpointError(
            f"refused: the file asks to load class '{refused[0]}'"
            + (f" (and {len(refused) - 1} more)" if len(refused) > 1 else "")
            + ", which a model checkpoint has no use for. Nothing from it was run. Use a "
            "checkpoint from a source you trust, or re-export it as plain weights.",
            path=path,
        )
    placeholders = [(_placeholder_class(name), name) for name in unsafe_globals]
    with torch.serialization.safe_globals(placeholders):
        raw = torch.load(path, map_location="cpu", weights_only=True)
    return _to_official(raw, path)


def _placeholder_class(qualified_name: str) -> type[InertObject]:
    short = qualified_name.rsplit(".", 1)[-1]
    return type(short, (InertObject,), {"qualified_name": qualified_name})


def _to_official(raw: Any, path: str | Path) -> OfficialCheckpoint:
    if not isinstance(raw, dict):
        raise CheckpointError("not a checkpoint: expected a dict with a 'model' entry", path=path)
    root = raw.get("ema") or raw.get("model")
    if not isinstance(root, InertObject):
        raise CheckpointError(
            "holds no model (neither 'ema' nor 'model' is a module tree)", path=path
        )
    attributes = root.attributes
    model_yaml = attributes.get("yaml")
    if not isinstance(model_yaml, dict):
        raise CheckpointError("the model in this file carries no architecture yaml", path=path)
    names = attributes.get("names") or {}
    if isinstance(names, list | tuple):
        names = dict(enumerate(names))
    metadata = {k: v for k, v in raw.items() if k not in ("model", "ema", "optimizer")}
    metadata["model_args"] = _plain(attributes.get("args"))
    return OfficialCheckpoint(
        state_dict=collect_state_dict(root),
        model_yaml=model_yaml,
        names={int(k): str(v) for k, v in names.items()},
        model_class=root.qualified_name,
        batchnorm_eps=collect_batchnorm_eps(root),
        metadata=metadata,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, InertObject):
        return _plain(value.attributes)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def collect_state_dict(node: InertObject, prefix: str = "") -> dict[str, torch.Tensor]:
    """Walk the placeholder tree and gather parameters and persistent buffers by name."""
    attributes = node.attributes
    found: dict[str, torch.Tensor] = {}
    for name, value in (attributes.get("_parameters") or {}).items():
        if value is not None:
            found[prefix + name] = value.detach()
    skip = attributes.get("_non_persistent_buffers_set") or set()
    for name, value in (attributes.get("_buffers") or {}).items():
        if value is not None and name not in skip:
            found[prefix + name] = value
    for name, child in (attributes.get("_modules") or {}).items():
        if isinstance(child, InertObject):
            found.update(collect_state_dict(child, f"{prefix}{name}."))
    return found


def collect_batchnorm_eps(node: InertObject, prefix: str = "") -> dict[str, float]:
    """``{module path: eps}`` of every batch norm in the tree (outputs depend on it)."""
    found: dict[str, float] = {}
    for name, child in (node.attributes.get("_modules") or {}).items():
        if not isinstance(child, InertObject):
            continue
        path = f"{prefix}{name}"
        eps = child.attributes.get("eps")
        if child.qualified_name.endswith("BatchNorm2d") and isinstance(eps, float):
            found[path] = eps
        found.update(collect_batchnorm_eps(child, path + "."))
    return found
