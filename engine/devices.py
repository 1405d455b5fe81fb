"""``device=`` values (None, cpu, 0, "0", cuda:0, mps) to a torch.device, with clear errors."""

from __future__ import annotations

import torch

from .errors import SettingsError


def select_device(device: str | int | list[int] | None) -> torch.device:
    """The device a run uses: CUDA GPU 0 when present and nothing was asked, else the CPU."""
    if isinstance(device, list | tuple):
        if len(device) > 1:
            raise SettingsError(
                f"device={device} asks for several GPUs; multi-GPU training comes in a later "
                "release. Use one index, e.g. device=0",
                key="device",
            )
        device = device[0] if device else None
    text = "" if device is None else str(device).strip().lower().replace("cuda:", "")
    if text in ("", "none"):
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise SettingsError(
                "device=mps needs Apple silicon with MPS; use device=cpu", key="device"
            )
        return torch.device("mps")
    if text.isdigit():
        index = int(text)
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if index >= count:
            seen = f"{count} CUDA device(s)" if count else "no CUDA device"
            raise SettingsError(
                f"device={device} asks for CUDA GPU {index} but torch sees {seen}; "
                "use device=cpu" + (f" or an index below {count}" if count else ""),
                key="device",
            )
        return torch.device(f"cuda:{index}")
    raise SettingsError(
        f"unknown device {device!r}; use cpu, 0 (a CUDA GPU index) or mps", key="device"
    )
