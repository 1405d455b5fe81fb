"""Keep the main thread's alternate signal stack as it was around runtimes that replace it.

OpenVINO's CPU plugin installs an alternate signal stack on the calling thread when it compiles
a model (seen with openvino 2026.4: 11,568 bytes, a new one per compile). CPython runs its
signal handlers on the alternate stack (it registers them with SA_ONSTACK), and afterwards the
kernel could not deliver SIGINT on that stack: Ctrl+C killed the process with SIGSEGV instead
of stopping the run. Restoring the previous stack after the runtime's set-up avoids that.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import sys
from collections.abc import Iterator

log = logging.getLogger(__name__)


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int),
                ("ss_size", ctypes.c_size_t)]


def _sigaltstack() -> ctypes._CFuncPtr | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).sigaltstack
    except (OSError, AttributeError):
        return None


@contextlib.contextmanager
def signal_stack_kept() -> Iterator[None]:
    """Run the body, then put back the alternate signal stack the thread had before."""
    call = _sigaltstack()
    if call is None:
        yield
        return
    before = _StackT()
    call(None, ctypes.byref(before))
    try:
        yield
    finally:
        after = _StackT()
        call(None, ctypes.byref(after))
        if (after.ss_sp, after.ss_size, after.ss_flags) != (
            before.ss_sp, before.ss_size, before.ss_flags
        ) and call(ctypes.byref(before), None) != 0:
            log.debug("could not restore the alternate signal stack (errno %d)",
                      ctypes.get_errno())
