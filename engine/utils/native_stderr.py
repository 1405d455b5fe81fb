"""Drop a native library's start-up notices from the terminal, keep everything else.

TensorFlow 2.21 writes INFO lines from C++ while it loads (``I0000 ... port.cc:153] oneDNN
custom operations are on``, ``cudart_stub.cc:31] Could not find cuda drivers``,
``cpu_feature_guard.cc``) and a failed ``cuInit`` on machines without a GPU. They come before
absl's logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` (any level) does not hide them: measured
here, the same lines at 1, 2 and 3. No library filters a file descriptor, so this module does
it by hand: for the duration of a ``with`` block, fd 2 is a pipe whose lines a thread forwards
to the real stderr unless they are such a notice. Partial lines (progress bars redrawn with
``\\r``) are forwarded at once unless they could begin a notice.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator

TENSORFLOW_NOISE = re.compile(
    rb"^(?:WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IW]\d{4} [\d:. ]+\d+ [\w.]+\.cc:\d+\] "
    rb"|E\d{4} [\d:. ]+\d+ cuda_platform\.cc:\d+\] failed call to cuInit"
    rb"|To enable the following instructions: .* rebuild TensorFlow)"
)
"""A line of TensorFlow's native start-up output (INFO/WARNING notices, the cuInit failure)."""
COREMLTOOLS_NOISE = re.compile(
    TENSORFLOW_NOISE.pattern
    + rb"|^(?:scikit-learn version \S+ is not supported\."
    rb"|(?:TensorFlow|Torch) version \S+ has not been tested with coremltools\."
    rb"|Failed to load _ML\w+Proxy: No module named 'coremltools\.libcoremlpython'"
    rb"|Saving value type of int64 into a builtin type of int32, might lose precision"
    rb"|Tuple detected at graph output\. This will be flattened"
    rb"|(?:Converting PyTorch Frontend ==> MIL Ops|Running MIL [\w ]+ pipeline):)"
)
"""TensorFlow's notices (coremltools imports it); coremltools' notes that it was not tested
with the installed versions (the export's own check tells whether the result is right), that
its macOS runtime is absent (known: the spec is checked instead), and its converter's progress
bars (the export's own progress is shown)."""
_NOISE_STARTS = (b"W", b"I", b"E", b"To enable", b"scikit-learn", b"TensorFlow", b"Torch",
                 b"Failed to load", b"Saving value", b"Tuple detected", b"Converting PyTorch",
                 b"Running MIL")
"""How a notice can begin: an unfinished line that starts so waits for the rest of it."""


@contextlib.contextmanager
def native_stderr_filtered(noise: re.Pattern[bytes] = TENSORFLOW_NOISE) -> Iterator[None]:
    """Within the block, lines written to fd 2 that match ``noise`` are dropped."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a detached process): nothing to filter
        yield
        return
    read_end, write_end = os.pipe()
    forwarder = threading.Thread(target=_forward, args=(read_end, saved, noise), daemon=True)
    forwarder.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        os.dup2(saved, 2)  # fd 2 was the pipe's last writer: the forwarder now sees its end
        forwarder.join(timeout=5)
        os.close(saved)


def _forward(read_end: int, target: int, noise: re.Pattern[bytes]) -> None:
    pending = b""
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            pending = _write_lines(pending + chunk, target, noise)
    if pending and not noise.match(pending):
        _write(target, pending)


def _write_lines(data: bytes, target: int, noise: re.Pattern[bytes]) -> bytes:
    """Forward the complete lines of ``data`` that are not noise; return the unfinished rest
    (forwarded at once when it cannot begin a notice: a progress bar's redraw)."""
    *lines, rest = re.split(rb"(?<=[\n\r])", data)
    for line in lines:
        if not noise.match(line):
            _write(target, line)
    if rest and not rest.startswith(_NOISE_STARTS) and not any(
            prefix.startswith(rest) for prefix in _NOISE_STARTS):
        _write(target, rest)
        return b""
    return rest


def _write(fd: int, data: bytes) -> None:
    with contextlib.suppress(OSError):
        while data:
            data = data[os.write(fd, data):]
