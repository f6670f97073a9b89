"""The console log handler of the Django settings.

``logging.StreamHandler`` keeps the ``sys.stderr`` of the moment it was configured. The
settings are applied once per process, possibly while ``sys.stderr`` is temporarily replaced:
by a test's output capture, by a progress display, by a notebook cell. Afterwards every
warning went to that stale stream, or, once it was closed, became a "--- Logging error ---"
report instead of the warning. :class:`CurrentStderrHandler` writes to whatever
``sys.stderr`` is when the record is emitted.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

__all__ = ["CurrentStderrHandler"]


class CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A :class:`logging.StreamHandler` on the current ``sys.stderr`` of each record."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        """Ignored: the stream is always the current ``sys.stderr``."""
