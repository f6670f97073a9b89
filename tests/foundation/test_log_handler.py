"""stratoflow's warnings reach the stderr of the moment, not the one of set-up time."""

from __future__ import annotations

import io
import logging
import sys

import pytest
from django.conf import settings
from django.utils.module_loading import import_string


def test_the_console_handler_writes_to_the_current_stderr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Configured while stderr was a stream that later closed (a test's capture, a progress
    display), the handler reported '--- Logging error ---' instead of the warning."""
    config = settings.LOGGING["handlers"]["console"]
    handler_class = import_string(config["class"])
    at_setup = io.StringIO()
    monkeypatch.setattr(sys, "stderr", at_setup)
    handler = handler_class()
    at_setup.close()
    now = io.StringIO()
    monkeypatch.setattr(sys, "stderr", now)
    logger = logging.getLogger("stratoflow.test_log_handler")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("disk nearly full")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert now.getvalue() == "disk nearly full\n"
