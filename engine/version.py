"""The engine's version, written into every checkpoint and export."""

__version__ = "0.1.0"
