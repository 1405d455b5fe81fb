"""The Export wizard page (formats, options, background export, results with parity)."""

from .page import ExportPage

__all__ = ["ExportPage"]
