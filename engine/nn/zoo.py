"""Model names and yaml files: ``yolov8m-seg.yaml`` means the packaged segment yaml at scale m.

A yaml on disk in the same schema works too. ``build_model`` is the one entry point.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ModelConfigError
from ..utils.safe_yaml import safe_load_bounded
from .model import TaskModel

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).parent / "configs"
# Name suffix -> packaged yaml. The scale letter sits between "yolov8" and the suffix.
VARIANTS: dict[str, str] = {
    "": "yolov8.yaml",
    "-cls": "yolov8-cls.yaml",
    "-seg": "yolov8-seg.yaml",
    "-pose": "yolov8-pose.yaml",
    "-pose-p6": "yolov8-pose-p6.yaml",
}
_NAME = re.compile(r"^yolov8(?P<scale>[a-z0-9]*?)(?P<variant>-[a-z0-9-]+)?\.(?:ya?ml|pt)$")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model yaml and the scale chosen for it."""

    config: dict[str, Any]
    scale_name: str
    scale: tuple[float, float, float]
    source: str


def zoo_names(extension: str = ".yaml") -> list[str]:
    """Every packaged model name, e.g. ``yolov8n-cls.yaml`` ... ``yolov8x-pose-p6.yaml``."""
    names = []
    for variant, filename in VARIANTS.items():
        for scale in _read_yaml(CONFIG_DIR / filename)["scales"]:
            names.append(f"yolov8{scale}{variant}{extension}")
    return names


def parse_zoo_name(name: str) -> tuple[str, str] | None:
    """``('m', '-seg')`` for ``yolov8m-seg.yaml``; None when the name is not a zoo name."""
    match = _NAME.match(Path(name).name.lower())
    if not match:
        return None
    return match["scale"], match["variant"] or ""


def resolve_model_spec(source: str | Path | dict[str, Any]) -> ModelSpec:
    """Find and parse the yaml for a zoo name, a yaml path, or an already-parsed dict."""
    if isinstance(source, dict):
        return _spec_from_config(copy.deepcopy(source), None, "<model config>")
    path = Path(source)
    if path.is_file():
        parsed = parse_zoo_name(path.name)
        return _spec_from_config(_read_yaml(path), parsed[0] if parsed else None, str(path))
    parsed = parse_zoo_name(path.name)
    if parsed is None or parsed[1] not in VARIANTS:
        known = ", ".join(f"yolov8n{v}.yaml" for v in VARIANTS)
        raise ModelConfigError(
            f"no such file, and not a model name this engine knows (e.g. {known})", path=source
        )
    scale, variant = parsed
    packaged = CONFIG_DIR / VARIANTS[variant]
    config = _read_yaml(packaged)
    if scale and scale not in config["scales"]:
        raise ModelConfigError(
            f"unknown scale '{scale}'; {packaged.name} has scales "
            f"{', '.join(config['scales'])} (e.g. yolov8n{variant}.yaml)",
            path=str(source),
        )
    return _spec_from_config(config, scale or None, str(source))


def build_model(
    source: str | Path | dict[str, Any],
    *,
    num_classes: int | None = None,
    keypoint_shape: tuple[int, int] | list[int] | None = None,
    in_channels: int | None = None,
) -> TaskModel:
    """Build a fresh model. The overrides replace the yaml's ``nc``, ``kpt_shape`` and ``ch``."""
    spec = resolve_model_spec(source)
    config = spec.config
    if num_classes is not None:
        config["nc"] = _check_num_classes(num_classes, spec.source)
    if keypoint_shape is not None:
        config["kpt_shape"] = _check_keypoint_shape(keypoint_shape, spec.source)
    channels = (
        in_channels if in_channels is not None else config.get("ch", config.get("channels", 3))
    )
    if not isinstance(channels, int) or channels < 1:
        raise ModelConfigError(
            f"input channels must be a whole number >= 1, not {channels!r}",
            path=spec.source,
            key="ch",
        )
    model = TaskModel(config, spec.scale, in_channels=channels, source=spec.source)
    model.yaml["scale"] = spec.scale_name
    model.yaml["yaml_file"] = Path(spec.source).name if spec.source[0] != "<" else None
    return model


def _spec_from_config(config: Any, scale_name: str | None, source: str) -> ModelSpec:
    if not isinstance(config, dict):
        raise ModelConfigError(
            "a model yaml must be a mapping with nc, scales, backbone, head", path=source
        )
    config["nc"] = _check_num_classes(config.get("nc"), source)
    if config.get("kpt_shape") is not None:
        config["kpt_shape"] = _check_keypoint_shape(config["kpt_shape"], source)
    scales = config.get("scales")
    if not scales:
        depth = float(config.get("depth_multiple", 1.0))
        width = float(config.get("width_multiple", 1.0))
        scale = _positive_scale((depth, width, float("inf")), source, "width_multiple")
        return ModelSpec(config, scale_name or "", scale, source)
    if not isinstance(scales, dict):
        raise ModelConfigError(
            "must map scale letters to [depth, width, cap]", path=source, key="scales"
        )
    chosen = scale_name or config.get("scale")
    if not chosen:
        chosen = next(iter(scales))
        log.warning("%s names no scale; using scale '%s'", source, chosen)
    if chosen not in scales:
        raise ModelConfigError(
            f"unknown scale '{chosen}'; this yaml has scales {', '.join(scales)}",
            path=source,
            key="scale",
        )
    values = scales[chosen]
    if not (
        isinstance(values, list)
        and len(values) == 3
        and all(isinstance(v, int | float) for v in values)
    ):
        raise ModelConfigError(
            f"scale '{chosen}' must be [depth, width, cap], not {values!r}",
            path=source,
            key="scales",
        )
    scale = _positive_scale(tuple(float(v) for v in values), source, "scales")
    return ModelSpec(config, chosen, scale, source)


def _positive_scale(
    scale: tuple[float, ...], source: str, key: str
) -> tuple[float, float, float]:
    """``(depth, width, cap)``, each above 0 (a zero width builds empty layers, a negative
    one fails deep in torch). Their upper bounds are the builder's size limits."""
    for name, value in zip(("depth", "width", "cap"), scale, strict=True):
        if not value > 0:  # also refuses NaN
            raise ModelConfigError(
                f"the scale's {name} must be above 0, not {value:g} (scales map a letter to "
                "[depth, width, cap], e.g. n: [0.33, 0.25, 1024])",
                path=source,
                key=key,
            )
    depth, width, cap = scale
    return depth, width, cap


def _check_num_classes(value: Any, source: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ModelConfigError(
            f"number of classes must be a whole number >= 1, not {value!r}", path=source, key="nc"
        )
    return value


def _check_keypoint_shape(value: Any, source: str) -> list[int]:
    ok = (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) for v in value)
        and value[0] >= 1
        and value[1] in (2, 3)
    )
    if not ok:
        raise ModelConfigError(
            f"keypoint shape must be [K, 2] or [K, 3] with K >= 1, not {value!r}",
            path=source,
            key="kpt_shape",
        )
    return [int(value[0]), int(value[1])]


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelConfigError(f"cannot read: {exc.strerror or exc}", path=path) from exc
    try:
        return safe_load_bounded(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ModelConfigError(
            f"not valid yaml: {exc.problem}",
            path=path,
            line=mark.line + 1 if mark is not None else None,
        ) from exc
    except yaml.YAMLError as exc:
        raise ModelConfigError(f"not valid yaml: {exc}", path=path) from exc
