"""The child process of one export (``python -m studio.services.export_process``).

It loads the checkpoint, writes one format with its parity check, and answers the outcome as
JSON (studio/services/child_job.py). A converter or runtime that crashes ends this process
only; ``model_export`` turns that into the row's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.cancel import CancelToken


def export_one(job: Mapping[str, Any], cancel: CancelToken) -> dict[str, Any]:
    """``job``: ``checkpoint``, ``format``, ``options``, ``data`` (or None)."""
    from engine.api import YOLO

    from .model_export import ExportRequest, export_formats, export_outcome, outcome_to_json

    model = YOLO(Path(job["checkpoint"]), progress=lambda _event: None)
    info = {i.format: i for i in export_formats()}.get(job["format"])
    request = ExportRequest(job["format"], dict(job.get("options") or {}))
    return outcome_to_json(export_outcome(model, info, request, job.get("data"), cancel))


if __name__ == "__main__":
    from engine.process.threads import configure_threads

    configure_threads()  # before torch loads in this process
    from .child_job import serve

    serve(export_one)
