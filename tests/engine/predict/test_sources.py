from __future__ import annotations

import http.server
import threading

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.cancel import CancelToken
from engine.errors import Cancelled, SourceError
from engine.predict.sources import iter_batches, open_source


def noise(h=24, w=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def write_video(path, frames=7, size=(32, 24)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), i * 30, np.uint8))
    writer.release()
    return path


def frames_of(source, **kwargs):
    with open_source(source, **kwargs) as frames:
        return list(frames)


def test_image_file_folder_and_glob(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), noise(seed=i))
    (tmp_path / "notes.txt").write_text("not media")
    single = frames_of(tmp_path / "1.png")
    assert len(single) == 1 and single[0].image.shape == (24, 32, 3)
    assert [f.path for f in frames_of(tmp_path)] == [str(tmp_path / f"{i}.png") for i in range(3)]
    assert len(frames_of(str(tmp_path / "*.png"))) == 3
    with open_source(tmp_path) as source:
        assert source.total == 3 and not source.is_stream


def test_video_frame_by_frame_with_stride(tmp_path):
    video = write_video(tmp_path / "clip.avi")
    frames = frames_of(video)
    assert [f.frame for f in frames] == list(range(7)) and frames[0].kind == "video"
    strided = frames_of(video, vid_stride=3)
    assert [f.frame for f in strided] == [0, 3, 6]
    assert strided[1].image.mean() == pytest.approx(90, abs=6)


def test_arrays_pil_and_lists(tmp_path):
    grey = np.zeros((10, 12), np.uint8)
    rgba = np.zeros((10, 12, 4), np.uint8)
    pil = Image.fromarray(np.full((5, 6, 3), (255, 0, 0), np.uint8))  # red in RGB
    cv2.imwrite(str(tmp_path / "a.jpg"), noise())
    frames = frames_of([grey, rgba, pil, tmp_path / "a.jpg"])
    assert [f.image.shape for f in frames] == [(10, 12, 3), (10, 12, 3), (5, 6, 3), (24, 32, 3)]
    assert tuple(frames[2].image[0, 0]) == (0, 0, 255)  # BGR
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [len(b) for b in iter_batches(frames, 3)] == [3, 1]


def test_a_corrupt_image_in_a_folder_is_skipped_with_a_warning(tmp_path):
    cv2.imwrite(str(tmp_path / "good.png"), noise())
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 broken")
    warnings = []
    frames = frames_of(tmp_path, on_warning=lambda m, p: warnings.append(p))
    assert [f.path for f in frames] == [str(tmp_path / "good.png")]
    assert warnings == [str(tmp_path / "bad.jpg")]
    with pytest.raises(SourceError, match="bad.jpg"):
        frames_of(tmp_path / "bad.jpg")


def test_url_image_from_a_local_server(tmp_path):
    ok, encoded = cv2.imencode(".jpg", noise())
    body = encoded.tobytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path != "/cat.jpg":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        frames = frames_of(f"{base}/cat.jpg")
        assert frames[0].image.shape == (24, 32, 3) and frames[0].path == f"{base}/cat.jpg"
        with pytest.raises(SourceError, match="could not be downloaded"):
            frames_of(f"{base}/missing.jpg")
    finally:
        server.shutdown()
        server.server_close()


class FakeCamera:
    """A capture that yields numbered frames forever (a webcam) until released."""

    instances: list = []

    def __init__(self, index, opened=True):
        self.index, self.opened, self.count, self.released = index, opened, 0, False
        FakeCamera.instances.append(self)

    def isOpened(self):  # noqa: N802 - OpenCV's name
        return self.opened

    def grab(self):
        self.count += 1
        return True

    def retrieve(self):
        return True, np.full((4, 4, 3), self.count % 256, np.uint8)

    def get(self, _prop):
        return 0

    def release(self):
        self.released = True


def test_a_camera_streams_until_cancelled_and_is_released():
    token = CancelToken()
    seen = []
    with pytest.raises(Cancelled):
        with open_source(0, cancel=token, capture_factory=FakeCamera) as source:
            assert source.is_stream and source.total is None
            for frame in source:
                seen.append(frame)
                if len(seen) == 5:
                    token.cancel()
    assert len(seen) == 5 and seen[0].kind == "stream" and seen[0].path == "camera0"
    assert FakeCamera.instances[-1].index == 0 and FakeCamera.instances[-1].released


def test_bad_sources_name_themselves(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        open_source(tmp_path / "nope.jpg")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no images or videos"):
        open_source(tmp_path / "empty")
    with pytest.raises(SourceError, match="matches no images"):
        open_source(str(tmp_path / "*.jpg"))
    (tmp_path / "a.xyz").write_text("?")
    with pytest.raises(SourceError, match="neither an image nor a video"):
        open_source(tmp_path / "a.xyz")
    with pytest.raises(SourceError, match="cannot predict on a dict"):
        open_source({"a": 1})
    with pytest.raises(SourceError, match="camera cannot be opened"):
        frames_of(1, capture_factory=lambda i: FakeCamera(i, opened=False))
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(SourceError, match="video cannot be opened"):
        frames_of(tmp_path / "broken.mp4")
