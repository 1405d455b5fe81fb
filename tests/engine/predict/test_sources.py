from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.cancel import CancelToken
from engine.errors import Cancelled, SourceError
from engine.predict.sources import Frame, iter_batches, open_source

from .conftest import CaptureFactory, noise, write_png, write_video

CLOSED_URL = "http://127.0.0.1:9/closed.jpg"


def frames_of(source, **kwargs) -> list[Frame]:
    with open_source(source, **kwargs) as frames:
        return list(frames)


# --- files, folders, globs --------------------------------------------------------------------


def test_an_image_file_given_as_str_or_path(tmp_path):
    image = write_png(tmp_path / "a.png")
    for source in (tmp_path / "a.png", str(tmp_path / "a.png")):
        with open_source(source) as frames:
            assert frames.total == 1 and not frames.is_stream
            (frame,) = list(frames)
        assert np.array_equal(frame.image, image)
        assert (frame.path, frame.index, frame.frame, frame.kind) == (
            str(tmp_path / "a.png"),
            0,
            None,
            "image",
        )


def test_a_folder_gives_its_images_and_videos_sorted_and_ignores_the_rest(tmp_path):
    for name in ("b.png", "a.jpg", "c.PNG"):
        write_png(tmp_path / name)
    write_video(tmp_path / "d.avi", frames=3)
    (tmp_path / "notes.txt").write_text("not media")
    write_png(tmp_path / "sub" / "deeper.png")  # subfolders are not entered
    with open_source(tmp_path) as source:
        assert source.total == 6
        frames = list(source)
    names = [f.path.rsplit("/", 1)[-1] for f in frames]
    assert names == ["a.jpg", "b.png", "c.PNG", "d.avi", "d.avi", "d.avi"]
    assert [f.index for f in frames] == list(range(6))
    assert [f.kind for f in frames] == ["image"] * 3 + ["video"] * 3


def test_glob_patterns_plain_and_recursive(tmp_path):
    write_png(tmp_path / "x1.png")
    write_png(tmp_path / "x2.jpg")
    write_png(tmp_path / "sub" / "x3.png")
    (tmp_path / "sub" / "x4.png.txt").write_text("?")
    assert [f.path for f in frames_of(str(tmp_path / "*.png"))] == [str(tmp_path / "x1.png")]
    deep = frames_of(str(tmp_path / "**" / "*.png"))
    assert [f.path for f in deep] == [str(tmp_path / "sub" / "x3.png"), str(tmp_path / "x1.png")]


def test_an_existing_file_whose_name_looks_like_a_glob_is_read_as_a_file(tmp_path):
    image = write_png(tmp_path / "shot[1].png")
    assert np.array_equal(frames_of(str(tmp_path / "shot[1].png"))[0].image, image)


# --- videos -----------------------------------------------------------------------------------


def test_a_video_frame_by_frame_numbered_from_zero(tmp_path):
    video = write_video(tmp_path / "clip.avi")
    with open_source(video) as source:
        assert source.total == 7 and not source.is_stream
        frames = list(source)
    assert [f.frame for f in frames] == list(range(7))
    assert [f.index for f in frames] == list(range(7))
    assert {(f.kind, f.total_frames, f.path) for f in frames} == {("video", 7, str(video))}
    assert [round(f.image.mean() / 30) for f in frames] == list(range(7))
    assert frames[0].image.shape == (24, 32, 3) and frames[0].image.dtype == np.uint8


@pytest.mark.parametrize(("stride", "kept"), [(2, [0, 2, 4, 6]), (3, [0, 3, 6]), (10, [0])])
def test_vid_stride_keeps_every_nth_frame(tmp_path, stride, kept):
    video = write_video(tmp_path / "clip.avi")
    with open_source(video, vid_stride=stride) as source:
        assert source.total == len(kept)
        frames = list(source)
    assert [f.frame for f in frames] == kept
    assert [round(f.image.mean() / 30) for f in frames] == kept  # the right pictures, too


def test_vid_stride_with_a_capture_that_has_no_grab():
    factory = CaptureFactory(frames=5)
    frames = frames_of(0, vid_stride=2, capture_factory=factory)
    assert [f.frame for f in frames] == [0, 2, 4]
    assert [int(f.image[0, 0, 0]) for f in frames] == [1, 3, 5]


def test_close_releases_a_video_left_half_read(tmp_path):
    video = write_video(tmp_path / "clip.avi")
    made = []

    def factory(target):
        made.append(cv2.VideoCapture(target))
        return made[-1]

    source = open_source(video, capture_factory=factory)
    assert made[-1].isOpened()  # a single video is opened up front
    next(iter(source))
    source.close()
    assert not made[-1].isOpened()


# --- in-memory images -------------------------------------------------------------------------


def test_arrays_are_converted_to_three_channel_bgr():
    bgr = noise()
    assert np.array_equal(frames_of(bgr)[0].image, bgr)
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = frames_of(grey)[0].image
    assert out.shape == (3, 4, 3) and all(np.array_equal(out[..., c], grey) for c in range(3))
    bgra = np.dstack([bgr, np.full(bgr.shape[:2], 7, np.uint8)])
    assert np.array_equal(frames_of(bgra)[0].image, bgr)
    deep = np.full((2, 2), 0xABCD, np.uint16)
    assert frames_of(deep)[0].image.max() == 0xAB
    frame = frames_of(bgr)[0]
    assert (frame.path, frame.kind, frame.frame) == ("image0", "array", None)


def test_a_pil_image_is_converted_from_rgb_to_bgr(tmp_path):
    pil = Image.fromarray(np.full((5, 6, 3), (255, 0, 0), np.uint8))  # red, in RGB order
    frame = frames_of(pil)[0]
    assert frame.image.shape == (5, 6, 3) and tuple(frame.image[0, 0]) == (0, 0, 255)
    assert frame.path == "image0"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as opened:
        assert frames_of(opened)[0].path == str(tmp_path / "p.png")  # named by its file


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((4, 4, 2), np.uint8), r"shape \(4, 4, 2\) is not an image"),
        (np.zeros((0, 4, 3), np.uint8), "is not an image"),
        (np.zeros((4, 4, 3), np.float32), "must be uint8"),
    ],
)
def test_arrays_that_are_not_images_are_refused(array, match):
    with pytest.raises(SourceError, match=match):
        open_source(array)


def test_a_list_mixes_kinds_with_running_indices(tmp_path):
    write_png(tmp_path / "a.png")
    write_video(tmp_path / "v.avi", frames=2)
    source = [noise(seed=1), tmp_path / "a.png", noise(seed=2), str(tmp_path / "v.avi")]
    with open_source(source) as frames:
        assert frames.total == 5
        got = list(frames)
    assert [f.index for f in got] == [0, 1, 2, 3, 4]
    assert [f.path for f in got[:3]] == ["image0", str(tmp_path / "a.png"), "image2"]
    assert [f.kind for f in got] == ["array", "image", "array", "video", "video"]
    assert np.array_equal(got[2].image, noise(seed=2))


def test_iter_batches_groups_lazily():
    frames = (Frame(noise(2, 2), f"image{i}", i) for i in range(7))
    batches = iter_batches(frames, 3)
    assert [f.index for f in next(batches)] == [0, 1, 2]
    assert [[f.index for f in b] for b in batches] == [[3, 4, 5], [6]]
    assert list(iter_batches([], 4)) == []
    with pytest.raises(ValueError, match="batch must be 1 or more"):
        list(iter_batches([], 0))


# --- URLs -------------------------------------------------------------------------------------


def test_an_image_url_is_downloaded_into_memory(serve):
    image = noise()
    server = serve({"/cat.png": cv2.imencode(".png", image)[1].tobytes()})
    url = f"{server.url}/cat.png"
    with open_source(url) as source:
        assert source.total == 1
        (frame,) = list(source)
    assert np.array_equal(frame.image, image) and frame.path == url and frame.kind == "image"


def test_failing_urls_name_the_url_and_the_reason(serve):
    server = serve({"/page.png": b"<html>not an image</html>"})
    with pytest.raises(SourceError, match=r"/missing\.jpg: could not be downloaded \(HTTP 404"):
        frames_of(f"{server.url}/missing.jpg")
    with pytest.raises(SourceError, match=r"/page\.png: not a readable image"):
        frames_of(f"{server.url}/page.png")
    with pytest.raises(SourceError, match=r"closed\.jpg: could not be downloaded \(.*refused"):
        frames_of(CLOSED_URL, timeout=5)


def test_a_failing_url_in_a_list_is_skipped_with_a_warning(serve):
    server = serve({"/ok.png": cv2.imencode(".png", noise())[1].tobytes()})
    warnings = []
    frames = frames_of(
        [f"{server.url}/gone.png", f"{server.url}/ok.png"],
        on_warning=lambda message, path: warnings.append((message, path)),
    )
    assert [f.path for f in frames] == [f"{server.url}/ok.png"]
    ((message, path),) = warnings
    assert path == f"{server.url}/gone.png" and message.startswith("skipped: could not be")
    assert "HTTP 404" in message


def test_a_video_url_goes_to_the_capture_directly():
    factory = CaptureFactory(frames=3)
    with open_source("https://example.invalid/clip.mp4?token=1", capture_factory=factory) as src:
        assert src.total is None and not src.is_stream  # its length is not known up front
        frames = list(src)
    assert factory.made[0].target == "https://example.invalid/clip.mp4?token=1"
    assert [f.frame for f in frames] == [0, 1, 2] and {f.kind for f in frames} == {"video"}


# --- cameras ----------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, "0", "2"])
def test_a_camera_index_reads_until_the_capture_ends(index):
    factory = CaptureFactory(frames=4)
    with open_source(index, capture_factory=factory) as source:
        assert source.is_stream and source.total is None
        frames = list(source)
    capture = factory.made[0]
    assert capture.target == int(index) and capture.released and len(factory.made) == 1
    assert [f.frame for f in frames] == [0, 1, 2, 3]
    assert {(f.kind, f.path, f.total_frames) for f in frames} == {
        ("stream", f"camera{int(index)}", None)
    }


def test_a_camera_stops_when_cancelled_and_is_released():
    token, seen = CancelToken(), []
    factory = CaptureFactory(frames=None)  # endless, like a webcam
    with pytest.raises(Cancelled):
        with open_source(0, cancel=token, capture_factory=factory) as source:
            for frame in source:
                seen.append(frame.frame)
                if len(seen) == 5:
                    token.cancel()
    assert seen == [0, 1, 2, 3, 4] and factory.made[0].released
    assert factory.made[0].reads == 5  # nothing read after the token was set


def test_cancel_is_checked_between_still_images(tmp_path):
    for i in range(4):
        write_png(tmp_path / f"{i}.png")
    token, seen = CancelToken(), []
    with pytest.raises(Cancelled):
        for frame in open_source(tmp_path, cancel=token):
            seen.append(frame.index)
            token.cancel()
    assert seen == [0]


def test_a_live_stream_url_is_a_stream():
    factory = CaptureFactory(frames=2)
    with open_source("rtsp://127.0.0.1:8554/live", capture_factory=factory) as source:
        assert source.is_stream and source.total is None
        assert [f.kind for f in source] == ["stream", "stream"]


# --- problems ---------------------------------------------------------------------------------


def test_a_corrupt_image_in_a_folder_is_skipped_with_a_warning(tmp_path):
    write_png(tmp_path / "good.png")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 broken")
    (tmp_path / "empty.png").write_bytes(b"")
    warnings = []
    frames = frames_of(tmp_path, on_warning=lambda m, p: warnings.append((m, p)))
    assert [f.path for f in frames] == [str(tmp_path / "good.png")]
    assert [p for _, p in warnings] == [str(tmp_path / "bad.jpg"), str(tmp_path / "empty.png")]
    assert all(m.startswith("skipped: ") for m, _ in warnings)
    assert frames[0].index == 0  # indices count what was yielded


def test_without_a_warning_sink_skips_are_logged(tmp_path, caplog):
    write_png(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="engine.predict.sources"):
        frames = frames_of(str(tmp_path / "*.png"))
    assert len(frames) == 1 and "bad.png: skipped" in caplog.text


def test_a_corrupt_single_image_is_an_error(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 broken")
    with pytest.raises(SourceError, match=r"bad\.jpg: not a readable image"):
        frames_of(tmp_path / "bad.jpg")


def test_a_video_that_cannot_be_opened(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(SourceError, match=r"broken\.mp4: the video cannot be opened"):
        open_source(tmp_path / "broken.mp4")  # fails at once, before any iteration
    write_png(tmp_path / "ok.png")
    warnings = []
    frames = frames_of(tmp_path, on_warning=lambda m, p: warnings.append(p))
    assert [f.path for f in frames] == [str(tmp_path / "ok.png")]
    assert warnings == [str(tmp_path / "broken.mp4")]


def test_a_camera_that_cannot_be_opened_fails_at_once():
    factory = CaptureFactory(opened=False)
    with pytest.raises(SourceError, match="camera1: the camera cannot be opened; check that it"):
        open_source(1, capture_factory=factory)
    assert factory.made[0].released


def test_bad_sources_name_themselves_and_say_what_to_do(tmp_path):
    with pytest.raises(SourceError, match=r"nope\.jpg: no such file or folder; check the path"):
        open_source(tmp_path / "nope.jpg")
    (tmp_path / "empty").mkdir()
    write_png(tmp_path / "empty" / "sub" / "a.png")
    with pytest.raises(SourceError, match=r"empty: the folder holds no images or videos .*\*\*"):
        open_source(tmp_path / "empty")
    with pytest.raises(SourceError, match=r"\*\.jpg: the pattern matches no images or videos"):
        open_source(str(tmp_path / "*.jpg"))
    (tmp_path / "a.xyz").write_text("?")
    with pytest.raises(SourceError, match=r"a\.xyz: is neither an image nor a video; give one"):
        open_source(tmp_path / "a.xyz")
    with pytest.raises(SourceError, match="key 'source': cannot predict on a dict; give an"):
        open_source({"a": 1})
    with pytest.raises(SourceError, match="cannot predict on a bool"):
        open_source(True)
    with pytest.raises(SourceError, match="the list of sources is empty"):
        open_source([])
    with pytest.raises(SourceError, match="empty string"):
        open_source("")
    with pytest.raises(SourceError, match="key 'vid_stride': vid_stride must be 1 or more"):
        open_source(noise(), vid_stride=0)
