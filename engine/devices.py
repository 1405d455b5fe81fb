"""``device=`` values (None, cpu, 0, "0", cuda:0, mps, "0,1", [0, 1]) to torch devices, with
clear errors.

Parsing is torch-free (the studio and the launcher read a device list before torch loads);
torch is imported only to count the GPUs that a value names, and to build a ``torch.device``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import SettingsError

if TYPE_CHECKING:
    import torch

DeviceValue = str | int | list[int] | tuple[int, ...] | None


def parse_devices(
    device: DeviceValue, gpu_count: Callable[[], int] | None = None
) -> list[str]:
    """The devices a ``device=`` value names, as ``["cpu"]``, ``["mps"]`` or ``["cuda:0",
    "cuda:1"]``; ``[]`` when nothing was asked (the run picks GPU 0 or the CPU).

    Accepts ``0``, ``"0,1"``, ``"cuda:0,1"``, ``"cuda:0,cuda:1"``, ``[0, 1]``, ``"[0, 1]"``,
    ``cpu`` and ``mps``. GPU indices are checked against the GPUs torch sees (``gpu_count``,
    by default ``torch.cuda.device_count``): a missing one fails with one line naming the
    GPUs that exist. A GPU named twice is refused.
    """
    items = _items(device)
    if not items:
        return []
    if len(items) == 1 and items[0] in ("cpu", "mps"):
        return [items[0]]
    shown = _shown(device)
    indices = [_index(item, shown) for item in items]
    repeated = sorted({i for i in indices if indices.count(i) > 1})
    if repeated:
        raise SettingsError(
            f"device={shown} names GPU {', '.join(map(str, repeated))} more than once; "
            "name each GPU once, e.g. device=0,1",
            key="device",
        )
    _check_gpus_exist(indices, shown, gpu_count or _cuda_count)
    return [f"cuda:{i}" for i in indices]


def _shown(device: DeviceValue) -> str:
    """The value as a user would type it (``0,1`` for ``[0, 1]``)."""
    if isinstance(device, list | tuple):
        return ",".join(str(item) for item in device)
    return str(device).strip()


def _items(device: DeviceValue) -> list[str]:
    """The value split into lowercase items, without brackets or blanks."""
    if device is None:
        return []
    if isinstance(device, list | tuple):
        raw = [str(item) for item in device]
    else:
        text = str(device).strip().lower()
        if text in ("", "none"):
            return []
        raw = text.strip("[]()").split(",")
    items = [item.strip().lower() for item in raw]
    if any(not item for item in items):
        raise SettingsError(
            f"device={_shown(device)} has an empty entry; use e.g. device=0,1", key="device"
        )
    if len(items) > 1 and any(item in ("cpu", "mps") for item in items):
        raise SettingsError(
            f"device={_shown(device)} mixes {', '.join(items)}; give GPU indices (device=0,1) "
            "or one of cpu, mps",
            key="device",
        )
    return items


def _index(item: str, shown: str) -> int:
    """``"1"`` or ``"cuda:1"`` to 1; anything else is refused."""
    text = item.removeprefix("cuda:")
    if text.isdigit():
        return int(text)
    raise SettingsError(
        f"unknown device {shown!r}; use cpu, 0 (a CUDA GPU index), 0,1 (several GPUs) or mps",
        key="device",
    )


def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _gpu_names(count: int) -> str:
    """``0 (NVIDIA H100), 1 (NVIDIA H100)``: the GPUs torch sees."""
    import torch

    names = []
    for index in range(count):
        try:
            names.append(f"{index} ({torch.cuda.get_device_name(index)})")
        except Exception:  # a monkeypatched count in tests, or a driver that will not say
            names.append(str(index))
    return ", ".join(names)


def _check_gpus_exist(indices: list[int], shown: str, gpu_count: Callable[[], int]) -> None:
    count = gpu_count()
    missing = [i for i in indices if i >= count]
    if not missing:
        return
    asked = f"CUDA GPU{'s' if len(indices) > 1 else ''} {', '.join(map(str, indices))}"
    if count == 0:
        raise SettingsError(
            f"device={shown} asks for {asked} but torch sees no CUDA GPU; use device=cpu",
            key="device",
        )
    example = ",".join(str(i) for i in range(min(count, len(indices))))
    raise SettingsError(
        f"device={shown} asks for {asked} but torch sees {count}: {_gpu_names(count)}; "
        f"use indices below {count}, e.g. device={example}",
        key="device",
    )


def select_device(device: DeviceValue) -> torch.device:
    """The device a run uses: CUDA GPU 0 when present and nothing was asked, else the CPU.

    Several GPUs are one device per process: in a distributed run (``WORLD_SIZE`` > 1 in the
    environment, set by torchrun) this process takes ``devices[LOCAL_RANK]``; elsewhere a list
    of several GPUs is refused (training on several starts one process per GPU first).
    """
    import torch

    names = parse_devices(device)
    if len(names) > 1:
        return torch.device(device_for_rank(names, shown=_shown(device)))
    if not names:
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device(device_for_rank(
            [f"cuda:{i}" for i in range(_cuda_count())], shown="", omitted=True
        ))
    if names[0].startswith("cuda:") and _local_world() > 1:
        raise SettingsError(
            f"device={_shown(device)} names 1 GPU but {_local_world()} training processes run "
            "on this machine; give one GPU per process (e.g. device="
            f"{','.join(str(i) for i in range(_local_world()))}) or leave device out",
            key="device",
        )
    if names[0] == "mps" and not (
        hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    ):
        raise SettingsError("device=mps needs Apple silicon with MPS; use device=cpu", key="device")
    return torch.device(names[0])


def _local_world(environ: dict[str, str] | None = None) -> int:
    """How many training processes of a distributed run share this machine (1 outside one)."""
    env = os.environ if environ is None else environ
    if int(env.get("WORLD_SIZE", "1") or 1) <= 1:
        return 1
    return int(env.get("LOCAL_WORLD_SIZE", env["WORLD_SIZE"]) or 1)


def device_for_rank(
    names: list[str], shown: str, environ: dict[str, str] | None = None, omitted: bool = False
) -> str:
    """This process's entry of several GPUs in a distributed run: ``names[LOCAL_RANK]``.

    ``omitted``: no device was asked; ``names`` are all the GPUs, and outside a distributed
    run the first one is taken.
    """
    env = os.environ if environ is None else environ
    world = int(env.get("WORLD_SIZE", "1") or 1)
    if omitted and (world <= 1 or "LOCAL_RANK" not in env):
        return names[0]
    if omitted:
        local_rank, local_world = int(env["LOCAL_RANK"]), _local_world(env)
        if local_world > len(names):
            raise SettingsError(
                f"{local_world} training processes run on this machine but torch sees "
                f"{len(names)} GPU(s); start at most {len(names)} per machine "
                "(torchrun --nproc_per_node), or train with device=cpu",
                key="device",
            )
        return names[local_rank]
    if world <= 1 or "LOCAL_RANK" not in env:
        raise SettingsError(
            f"device={shown} names several GPUs; training on them starts one process per GPU "
            "(yolo train device=0,1), while val, predict and export use one, e.g. device=0",
            key="device",
        )
    local_rank, local_world = int(env["LOCAL_RANK"]), _local_world(env)
    if len(names) != local_world:
        raise SettingsError(
            f"device={shown} names {len(names)} GPUs but {local_world} training processes "
            f"run on this machine; give {local_world} GPUs (e.g. device="
            f"{','.join(str(i) for i in range(local_world))}) or leave device out",
            key="device",
        )
    return names[local_rank]
