"""Background work for the studio: one ``Job`` per task on its own QThread, reporting through
Qt signals; ``JobManager`` knows every running job (the status bar's jobs indicator)."""

from .job import Job, JobManager, JobProgress

__all__ = ["Job", "JobManager", "JobProgress"]
