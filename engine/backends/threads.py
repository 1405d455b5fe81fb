"""How onnxruntime and torch share the CPU in one process (see benchmarks/ort_threads.py).

Both runtimes keep worker threads that busy-wait ("spin") after each parallel region: torch's
OpenMP threads (libgomp) and onnxruntime's own pool. On a machine with few cores a spinning pool
holds the cores the other runtime needs, and a frame that does torch pre/post-processing around
an onnxruntime call runs several times slower. Two settings stop it:

- onnxruntime sessions that do not spin (``session_options``): local, no side effect;
- ``OMP_WAIT_POLICY=PASSIVE`` for torch's OpenMP, which libgomp reads once, when torch is
  imported: ``configure_threads()`` must run before the first ``import torch`` of the process.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

log = logging.getLogger(__name__)

WAIT_POLICY = "OMP_WAIT_POLICY"


def configure_threads(environ: MutableMapping[str, str] | None = None) -> bool:
    """Make OpenMP threads wait passively, unless the user set a policy; True when applied.

    Effective only before torch is imported (libgomp reads the variable when it loads); later it
    does nothing and says so in the log. A policy already in the environment is respected.
    """
    env = os.environ if environ is None else environ
    if WAIT_POLICY in env:
        return False
    if environ is None and "torch" in sys.modules:
        log.debug("%s not set: torch is already imported, so it would have no effect", WAIT_POLICY)
        return False
    env[WAIT_POLICY] = "PASSIVE"
    return True


def session_options(*, intra_op_threads: int = 0, spinning: bool = False) -> Any:
    """onnxruntime SessionOptions for running beside torch: worker threads do not spin.

    ``intra_op_threads=0`` lets onnxruntime use one thread per physical core.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    flag = "1" if spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", flag)
    options.add_session_config_entry("session.inter_op.allow_spinning", flag)
    return options
