"""Every train / val / predict / export setting, typed, with the reference's default values.

``Settings`` is validated once at the edge (CLI, API, studio); code inside receives plain
arguments. Unknown keys are errors that suggest the closest known key.
"""

from __future__ import annotations

import difflib
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from ..errors import SettingsError

Task = Literal["classify", "detect", "segment", "pose"]
Mode = Literal["train", "val", "predict", "export", "benchmark", "info"]
ImageSize = int | list[int]
# The largest image side accepted. Letterboxing imgsz=100000 asks for a 30 GB array before any
# model runs; at 8192 px the first layer's output of the smallest model is already 1 GiB per
# image (16 channels at 4096 x 4096 in float32), so larger sides cannot train or predict on
# any machine this runs on. Official models train at 640 and 1280.
MAX_IMGSZ = 8192


class Settings(BaseModel):
    """One flat, typed namespace of settings; defaults follow the reference implementation."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    # --- what to run
    task: Task | None = None
    mode: Mode = "train"
    model: str | None = None
    data: str | None = None

    # --- training
    epochs: int = Field(100, ge=1)
    time: float | None = Field(None, ge=0, description="hours; overrides epochs when set")
    patience: int = Field(100, ge=0)
    batch: int | float = 16
    imgsz: ImageSize = 640
    save: bool = True
    save_period: int = -1
    cache: bool | Literal["ram", "disk"] = False
    device: str | int | list[int] | None = None
    # The reference's default; the loaders use at most one thread per CPU (effective_workers)
    workers: int = Field(8, ge=0, description="loader threads; at most the CPU count is used")
    project: str | None = None
    name: str | None = None
    exist_ok: bool = False
    pretrained: bool | str = True
    optimizer: Literal["auto", "SGD", "Adam", "Adamax", "AdamW", "NAdam", "RAdam", "RMSProp"] = (
        "auto"
    )
    verbose: bool = True
    seed: int = 0
    deterministic: bool = True
    single_cls: bool = False
    rect: bool = False
    cos_lr: bool = False
    close_mosaic: int = Field(10, ge=0)
    resume: bool | str = False
    amp: bool = True
    fraction: float = Field(1.0, gt=0, le=1)
    profile: bool = False
    freeze: int | list[int] | None = None
    multi_scale: bool = False
    compile: bool = False

    # --- segmentation and classification training
    overlap_mask: bool = True
    mask_ratio: int = Field(4, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)

    # --- validation
    val: bool = True
    split: Literal["train", "val", "test"] = "val"
    save_json: bool = False
    conf: float | None = Field(None, ge=0, le=1)
    iou: float = Field(0.7, ge=0, le=1)
    max_det: int = Field(300, ge=1)
    # How AP integrates the precision-recall curve: "coco" as pycocotools (a perfect model
    # scores 1.0), "trapezoid" as the Ultralytics reference (a perfect model scores 0.995), to
    # compare with figures it printed. Detection-family tasks (segment, pose).
    ap_method: Literal["coco", "trapezoid"] = "coco"
    half: bool = False
    dnn: bool = False
    plots: bool = True

    # --- prediction
    # a path, glob or URL; a camera index (0); or a list of these
    source: str | int | list[str | int] | None = None
    vid_stride: int = Field(1, ge=1)
    stream_buffer: bool = False
    visualize: bool = False
    augment: bool = False
    agnostic_nms: bool = False
    classes: list[int] | None = None
    retina_masks: bool = False
    embed: list[int] | None = None
    # What runs a .pt on the CPU for predict and val: "auto" picks the fastest runtime installed
    # that passes the export parity check (compiled once, cached: engine/api/runtime_cache.py);
    # the others force one. Training, CUDA and MPS run PyTorch.
    runtime: Literal["auto", "torch", "openvino", "onnxruntime"] = "auto"

    # --- visualisation
    show: bool = False
    save_frames: bool = False
    save_txt: bool = False
    save_conf: bool = False
    save_crop: bool = False
    show_labels: bool = True
    show_conf: bool = True
    show_boxes: bool = True
    line_width: int | None = None

    # --- export. The format options (these and half, above) are declared by
    # engine/export/base.py's ExportOptions; tests/engine/export/test_export_options.py holds
    # their names and defaults equal to these.
    format: str = "torchscript"
    keras: bool = False
    optimize: bool = False
    int8: bool = False
    dynamic: bool = False
    simplify: bool = True
    opset: int | None = None
    workspace: float | None = None
    nms: bool = False

    # --- hyperparameters
    lr0: float = Field(0.01, ge=0)
    lrf: float = Field(0.01, ge=0)
    momentum: float = Field(0.937, ge=0, le=1)
    weight_decay: float = Field(0.0005, ge=0)
    warmup_epochs: float = Field(3.0, ge=0)
    warmup_momentum: float = Field(0.8, ge=0, le=1)
    warmup_bias_lr: float = Field(0.1, ge=0)
    box: float = Field(7.5, ge=0)
    cls: float = Field(0.5, ge=0)
    dfl: float = Field(1.5, ge=0)
    pose: float = Field(12.0, ge=0)
    kobj: float = Field(1.0, ge=0)
    nbs: int = Field(64, ge=1)
    hsv_h: float = Field(0.015, ge=0, le=1)
    hsv_s: float = Field(0.7, ge=0, le=1)
    hsv_v: float = Field(0.4, ge=0, le=1)
    degrees: float = Field(0.0, ge=-180, le=180)
    translate: float = Field(0.1, ge=0, le=1)
    scale: float = Field(0.5, ge=0)
    shear: float = Field(0.0, ge=-180, le=180)
    perspective: float = Field(0.0, ge=0, le=0.001)
    flipud: float = Field(0.0, ge=0, le=1)
    fliplr: float = Field(0.5, ge=0, le=1)
    bgr: float = Field(0.0, ge=0, le=1)
    mosaic: float = Field(1.0, ge=0, le=1)
    mixup: float = Field(0.0, ge=0, le=1)
    cutmix: float = Field(0.0, ge=0, le=1)
    copy_paste: float = Field(0.0, ge=0, le=1)
    copy_paste_mode: Literal["flip", "mixup"] = "flip"
    auto_augment: Literal["randaugment", "autoaugment", "augmix"] | None = "randaugment"
    erasing: float = Field(0.4, ge=0, le=0.9)

    # --- misc
    cfg: str | None = None
    tracker: str = "botsort.yaml"

    @field_validator("imgsz")
    @classmethod
    def _imgsz_in_range(cls, value: ImageSize) -> ImageSize:
        sides = value if isinstance(value, list) else [value]
        if not 1 <= len(sides) <= 2:
            raise PydanticCustomError(
                "imgsz_sides", "give one or two sides (imgsz=640 or imgsz=[480, 640])"
            )
        if not all(1 <= side <= MAX_IMGSZ for side in sides):
            raise PydanticCustomError(
                "imgsz_range",
                f"each side must be 1 to {MAX_IMGSZ} px; larger images cannot be allocated "
                "for training or prediction (official models use 640 or 1280). Use a smaller "
                "imgsz",
            )
        return value


SETTING_KEYS: tuple[str, ...] = tuple(Settings.model_fields)


def effective_workers(workers: int) -> int:
    """The loader threads ``workers=`` gives on this machine: at most one per CPU, as the
    reference caps its loader processes (so the default 8 is 2 on a 2-core machine)."""
    return max(0, min(int(workers), os.cpu_count() or 1))


def default_settings() -> Settings:
    """A fresh ``Settings`` holding every default."""
    return Settings()


def validate_settings(
    values: dict[str, Any], base: Settings | None = None, source: str | None = None
) -> Settings:
    """Check keys and types of ``values`` (over ``base``), returning a new ``Settings``.

    Unknown keys raise ``SettingsError`` naming the key and the closest known one; a value
    of the wrong type names the key, the value and what it should be.
    """
    for key in values:
        check_key(key, source)
    merged = {**(base.model_dump() if base else {}), **values}
    try:
        return Settings(**merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first.get("loc") else None
        given = merged.get(key) if key else None
        raise SettingsError(
            f"{first['msg']} (got {given!r})",
            path=source,
            key=key,
        ) from exc


def check_key(key: str, source: str | None = None) -> None:
    """Raise ``SettingsError`` for an unknown key, suggesting the closest known one."""
    if key in Settings.model_fields:
        return
    close = difflib.get_close_matches(key, SETTING_KEYS, n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else " Run 'yolo settings' to list them."
    raise SettingsError(f"unknown setting '{key}'.{hint}", path=source, key=key)
