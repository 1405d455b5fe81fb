"""Read any weights file we accept and turn it into a model, or say clearly why not.

Three kinds are accepted: our own checkpoints, the reference package's pickled module
trees (through the inert importer in ``official``), and plain state dicts (for transfer).
Every path goes through ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, EngineError
from ..nn.model import TaskModel
from ..nn.zoo import build_model
from ..utils.safe_yaml import oversized_value
from .format import is_our_checkpoint
from .official import read_official_checkpoint


@dataclass
class LoadedWeights:
    """Tensors by name plus what is known of the model that produced them."""

    path: Path
    kind: str  # "ours", "official" or "state_dict"
    state_dict: dict[str, torch.Tensor]
    model_yaml: dict[str, Any] | None = None
    names: dict[int, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    batchnorm_eps: dict[str, float] = field(default_factory=dict)


def read_weights(path: str | Path) -> LoadedWeights:
    """Read a weights file of any accepted kind, never running code from it."""
    source = Path(path)
    if not source.is_file():
        raise CheckpointError("no such file", path=source)
    unsafe = _unsafe_globals(source)
    if unsafe:
        official = read_official_checkpoint(source, unsafe)
        return LoadedWeights(
            source,
            "official",
            official.state_dict,
            official.model_yaml,
            official.names,
            official.metadata,
            official.batchnorm_eps,
        )
    raw = _load_plain(source)
    if is_our_checkpoint(raw):
        return _from_ours(source, raw)
    if isinstance(raw, dict) and raw and all(isinstance(v, torch.Tensor) for v in raw.values()):
        return LoadedWeights(source, "state_dict", dict(raw))
    raise CheckpointError(
        "holds no model: it is a PyTorch file, but neither a YOLO Studio checkpoint, an "
        "official YOLOv8 checkpoint, nor a state dict",
        path=source,
    )


def load_model(path: str | Path) -> tuple[TaskModel, LoadedWeights]:
    """Rebuild the model a checkpoint describes and load its weights (fp32, eval mode)."""
    weights = read_weights(path)
    if weights.model_yaml is None:
        raise CheckpointError(
            "is a bare state dict with no architecture; build the model first and transfer "
            "into it, e.g. YOLO('yolov8n-seg.yaml').load(this file)",
            path=weights.path,
        )
    _refuse_oversized(weights.path, weights.model_yaml, "model_yaml")
    try:
        model = build_model(weights.model_yaml)
    except EngineError as exc:
        raise CheckpointError(
            f"its model description cannot be built: {exc.message}",
            path=weights.path,
            key=f"model_yaml.{exc.key}" if exc.key else None,
        ) from exc
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights.state_dict]
    unexpected = [k for k in weights.state_dict if k not in expected]
    wrong_shape = [
        f"{k} {tuple(v.shape)} vs {tuple(expected[k].shape)}"
        for k, v in weights.state_dict.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if missing or unexpected or wrong_shape:
        raise CheckpointError(
            "its weights do not fit the architecture it describes (missing "
            f"{_few(missing)}; unexpected {_few(unexpected)}; other shape {_few(wrong_shape)})",
            path=weights.path,
        )
    model.load_state_dict(cast_like(weights.state_dict, expected))
    _apply_batchnorm_eps(model, weights.batchnorm_eps)
    if weights.names:
        model.names = dict(weights.names)
    model.keypoint_layout = keypoint_layout(weights.metadata.get("keypoint_layout"))
    return model.eval(), weights


def keypoint_layout(value: Any) -> dict[str, list]:
    """The ``kpt_names`` / ``skeleton`` / ``flip_idx`` a file stores, as plain lists; anything
    malformed is dropped (it only changes how predictions are drawn)."""
    if not isinstance(value, dict):
        return {}
    layout: dict[str, list] = {}
    names = value.get("kpt_names")
    if isinstance(names, list | tuple) and all(isinstance(n, str) for n in names):
        layout["kpt_names"] = [str(n) for n in names]
    flip = value.get("flip_idx")
    if isinstance(flip, list | tuple) and all(isinstance(i, int) for i in flip):
        layout["flip_idx"] = [int(i) for i in flip]
    limbs = value.get("skeleton")
    if isinstance(limbs, list | tuple) and all(
        isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(i, int) for i in p)
        for p in limbs
    ):
        layout["skeleton"] = [[int(a), int(b)] for a, b in limbs]
    return layout


def _apply_batchnorm_eps(model: TaskModel, eps_by_path: dict[str, float]) -> None:
    """Use the eps the file's batch norms were trained with (it changes the outputs)."""
    modules = dict(model.named_modules())
    for path, eps in eps_by_path.items():
        module = modules.get(path)
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eps = eps


def _unsafe_globals(source: Path) -> list[str]:
    """Names the file would import beyond torch's weights-only defaults; raises if unreadable."""
    if not zipfile.is_zipfile(source):
        raise CheckpointError(
            "is not a PyTorch checkpoint (not a zip archive; it may be truncated, or another "
            "kind of file). Re-download or re-export it.",
            path=source,
        )
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(source))
    except (
        RuntimeError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        EOFError,
        KeyError,
        ValueError,
    ) as exc:
        raise _unreadable(source, exc) from exc


def _load_plain(source: Path) -> Any:
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise _unreadable(source, exc) from exc


def _from_ours(source: Path, raw: dict[str, Any]) -> LoadedWeights:
    missing = [k for k in ("model_yaml", "state_dict") if k not in raw]
    if missing:
        raise CheckpointError(f"checkpoint lacks '{missing[0]}'", path=source, key=missing[0])
    metadata = {k: v for k, v in raw.items() if k not in ("state_dict", "model_yaml", "names")}
    _refuse_oversized(source, raw.get("names"), "names")
    names = {int(k): str(v) for k, v in (raw.get("names") or {}).items()}
    return LoadedWeights(
        source, "ours", dict(raw["state_dict"]), raw["model_yaml"], names, metadata
    )


def finished_checkpoint(weights: LoadedWeights) -> dict[str, Any]:
    """Our checkpoint dict back from ``weights`` (one of ours), without the training state:
    what best.pt, and last.pt of a finished run, hold."""
    raw = {
        **weights.metadata,
        "state_dict": weights.state_dict,
        "model_yaml": weights.model_yaml,
        "names": weights.names,
    }
    raw.pop("train_state", None)
    return raw


def cast_like(
    state: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Cast floating tensors to the dtype of their namesakes in ``reference`` (official files
    store half precision; our models run in float32)."""
    return {
        k: v.to(reference[k].dtype) if k in reference and v.is_floating_point() else v
        for k, v in state.items()
    }


def transfer_matching(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy into ``model`` every tensor of ``state`` whose name and shape match one of its own
    (cast to its dtype); returns the names copied. The rest of ``model`` is left as it is."""
    target = model.state_dict()
    matched = {k: v for k, v in state.items() if k in target and v.shape == target[k].shape}
    model.load_state_dict(cast_like(matched, target), strict=False)
    return list(matched)


def _refuse_oversized(source: Path, value: Any, key: str) -> None:
    """Refuse a value that would take minutes to walk (shared references nested like a YAML
    alias bomb), before anything turns it into a model or a string."""
    reason = oversized_value(value)
    if reason is not None:
        raise CheckpointError(
            f"refused: {reason}; this is not a checkpoint a trainer wrote. Use another file",
            path=source,
            key=key,
        )


def _few(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "") or "none"


def _unreadable(source: Path, exc: BaseException) -> CheckpointError:
    return CheckpointError(
        f"cannot be read as a checkpoint ({_first_line(exc)}); it may be truncated or "
        "damaged. Re-download or re-export it.",
        path=source,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
