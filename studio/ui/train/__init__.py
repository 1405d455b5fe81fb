"""The Train page: ``TrainPage(project, jobs, parent)``."""

from .page import TrainPage

__all__ = ["TrainPage"]
