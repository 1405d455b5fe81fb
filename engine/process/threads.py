"""How torch and onnxruntime share the CPU in one process (measured in benchmarks/ort_threads.py).

Both runtimes keep worker threads that busy-wait ("spin") after each parallel region: torch's
OpenMP threads (libgomp, which spins 300,000 rounds by default) and onnxruntime's own pool.
When anything else wants a core (a second runtime, a loader thread, the GUI, another program) a
spinning pool holds the core that the thread it waits for needs: on 2 cores with one busy
process beside it, a yolov8n-cls training step took 2.2-3 s instead of 25 ms, and a frame of
torch pre-processing plus an onnxruntime call took 6.5 ms instead of 2.5 ms even without one.

- ``GOMP_SPINCOUNT=10000`` (``configure_threads``) cuts torch's spinning short:
  no measurable cost when the CPU is free (24.8 vs 24.5 ms per training step, 4.6 ms per
  224px inference), 7-17x faster steps beside a busy process. ``OMP_WAIT_POLICY=PASSIVE`` is
  rejected: it also cures contention but makes torch 2.4x slower on a free CPU (60 ms per step,
  13.5 ms per inference). libgomp reads the variable once, when torch is imported, so this must
  run before the first ``import torch`` of the process; a user's own setting is kept.
- onnxruntime sessions (``session_options``) spin only inside ``run``: its workers are parked
  the moment a run returns (``session.force_spinning_stop``), so they never hold a core that
  torch's pre- and post-processing, a second runtime or the GUI needs between runs. Within a
  run, spinning is what makes small graphs fast: turned off altogether, yolov8n-cls at 224 took
  about 1.4 ms longer per image (interleaved with plain onnxruntime on this machine).
  Measured with ``benchmarks/ort_threads.py`` (one process per scenario, torch loaded,
  ``GOMP_SPINCOUNT=10000``, yolov8n-cls at 224): onnxruntime 3.62 ms spinning inside runs only,
  4.08 ms never spinning, 3.65 ms with onnxruntime's default; a whole frame (torch
  pre-processing then the run) 5.97, 5.15 and 7.43 ms.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

log = logging.getLogger(__name__)

OPENMP_SETTINGS = {"GOMP_SPINCOUNT": "10000"}
"""What ``configure_threads`` puts in the environment (libgomp: torch's OpenMP on Linux)."""
_USER_CHOICES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def configure_threads(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Shorten OpenMP spinning unless the user chose a policy; returns what it set.

    Call it before torch is imported (libgomp reads the environment once, when it loads);
    once torch is in ``sys.modules`` it changes nothing. ``environ`` defaults to
    ``os.environ``; passing a mapping only fills that mapping (for tests and subprocesses).
    """
    env = os.environ if environ is None else environ
    if any(name in env for name in _USER_CHOICES):
        return {}
    if environ is None and "torch" in sys.modules:
        log.debug("OpenMP settings left alone: torch is already imported, so they would not count")
        return {}
    env.update(OPENMP_SETTINGS)
    return dict(OPENMP_SETTINGS)


def session_options(*, intra_op_threads: int = 0, spinning: bool = True) -> Any:
    """onnxruntime SessionOptions for running beside torch: worker threads spin only while a
    ``run`` is in progress (``spinning=False``: never).

    ``intra_op_threads=0`` lets onnxruntime use one thread per physical core; the graph runs
    sequentially, so one inter-op thread is enough.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    flag = "1" if spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", flag)
    options.add_session_config_entry("session.inter_op.allow_spinning", flag)
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return options
