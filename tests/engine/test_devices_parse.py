"""``device=`` lists (issue 22): ``0,1``, ``[0, 1]``, ``cuda:0``, ``cpu``; a missing GPU named in
one line with the GPUs that exist; duplicates refused; one device per rank in a distributed run."""

import pytest
import torch

from engine.devices import parse_devices, select_device
from engine.errors import SettingsError


@pytest.fixture
def two_gpus(monkeypatch):
    """torch reports two CUDA GPUs (names cannot be read: the count is all that is faked)."""
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


@pytest.mark.parametrize(("value", "expected"), [
    ("0,1", ["cuda:0", "cuda:1"]),
    ([0, 1], ["cuda:0", "cuda:1"]),
    ("[0, 1]", ["cuda:0", "cuda:1"]),
    ("cuda:0,1", ["cuda:0", "cuda:1"]),
    ("cuda:1,cuda:0", ["cuda:1", "cuda:0"]),
    ("cuda:0", ["cuda:0"]),
    (1, ["cuda:1"]),
    ("cpu", ["cpu"]),
    ("CPU", ["cpu"]),
    (None, []),
    ("", []),
])
def test_parse_devices_accepts_lists_indices_and_names(two_gpus, value, expected):
    assert parse_devices(value) == expected


def test_a_missing_gpu_is_named_with_the_gpus_that_exist(two_gpus):
    with pytest.raises(SettingsError) as error:
        parse_devices("0,7")
    message = str(error.value)
    assert "\n" not in message
    assert "device=0,7" in message and "torch sees 2: 0" in message and ", 1" in message
    assert "device=0,1" in message  # what to type instead


def test_a_missing_gpu_on_a_machine_without_one_points_to_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SettingsError, match=r"device=0,1 asks for CUDA GPUs 0, 1 but torch "
                                            r"sees no CUDA GPU; use device=cpu"):
        parse_devices([0, 1])


@pytest.mark.parametrize("value", ["0,1,0", [1, 1], "cuda:0,0"])
def test_a_gpu_named_twice_is_refused(two_gpus, value):
    with pytest.raises(SettingsError, match="more than once"):
        parse_devices(value)


@pytest.mark.parametrize("value", ["cpu,0", "0,,1", "gpu", "0,x"])
def test_malformed_lists_are_refused_naming_the_value(two_gpus, value):
    with pytest.raises(SettingsError, match="device"):
        parse_devices(value)


def test_parsing_a_cpu_or_an_empty_value_never_counts_gpus():
    def no_count() -> int:
        raise AssertionError("counted GPUs")

    assert parse_devices("cpu", gpu_count=no_count) == ["cpu"]
    assert parse_devices(None, gpu_count=no_count) == []


def test_one_device_is_selected_as_before(monkeypatch):
    for key in ("WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    assert select_device("cpu") == torch.device("cpu")
    assert select_device(["cpu"]) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device(None) == torch.device("cpu")
    with pytest.raises(SettingsError, match="CUDA"):
        select_device(0)


def test_several_gpus_outside_a_distributed_run_are_refused_for_one_process(two_gpus,
                                                                           monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(SettingsError, match="one process per GPU"):
        select_device("0,1")


def test_each_rank_of_a_distributed_run_takes_its_local_gpu(two_gpus, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")  # two machines of two
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert select_device("0,1") == torch.device("cuda:1")
    assert select_device("1,0") == torch.device("cuda:0")
    assert select_device(None) == torch.device("cuda:1")  # nothing asked: GPU LOCAL_RANK
    with pytest.raises(SettingsError, match="names 1 GPU but 2 training processes"):
        select_device(0)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
    with pytest.raises(SettingsError, match="names 2 GPUs but 3 training processes"):
        select_device("0,1")
    monkeypatch.setenv("LOCAL_RANK", "2")
    with pytest.raises(SettingsError, match="torch sees 2 GPU"):
        select_device(None)


def test_the_cpu_serves_every_rank(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert select_device("cpu") == torch.device("cpu")
