"""Jobs at shutdown: every started job, listed or quiet, is cancelled and waited for."""

from __future__ import annotations

import threading

from engine.errors import Cancelled
from studio.workers.job import Job, finish_every_job


def test_finish_every_job_cancels_and_waits_for_an_unlisted_job(qapp):
    began = threading.Event()

    def work(_progress, cancel):
        began.set()
        while not cancel.cancelled:  # a checkpoint read that looks at the token between steps
            threading.Event().wait(0.01)
        raise Cancelled()

    job = Job("reading", work)  # not held by anyone here: the live set holds it
    job.start()
    assert began.wait(10)
    assert finish_every_job(10000) == []
    assert job._thread.isFinished()


def test_a_job_that_outlives_the_wait_is_named(qapp):
    release = threading.Event()
    job = Job("stuck", lambda _p, _c: release.wait(20))
    job.start()
    try:
        assert finish_every_job(100) == ["stuck"]
    finally:
        release.set()
        assert job.wait(10000)
