"""Segment Anything through tiny encoder/decoder pairs the tests build (tests/engine/assist/
sam_models.py): checking files, finding pairs, the embedding cache, prompts mapped into and
masks mapped out of the encoder's frame, and the download (from a server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from engine.assist.sam import load_sam
from engine.assist.sam_models import (
    DownloadFile,
    SamDownload,
    SamModelError,
    check_decoder,
    check_encoder,
    download_sam,
    find_models,
    models_folder,
)
from engine.cancel import CancelToken
from engine.errors import Cancelled
from engine.events import DownloadProgress
from tests.engine.assist import sam_models as tiny
from tests.file_server import FileServer, by_file_name

LAYOUTS = ("sam1", "sam2")
HEIGHT, WIDTH = 300, 500  # not square, so a wrong x/y mapping shows


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("sam")
    # the IoU predictions pick the third mask (radius 160 encoder pixels) in both layouts
    return {
        "sam1": tiny.build_pair(folder, "sam1", ious=(0.1, 0.2, 0.9, 0.3)),
        "sam2": tiny.build_pair(folder, "sam2", ious=(0.1, 0.2, 0.9)),
    }


def _image(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    return int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())


def _radii(layout: str, radius: float, height: int = HEIGHT, width: int = WIDTH):
    """A disc of ``radius`` encoder pixels in image pixels (x, y): SAM 1 scales the long side
    to 1024 keeping the aspect, SAM 2 stretches each side to 1024."""
    if layout == "sam1":
        scale = tiny.SIDE / max(height, width)
        return radius / scale, radius / scale
    return radius * width / tiny.SIDE, radius * height / tiny.SIDE


# --- loading and the files' contract ----------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_is_recognised_by_its_names(pairs, layout):
    encoder, decoder = pairs[layout]
    assert check_encoder(encoder) == check_decoder(decoder) == layout
    assert load_sam(encoder, decoder).layout == layout


def test_a_file_that_is_not_onnx_is_named(tmp_path, pairs):
    fake = tmp_path / "fake.decoder.onnx"
    fake.write_text("<html>not found</html>")
    with pytest.raises(SamModelError, match=r"fake\.decoder\.onnx: is not an ONNX model"):
        load_sam(pairs["sam1"][0], fake)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_encoder_given_as_decoder_says_choose_the_decoder(pairs, layout):
    encoder, _decoder = pairs[layout]
    with pytest.raises(SamModelError, match="this is the encoder half; choose the decoder") as e:
        load_sam(encoder, encoder)
    assert e.value.path == str(encoder)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_decoder_given_as_encoder_says_choose_the_encoder(pairs, layout):
    _encoder, decoder = pairs[layout]
    with pytest.raises(SamModelError, match="this is the decoder half; choose the encoder"):
        load_sam(decoder, decoder)


def test_a_decoder_with_other_inputs_names_expected_and_found(tmp_path, pairs):
    odd = tmp_path / "odd.decoder.onnx"
    graph = tiny._Graph()
    graph.op("Identity", "point_coords", output="masks")
    graph.op("Identity", "point_labels", output="iou_predictions")
    graph.save(
        odd,
        [tiny._tensor("point_coords", [1, 2, 2]), tiny._tensor("point_labels", [1, 2])],
        [tiny._tensor("masks", [1, 2, 2]), tiny._tensor("iou_predictions", [1, 2])],
    )
    with pytest.raises(SamModelError) as error:
        load_sam(pairs["sam1"][0], odd)
    message = str(error.value)
    assert message.startswith(f"{odd}: is not a Segment Anything decoder")
    assert "image_embeddings, point_coords, point_labels, mask_input" in message  # expected
    assert "image_embed, high_res_feats_0" in message  # the SAM 2 contract too
    assert message.endswith("found point_coords, point_labels")


def test_halves_of_different_layouts_are_refused(pairs):
    with pytest.raises(
        SamModelError,
        match=r"is a SAM 2 decoder but tiny_sam1\.encoder\.onnx "
        r"is a SAM / MobileSAM encoder",
    ):
        load_sam(pairs["sam1"][0], pairs["sam2"][1])


# --- the embedding cache ------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_encoder_runs_once_per_image_for_many_clicks(pairs, layout):
    predictor = load_sam(*pairs[layout])
    image = _image()
    predictor.set_image(image, key=("a.jpg", 1))
    first = predictor.predict([(100, 150, 1)])
    second = predictor.predict([(300, 100, 1)], box=(250, 50, 450, 250))
    predictor.set_image(image, key=("a.jpg", 1))  # the same image again: from the cache
    assert predictor.encoder_runs == 1
    assert first[150, 100] and second[100, 300] and not np.array_equal(first, second)
    predictor.set_image(image, key=("a.jpg", 2))  # the file changed (new mtime): encoded again
    assert predictor.encoder_runs == 2


def test_the_cache_keeps_the_most_recent_images(pairs):
    predictor = load_sam(*pairs["sam1"], cache_size=2)
    image = _image(40, 60)
    for key in ("a", "b", "a", "c"):  # "b" is the least recently used when "c" arrives
        predictor.set_image(image, key=key)
    assert predictor.encoder_runs == 3
    predictor.set_image(image, key="a")
    assert predictor.encoder_runs == 3
    predictor.set_image(image, key="b")
    assert predictor.encoder_runs == 4


def test_predict_without_an_image_says_what_to_do(pairs):
    with pytest.raises(SamModelError, match="call set_image before predict"):
        load_sam(*pairs["sam2"]).predict([(1, 1, 1)])


# --- prompts in, masks out -------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_click_gives_the_best_mask_in_image_pixels(pairs, layout):
    predictor = load_sam(*pairs[layout])
    predictor.set_image(_image())
    mask = predictor.predict([(100, 150, 1)])
    assert mask.shape == (HEIGHT, WIDTH) and mask.dtype == bool
    # the disc of the mask with the highest IoU prediction (radius 160), centred on the click
    radius_x, radius_y = _radii(layout, tiny.RADII[2])
    x1, y1, x2, y2 = _bbox(mask)
    assert x1 == pytest.approx(100 - radius_x, abs=3) and x2 == pytest.approx(100 + radius_x, abs=3)
    assert y1 == pytest.approx(150 - radius_y, abs=3) and y2 == pytest.approx(150 + radius_y, abs=3)
    assert mask.sum() == pytest.approx(math.pi * radius_x * radius_y, rel=0.05)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_box_gives_its_inside(pairs, layout):
    predictor = load_sam(*pairs[layout])
    predictor.set_image(_image())
    mask = predictor.predict(box=(420, 260, 220, 40))  # corners in either order
    assert _bbox(mask) == pytest.approx((220, 40, 420, 260), abs=2)
    assert mask[45:255, 225:415].all() and not mask[:, :215].any() and not mask[265:].any()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_negative_click_cuts_out_its_surroundings(pairs, layout):
    predictor = load_sam(*pairs[layout])
    predictor.set_image(_image())
    positive = predictor.predict([(200, 150, 1)])
    refined = predictor.predict([(200, 150, 1), (250, 150, 0)])
    assert positive[150, 250] and not refined[150, 250] and refined[150, 200]
    assert refined.sum() < positive.sum()


def test_an_encoder_taking_the_raw_image_gets_it_unpadded(tmp_path):
    encoder, decoder = tiny.build_pair(tmp_path, "sam1", raw_input=True, ious=(0, 0, 1, 0))
    predictor = load_sam(encoder, decoder)
    predictor.set_image(_image())
    mask = predictor.predict([(100, 150, 1)])
    radius, _ = _radii("sam1", tiny.RADII[2])
    assert _bbox(mask) == pytest.approx(
        (100 - radius, 150 - radius, 100 + radius, 150 + radius), abs=3
    )


def test_the_polygon_of_a_huge_image_is_traced_downscaled_and_mapped_back(pairs):
    predictor = load_sam(*pairs["sam1"])
    height, width = 3000, 5000  # traced at 2048 a side, not 5000
    predictor.set_image(np.zeros((height, width, 3), np.uint8))
    outer, holes = predictor.predict_polygon(box=(1000, 500, 3000, 2500))
    assert len(outer) == 1 and holes == ()
    ring = outer[0]
    assert ring.min(axis=0) == pytest.approx((1000, 500), abs=8)
    assert ring.max(axis=0) == pytest.approx((3000, 2500), abs=8)


def test_the_mask_of_a_huge_image_is_full_size_and_in_place(pairs):
    predictor = load_sam(*pairs["sam2"])
    height, width = 4200, 5000  # past the 4096-a-side float limit: enlarged as bytes
    predictor.set_image(np.zeros((height, width, 3), np.uint8))
    mask = predictor.predict(box=(1000, 500, 3000, 2500))
    assert mask.shape == (height, width) and mask.dtype == bool
    assert _bbox(mask) == pytest.approx((1000, 500, 3000, 2500), abs=8)
    assert mask[600:2400, 1100:2900].all() and mask.sum() == pytest.approx(2000 * 2000, rel=0.02)


# --- the models folder -------------------------------------------------------------------------


def test_find_models_pairs_files_by_the_exporters_names(tmp_path):
    tiny.build_pair(tmp_path, "sam2", name="sam2.1_hiera_tiny")
    encoder, decoder = tiny.build_pair(tmp_path / "scratch", "sam1")
    # MobileSAM as X-AnyLabeling publishes it: its decoder is SAM ViT-H's
    (tmp_path / "mobile_sam.encoder.onnx").write_bytes(encoder.read_bytes())
    (tmp_path / "sam_vit_h_4b8939.decoder.onnx").write_bytes(decoder.read_bytes())
    # a pair in a folder of its own, named encoder.onnx / decoder.onnx
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "encoder.onnx").write_bytes(encoder.read_bytes())
    (tmp_path / "mine" / "decoder.onnx").write_bytes(decoder.read_bytes())
    (tmp_path / ".half.encoder.onnx.download").write_bytes(b"unfinished")
    found = {model.name: model for model in find_models(tmp_path)}
    assert set(found) == {"sam2.1_hiera_tiny", "mobile_sam", "mine", "scratch/tiny_sam1"}
    assert all(model.ready for model in found.values())
    assert found["mobile_sam"].decoder == tmp_path / "sam_vit_h_4b8939.decoder.onnx"
    assert found["sam2.1_hiera_tiny"].layout == "sam2" and found["mine"].layout == "sam1"


def test_the_models_folder_follows_the_data_home(tmp_path, monkeypatch):
    monkeypatch.delenv("YOLO_STUDIO_SAM_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert models_folder() == tmp_path / "yolo-studio" / "sam-models"
    monkeypatch.setenv("YOLO_STUDIO_SAM_DIR", str(tmp_path / "mine"))
    assert models_folder() == tmp_path / "mine"


def test_find_models_says_what_is_missing_or_wrong(tmp_path):
    encoder, _decoder = tiny.build_pair(tmp_path / "a", "sam1", name="lonely")
    (encoder.parent / "lonely.decoder.onnx").unlink()
    broken, _ = tiny.build_pair(tmp_path / "b", "sam2", name="broken")
    (broken.parent / "broken.decoder.onnx").write_text("not a model")
    found = {model.name: model for model in find_models(tmp_path)}
    assert found["a/lonely"].problem == (
        f"{encoder}: the decoder half is missing; put lonely.decoder.onnx (from the same export) "
        f"in {encoder.parent}"
    )
    assert not found["b/broken"].ready
    assert "broken.decoder.onnx: is not an ONNX model" in found["b/broken"].problem
    assert find_models(tmp_path / "nowhere") == []


# --- downloads ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(pairs) -> dict[str, bytes]:
    encoder, decoder = pairs["sam2"]
    return {"t.encoder.onnx": encoder.read_bytes(), "t.decoder.onnx": decoder.read_bytes()}


def _catalogue(url: str, served: dict[str, bytes], **sha) -> dict[str, SamDownload]:
    files = [
        DownloadFile(f"{url}/{name}", name, sha.get(name.split(".")[1]), min_bytes=100)
        for name in served
    ]
    return {"t": SamDownload("Tiny", "sam2", files[0], files[1], megabytes=1)}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_download_fetches_both_halves_checked(tmp_path, served):
    events: list[DownloadProgress] = []
    with FileServer(served, key=by_file_name, prefix="/releases") as server:
        catalogue = _catalogue(
            server.url,
            served,
            encoder=_sha(served["t.encoder.onnx"]),
            decoder=_sha(served["t.decoder.onnx"]),
        )
        model = download_sam("t", tmp_path, events.append, downloads=catalogue)
    assert model.ready and model.layout == "sam2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.decoder.onnx", "t.encoder.onnx"]
    assert model.encoder.read_bytes() == served["t.encoder.onnx"]
    finished = [event for event in events if event.finished]
    assert len(finished) == 2 and all(event.verified for event in finished)
    assert [m.name for m in find_models(tmp_path) if m.ready] == ["t"]
    assert load_sam(model.encoder, model.decoder).layout == "sam2"


def test_a_checksum_mismatch_keeps_nothing(tmp_path, served):
    with FileServer(served, key=by_file_name, prefix="/releases") as server:
        catalogue = _catalogue(server.url, served, decoder="0" * 64)
        with pytest.raises(SamModelError, match="not the expected 0000") as error:
            download_sam("t", tmp_path, downloads=catalogue)
    assert list(tmp_path.iterdir()) == []  # not even the encoder that arrived first
    assert error.value.path == str(tmp_path / "t.decoder.onnx")
    assert error.value.message.endswith(
        f"(downloaded from {server.url}/t.decoder.onnx; nothing was kept)"
    )


def test_an_interrupted_download_keeps_nothing(tmp_path, served):
    with FileServer(served, key=by_file_name, prefix="/releases") as server:
        server.behaviour = "truncate"
        with pytest.raises(SamModelError, match="stopped early"):
            download_sam("t", tmp_path, downloads=_catalogue(server.url, served))
    assert list(tmp_path.iterdir()) == []


def test_a_download_that_is_the_wrong_file_keeps_nothing(tmp_path, served):
    swapped = {
        "t.encoder.onnx": served["t.decoder.onnx"],
        "t.decoder.onnx": served["t.decoder.onnx"],
    }
    with FileServer(swapped, key=by_file_name, prefix="/releases") as server:
        with pytest.raises(SamModelError, match="this is the decoder half; choose the encoder"):
            download_sam("t", tmp_path, downloads=_catalogue(server.url, swapped))
    assert list(tmp_path.iterdir()) == []


def test_a_cancelled_download_keeps_nothing(tmp_path, served):
    token = CancelToken()

    def cancel_midway(event: DownloadProgress) -> None:
        if event.done:
            token.cancel()

    with FileServer(served, key=by_file_name, prefix="/releases") as server:
        with pytest.raises(Cancelled):
            download_sam(
                "t", tmp_path, cancel_midway, token, downloads=_catalogue(server.url, served)
            )
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_download_name_lists_the_known_ones(tmp_path):
    with pytest.raises(
        SamModelError, match="known: mobile_sam, sam2.1_hiera_small, sam2.1_hiera_tiny"
    ):
        download_sam("sam3", tmp_path)
