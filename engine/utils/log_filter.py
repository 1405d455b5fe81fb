"""A logging filter for the length of a block (the logging module has no context manager)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def filtered(logger_name: str, log_filter: logging.Filter) -> Iterator[None]:
    """``log_filter`` on the logger ``logger_name`` while the block runs, removed however it
    ends."""
    logger = logging.getLogger(logger_name)
    logger.addFilter(log_filter)
    try:
        yield
    finally:
        logger.removeFilter(log_filter)
