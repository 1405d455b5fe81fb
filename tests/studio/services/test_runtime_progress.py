"""A checkpoint's first prediction in the studio says what it compiles (issue 21 item 1): the
engine's fast CPU path reports one export run, and a job's progress shows its description."""

from __future__ import annotations

from engine.events import RunFinished, RunStarted, StepEnd
from studio.services.job_progress import ProgressReporter


def test_a_jobs_progress_says_what_the_first_prediction_compiles():
    calls = []
    reporter = ProgressReporter(lambda *args: calls.append(args), "validating")
    doing = "compiling best.pt for OpenVINO at 640 px, once: later runs reuse /cache/x"
    reporter(RunStarted("export", "segment", "/cache/x", 1, doing))
    reporter(RunFinished("export", "completed", "/cache/x"))
    reporter(RunStarted("val", "segment", None, 4, "shapes.yaml val: 4 images"))
    reporter(StepEnd("val", 0, 0, 1, 2))
    assert calls == [(0, 0, doing), (1, 2, "validating: batch 1 of 2")]
