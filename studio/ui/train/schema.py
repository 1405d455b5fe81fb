"""The "Advanced" settings of a run, generated from the engine's settings schema (Qt-free).

Every training-relevant field of ``engine.config.Settings`` becomes a :class:`FieldSpec`: its
kind of editor, default, choices and a tooltip built from the field's type, limits and a short
explanation. Values are checked one key at a time by the engine's own ``validate_settings``, so
the page shows the engine's message next to the field that is wrong.
"""

from __future__ import annotations

import os
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from engine.config import Settings, validate_settings
from engine.config.settings import effective_workers
from engine.errors import SettingsError
from engine.tasks import all_tasks

from ...state.models import CLASS, KEYPOINTS, POLYGON

# Set by the page itself, or meaningless for a training run started from the studio.
NOT_ADVANCED = frozenset({
    "task", "mode", "model", "data", "epochs", "imgsz", "batch", "device", "project", "name",
    "exist_ok", "resume", "save", "verbose", "profile", "split", "save_json", "half", "dnn",
    "source", "vid_stride", "stream_buffer", "visualize", "augment", "agnostic_nms", "classes",
    "retina_masks", "embed", "runtime", "show", "save_frames", "save_txt", "save_conf",
    "save_crop", "show_labels", "show_conf", "show_boxes", "line_width", "format", "keras",
    "optimize", "int8", "dynamic", "simplify", "opset", "workspace", "nms", "cfg", "tracker",
})
AUGMENTATION = frozenset({
    "hsv_h", "hsv_s", "hsv_v", "degrees", "translate", "scale", "shear", "perspective",
    "flipud", "fliplr", "bgr", "mosaic", "mixup", "cutmix", "copy_paste", "copy_paste_mode",
    "auto_augment", "erasing", "close_mosaic", "multi_scale",
})
HYPERPARAMETERS = frozenset({
    "lr0", "lrf", "momentum", "weight_decay", "warmup_epochs", "warmup_momentum",
    "warmup_bias_lr", "box", "cls", "dfl", "pose", "kobj", "nbs", "optimizer", "cos_lr",
    "dropout",
})


def _tasks_trained_by(*kinds: str) -> frozenset[str]:
    """The tasks whose annotations are of one of ``kinds`` (each task declares its kind)."""
    return frozenset(task.name for task in all_tasks() if task.annotation_kind in kinds)


MASK_TASKS = _tasks_trained_by(POLYGON)
KEYPOINT_TASKS = _tasks_trained_by(KEYPOINTS)
CLASSIFY_TASKS = _tasks_trained_by(CLASS)
DETECTION_FAMILY = frozenset(task.name for task in all_tasks()) - CLASSIFY_TASKS
# Keys only some tasks read (engine/train/classify.py, detect_common.py, segment.py, pose.py,
# data/classify_augment.py, data/detect_augment.py, data/detect_loader.py); the others ignore
# them, so a form that shows them would promise an effect that never comes. ("pose" and "kobj"
# are the keypoint losses' gains, Settings keys.)
TASKS_OF = {
    "overlap_mask": MASK_TASKS, "mask_ratio": MASK_TASKS,
    "copy_paste": MASK_TASKS, "copy_paste_mode": MASK_TASKS,
    "pose": KEYPOINT_TASKS, "kobj": KEYPOINT_TASKS,
    "dropout": CLASSIFY_TASKS, "auto_augment": CLASSIFY_TASKS,
    "erasing": CLASSIFY_TASKS,
    **{key: DETECTION_FAMILY for key in (
        "box", "cls", "dfl", "mosaic", "mixup", "cutmix", "close_mosaic", "degrees",
        "translate", "shear", "perspective", "bgr", "rect", "conf", "iou", "max_det",
        "ap_method")},
}
GROUPS = ("Training", "Optimiser and losses", "Augmentation", "Validation")
HELP = {
    "time": "Train for this many hours (overrides epochs when set).",
    "patience": "Stop after this many epochs without improvement.",
    "save_period": "Also keep a checkpoint every N epochs (-1: only last and best).",
    "cache": "Keep decoded images in memory (ram) or on disk to speed up epochs.",
    "workers": "Threads that load and augment images (at most one per CPU: "
               f"{os.cpu_count() or 1} here).",
    "pretrained": "True, or a weights file to copy matching layers from.",
    "optimizer": "auto picks SGD or AdamW (and their learning rate, instead of lr0) from the "
                 "length of the run and the number of classes.",
    "seed": "Random seed: the same seed and data give the same run.",
    "deterministic": "Use deterministic algorithms (reproducible, sometimes slower).",
    "single_cls": "Train every class as one class.",
    "rect": "Rectangular batches (less padding).",
    "cos_lr": "Cosine learning-rate schedule instead of linear.",
    "close_mosaic": "Turn mosaic off for the last N epochs.",
    "amp": "Mixed precision on CUDA GPUs.",
    "fraction": "Train on this fraction of the training images.",
    "freeze": "Freeze the first N layers (or a list of layer indices).",
    "multi_scale": "Vary the image size by ±50% during training.",
    "compile": "torch.compile the model (slow to start, faster later).",
    "overlap_mask": "Merge instance masks into one (segmentation).",
    "mask_ratio": "Mask downsampling ratio (segmentation).",
    "dropout": "Dropout before the classifier (classification).",
    "val": "Validate after every epoch.",
    "conf": "Confidence threshold for validation.",
    "iou": "IoU threshold for NMS during validation.",
    "max_det": "At most this many detections per image.",
    "ap_method": "coco integrates as pycocotools; trapezoid as the Ultralytics reference.",
    "plots": "Draw batches, curves and confusion matrices into the run folder.",
    "lr0": "Initial learning rate (optimizer=auto chooses its own).",
    "lrf": "Final learning rate as a fraction of lr0.",
    "momentum": "SGD momentum / Adam beta1.",
    "weight_decay": "L2 weight decay.",
    "warmup_epochs": "Epochs of learning-rate warm-up.",
    "warmup_momentum": "Momentum at the start of warm-up.",
    "warmup_bias_lr": "Bias learning rate at the start of warm-up.",
    "box": "Box loss gain.", "cls": "Classification loss gain.", "dfl": "DFL loss gain.",
    "pose": "Keypoint loss gain (pose).", "kobj": "Keypoint visibility loss gain (pose).",
    "nbs": "Nominal batch size: gradients accumulate to about this many images.",
    "hsv_h": "Hue jitter (fraction).", "hsv_s": "Saturation jitter (fraction).",
    "hsv_v": "Brightness jitter (fraction).", "degrees": "Rotation (± degrees).",
    "translate": "Translation (± fraction).", "scale": "Scale gain (±).",
    "shear": "Shear (± degrees).", "perspective": "Perspective (± fraction).",
    "flipud": "Probability of an up-down flip.", "fliplr": "Probability of a left-right flip.",
    "bgr": "Probability of swapping colour channels.", "mosaic": "Probability of mosaic.",
    "mixup": "Probability of mixup.", "cutmix": "Probability of cutmix.",
    "copy_paste": "Probability of copy-paste (segmentation).",
    "copy_paste_mode": "How copy-paste places objects.",
    "auto_augment": "Classification augmentation policy.",
    "erasing": "Probability of random erasing (classification).",
}


@dataclass(frozen=True)
class FieldSpec:
    """One advanced setting: ``kind`` is ``bool`` (a check box), ``choice`` (a list) or
    ``text`` (typed as YAML: ``0.01``, ``true``, ``[0, 1]``, empty for none)."""

    key: str
    kind: Literal["bool", "choice", "text"]
    default: Any
    group: str
    tooltip: str
    choices: tuple[Any, ...] = ()


def applies_to(key: str, task: str | None) -> bool:
    """Whether a run of ``task`` reads ``key`` (every key when ``task`` is None)."""
    return task is None or task in TASKS_OF.get(key, (task,))


def advanced_fields(task: str | None = None) -> list[FieldSpec]:
    """The advanced settings a ``task`` run reads, grouped as :data:`GROUPS`, in the schema's
    order (every one when ``task`` is None)."""
    specs = [_spec(key, info) for key, info in Settings.model_fields.items()
             if key not in NOT_ADVANCED and applies_to(key, task)]
    return sorted(specs, key=lambda spec: GROUPS.index(spec.group))


def _spec(key: str, info) -> FieldSpec:
    annotation = info.annotation
    choices = _literal_choices(annotation)
    if annotation is bool:
        kind = "bool"
    elif choices:
        kind = "choice"
    else:
        kind = "text"
    if key in AUGMENTATION:
        group = "Augmentation"
    elif key in HYPERPARAMETERS:
        group = "Optimiser and losses"
    elif key in ("val", "conf", "iou", "max_det", "ap_method", "plots"):
        group = "Validation"
    else:
        group = "Training"
    default = info.default
    if key == "workers":  # what the engine uses here (it caps threads at the CPU count)
        default = effective_workers(default)
    return FieldSpec(key, kind, default, group, _tooltip(key, info, annotation, default), choices)


def _literal_choices(annotation: Any) -> tuple[Any, ...]:
    """``Literal["a", "b"]`` (or ``... | None``) → ``("a", "b"[, None])``; else ``()``."""
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        parts = typing.get_args(annotation)
        literals = [p for p in parts if typing.get_origin(p) is Literal]
        if len(literals) == 1 and all(p is type(None) or p in literals for p in parts):
            return (*typing.get_args(literals[0]), None)
    return ()


def _type_text(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "").replace("NoneType", "None")
    return getattr(annotation, "__name__", text) if isinstance(annotation, type) else text


def _tooltip(key: str, info, annotation: Any, default: Any) -> str:
    limits = []
    for item in info.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(item, attr, None)
            if value is not None:
                limits.append(f"{sign} {value}")
    parts = [f"<b>{key}</b>", HELP.get(key) or info.description or "",
             f"Type: {_type_text(annotation)}", f"Default: {format_value(default)}"]
    if limits:
        parts.append("Allowed: " + ", ".join(limits))
    return "<br>".join(p for p in parts if p)


def format_value(value: Any) -> str:
    """How a value is written in a text field (``None`` as empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def parse_value(text: str) -> Any:
    """A text field's value: YAML scalars and lists (``0.01``, ``true``, ``[0, 1]``), empty is
    ``None``; text that is not YAML stays text (for the engine to judge)."""
    stripped = text.strip()
    if not stripped:
        return None
    try:
        return yaml.safe_load(stripped)
    except yaml.YAMLError:
        return stripped


def check_value(key: str, value: Any) -> str | None:
    """The engine's message when ``key=value`` is not a valid setting, else None."""
    try:
        validate_settings({key: value}, source="Advanced settings")
    except SettingsError as exc:
        return exc.message
    return None
