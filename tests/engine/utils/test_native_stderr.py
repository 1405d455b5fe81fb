"""Native start-up notices are dropped from fd 2; everything else reaches it, in order."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = r"""
import os, sys
from engine.utils.native_stderr import native_stderr_filtered, COREMLTOOLS_NOISE
def say(text):
    os.write(2, text.encode())
say("before\n")
with native_stderr_filtered():
    say("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    say("I0000 00:00:1796558775.563433    8666 port.cc:153] oneDNN custom operations are on.\n")
    say("E0000 00:00:1796558779.707969    8666 cuda_platform.cc:52] failed call to cuInit: x\n")
    say("a real error\n")
    say("bar  10%\r")
    say("bar 100%\n")
    say("Edge case: a line that starts like a notice\n")
    say("E0000 00:00:1.0 9 other.cc:1] a native error that matters\n")
    print("python's own stderr", file=sys.stderr, flush=True)
    say("unfinished")
say("\nafter\n")
with native_stderr_filtered(COREMLTOOLS_NOISE):
    say("Failed to load _MLModelProxy: No module named 'coremltools.libcoremlpython'\n")
    say("Converting PyTorch Frontend ==> MIL Ops:  24%|##  | 17/731\r")
    say("kept\n")
"""


def test_notices_are_dropped_and_the_rest_kept_in_order():
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, timeout=60,
                          check=True)
    assert done.stderr.decode() == (  # bytes: a progress bar's \r must arrive as it was sent
        "before\na real error\nbar  10%\rbar 100%\nEdge case: a line that starts like a notice\n"
        "E0000 00:00:1.0 9 other.cc:1] a native error that matters\npython's own stderr\n"
        "unfinished\nafter\nkept\n")
