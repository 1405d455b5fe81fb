"""Starting weights (issue 17): what a new run can start from, listed without a network call,
the default, a chosen file checked (wrong task, corrupt), and official weights downloaded from a
local server (progress, cancel, offline)."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from engine.cancel import CancelToken
from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.errors import Cancelled
from engine.nn import build_model
from engine.weights import KNOWN_SHA256, weights_cache_dir
from studio.services.projects import open_project
from studio.services.runs import start_run
from studio.services.starting_weights import (
    bundled_candidates,
    check_weights_file,
    default_candidate,
    download_official,
    list_candidates,
    official_candidate,
    remember_choice,
    remember_file,
    transfer_note,
)
from tests.file_server import FileServer, by_file_name

PROVENANCE = {"made_by": "tools/demo_weights.py", "generator": "make_shapes_dataset",
              "images": 2000, "epochs": 40, "imgsz": 160, "batch": 32, "seed": 1017}


def write_checkpoint(path: Path, model_yaml: str, names: list[str], **extra) -> Path:
    model = build_model(model_yaml, num_classes=len(names))
    model.names = dict(enumerate(names))
    save_checkpoint(path, checkpoint_dict(model, half=True, extra=extra))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("weights-src")
    bundled = folder / "bundled"
    bundled.mkdir()
    return {
        "bundled": bundled,
        "shapes": write_checkpoint(bundled / "demo-segment.pt", "yolov8n-seg.yaml",
                                   ["circle", "square"], provenance=PROVENANCE),
        "other": write_checkpoint(folder / "other.pt", "yolov8n-seg.yaml", ["cat", "dog", "x"]),
        "pose": write_checkpoint(folder / "figures.pt", "yolov8n-pose.yaml", ["person"]),
    }


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("a network call while listing starting weights")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def add_run(project, name: str) -> Path:
    folder = project.folder / "runs" / name
    start_run(project, name=name, folder=folder, model="yolov8n-seg.yaml", settings={})
    best = folder / "weights" / "best.pt"
    best.parent.mkdir(parents=True)
    best.write_bytes(b"PK\x03\x04 a checkpoint")
    return best


def test_every_kind_is_listed_in_order_without_a_network_call(make_project, files, tmp_path,
                                                              no_network):
    project = make_project("segment", classes=("circle", "square"))
    cached = weights_cache_dir() / "yolov8s-seg.pt"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"PK\x03\x04 official")
    best = add_run(project, "train")
    remember_file(project, files["other"])
    remember_file(project, tmp_path / "gone.pt")  # chosen once, deleted since: not offered

    found = list_candidates(project, "s", bundled_folder=files["bundled"])

    assert [c.kind for c in found] == ["official", "bundled", "run", "file", "scratch"]
    official, bundled, run, chosen, scratch = found
    assert (official.model, official.present) == (str(cached), True)
    assert official.label == "yolov8s-seg.pt · official, COCO"
    assert bundled.label == "Demo weights (shapes) · n"
    assert "2000 generated images of shapes (40 epochs at 160 px, seed 1017)" in bundled.detail
    assert bundled.class_names == ("circle", "square")
    assert run.model == str(best) and run.label.startswith("Run train · best.pt")
    assert chosen.model == str(files["other"])
    assert scratch.model == "yolov8s-seg.yaml" and not scratch.pretrained


def test_official_weights_not_in_the_cache_are_offered_for_download(make_project, monkeypatch):
    monkeypatch.setenv("YOLO_STUDIO_WEIGHTS_URL", "http://mirror.example/weights")
    candidate = official_candidate("pose", "m")
    assert (candidate.model, candidate.present) == ("yolov8m-pose.pt", False)
    assert candidate.url == "http://mirror.example/weights/yolov8m-pose.pt"
    assert candidate.path == weights_cache_dir() / "yolov8m-pose.pt"
    assert candidate.label.endswith("not downloaded")
    classify = official_candidate("classify", "n")
    assert classify.model == "yolov8n-cls.pt" and "ImageNet" in classify.label


def test_the_default_is_pretrained_when_something_pretrained_is_present(make_project, files):
    project = make_project("segment", classes=("circle", "square"))
    names = ("circle", "square")
    nothing = list_candidates(project, "n", bundled_folder=files["bundled"].parent / "none")
    assert default_candidate(nothing, names).kind == "scratch"  # official not downloaded

    shipped = list_candidates(project, "n", bundled_folder=files["bundled"])
    assert default_candidate(shipped, names).kind == "bundled"  # made for these classes
    assert default_candidate(shipped, ("cat", "dog")).kind == "bundled"  # still pretrained

    cached = weights_cache_dir() / "yolov8n-seg.pt"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"PK\x03\x04 official")
    both = list_candidates(project, "n", bundled_folder=files["bundled"])
    assert default_candidate(both, names).kind == "bundled"
    assert default_candidate(both, ("cat", "dog")).kind == "official"
    assert default_candidate(both, names, chosen="yolov8n-seg.yaml").kind == "scratch"


def test_the_choice_and_chosen_files_are_remembered_in_the_project(make_project, files):
    project = make_project("segment", classes=("circle", "square"))
    remember_file(project, files["other"])
    remember_choice(project, "yolov8n-seg.yaml")
    folder = project.folder
    project.close()
    with open_project(folder) as again:
        found = list_candidates(again, "n", bundled_folder=files["bundled"])
        assert [c.model for c in found if c.kind == "file"] == [str(files["other"])]
        from studio.services.starting_weights import remembered_choice

        assert remembered_choice(again) == "yolov8n-seg.yaml"
        assert default_candidate(found, ("circle", "square"),
                                 remembered_choice(again)).kind == "scratch"


def test_the_note_says_what_happens_to_the_classes(files):
    project_classes = ("circle", "square", "star")
    official = official_candidate("segment", "n")
    note = transfer_note(official, "segment", project_classes)
    assert "COCO (80 classes)" in note and "new head for this project's 3 classes" in note
    from studio.services.starting_weights import bundled_candidates

    (bundled,) = bundled_candidates("segment", files["bundled"])
    assert "whole model is reused" in transfer_note(bundled, "segment", ("circle", "square"))
    assert "new head" in transfer_note(bundled, "segment", project_classes)


def test_a_chosen_file_is_checked_and_never_crashes(files, tmp_path):
    good = check_weights_file(files["other"], "segment")
    assert good.ok and good.class_names == ("cat", "dog", "x") and good.scale == "n"

    wrong = check_weights_file(files["pose"], "segment")
    assert wrong.message == ("figures.pt: is a pose model, but this project trains segment "
                             "models. Choose a segment checkpoint")

    corrupt = tmp_path / "broken.pt"
    corrupt.write_bytes(files["other"].read_bytes()[: 200_000])  # cut mid-archive
    assert check_weights_file(corrupt, "segment").message.startswith("broken.pt: ")

    noise = tmp_path / "noise.pt"
    noise.write_bytes(b"\x00garbage" * 100)
    message = check_weights_file(noise, "segment").message
    assert message.startswith("noise.pt: is not a PyTorch checkpoint")

    assert check_weights_file(tmp_path / "missing.pt", "segment").message == (
        "missing.pt: no such file")


def test_official_weights_download_with_progress_into_the_cache(files, monkeypatch):
    body = files["other"].read_bytes()
    seen: list[tuple[int, int, str]] = []
    with FileServer({"yolov8n-seg.pt": body}, key=by_file_name, prefix="/rel") as server:
        monkeypatch.setenv("YOLO_STUDIO_WEIGHTS_URL", server.url)
        result = download_official(official_candidate("segment", "n"),
                                   lambda done, total, text: seen.append((done, total, text)))
    assert result.path == weights_cache_dir() / "yolov8n-seg.pt" and not result.offline
    assert result.path.read_bytes() == body and result.verified is False
    megabytes = f"{len(body) / 1e6:.1f}"
    assert seen[-1] == (len(body), len(body), f"{megabytes} of {megabytes} MB")
    assert official_candidate("segment", "n").present


def test_offline_gives_the_file_the_url_and_the_folder(monkeypatch):
    monkeypatch.setenv("YOLO_STUDIO_WEIGHTS_URL", "http://127.0.0.1:9/releases")
    result = download_official(official_candidate("pose", "s"))
    assert result.path is None
    assert result.offline == (
        "yolov8s-pose.pt could not be downloaded: this computer cannot reach "
        "http://127.0.0.1:9/releases/yolov8s-pose.pt. Download it on a computer with internet "
        f"access and put it in {weights_cache_dir()}, or choose the file here.")
    assert not (weights_cache_dir() / "yolov8s-pose.pt").exists()


def test_a_cancelled_download_leaves_nothing_in_the_weights_folder(files, monkeypatch):
    token = CancelToken()

    def cancel_midway(done: int, total: int, _text: str) -> None:
        if 0 < done < total:
            token.cancel()

    with FileServer({"yolov8n-seg.pt": files["other"].read_bytes()}, key=by_file_name) as server:
        monkeypatch.setenv("YOLO_STUDIO_WEIGHTS_URL", server.url)
        with pytest.raises(Cancelled):
            download_official(official_candidate("segment", "n"), cancel_midway, token)
    folder = weights_cache_dir()
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_chosen_file_that_is_already_offered_is_listed_once(make_project, files):
    project = make_project("segment", classes=("circle", "square"))
    best = add_run(project, "train")
    remember_file(project, files["shapes"])  # the shipped file, chosen by hand
    remember_file(project, best)  # a run's checkpoint, chosen by hand
    found = list_candidates(project, "n", bundled_folder=files["bundled"])
    assert [c.kind for c in found] == ["official", "bundled", "run", "scratch"]


def test_a_wrong_checksum_is_a_message_and_keeps_nothing(files, monkeypatch):
    monkeypatch.setitem(KNOWN_SHA256, "yolov8n-seg.pt", hashlib.sha256(b"official").hexdigest())
    with FileServer({"yolov8n-seg.pt": files["other"].read_bytes()}, key=by_file_name) as server:
        monkeypatch.setenv("YOLO_STUDIO_WEIGHTS_URL", server.url)
        result = download_official(official_candidate("segment", "n"))
    assert result.path is None and not result.offline
    assert "SHA-256" in result.failed and "yolov8n-seg.pt" in result.failed
    assert result.problem == result.failed
    folder = weights_cache_dir()
    assert not folder.exists() or list(folder.iterdir()) == []


def test_weights_stopped_early_say_how_many_epochs_they_trained(tmp_path):
    folder = tmp_path / "shipped"
    folder.mkdir()
    write_checkpoint(folder / "demo-pose.pt", "yolov8n-pose.yaml", ["figure"],
                     provenance={**PROVENANCE, "generator": "make_figures_dataset",
                                 "stop_after": 5, "epochs": 30})
    (shipped,) = bundled_candidates("pose", folder)
    assert shipped.label == "Demo weights (stick figures) · n"
    assert "images of stick figures (5 epochs at 160 px" in shipped.detail
