"""Fixtures of the jobs tests: small noop jobs (the built-in cheap task kind)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings

from _jobs import one_manager_job, transfer_handler


@pytest.fixture
def home(tmp_path: Path, settings: LazySettings) -> Path:
    settings.HOME = tmp_path
    settings.STAGING_DIR = tmp_path / "staging"
    return tmp_path


MakeJob = Callable[..., Any]


@pytest.fixture
def make_job(tmp_path: Path) -> MakeJob:
    """``make_job(name, tasks=3, **manager_options)`` -> a Job with one noop manager."""

    def make(
        name: str = "noop-job",
        *,
        tasks: int = 3,
        concurrency: int = 4,
        max_attempts: int = 3,
        retry_delay: float = 0.0,
        provider_concurrency: int | None = None,
        **options: Any,
    ) -> Any:
        from stratoflow.server.workflow.models import DataProvider

        transfer = None
        if provider_concurrency is not None:
            provider = DataProvider.objects.create(
                name=f"{name}-provider", concurrency=provider_concurrency
            )
            transfer = transfer_handler(
                f"{name}-transfer", provider=provider, transfer_type="local"
            )
        options.setdefault("log", str(tmp_path / f"{name}.log"))
        return one_manager_job(
            name,
            job_fields={"frequency": "hourly"},
            manager="work",
            kind="noop",
            transfer=transfer,
            concurrency=concurrency,
            max_attempts=max_attempts,
            retry_delay=retry_delay,
            options={"tasks": tasks, **options},
        )

    return make


def count_executions(log: Path) -> dict[str, int]:
    """How often each task key's body ran (from a noop manager's log file)."""
    counts: dict[str, int] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            counts[line] = counts.get(line, 0) + 1
    return counts


@pytest.fixture
def executions() -> Callable[[Path], dict[str, int]]:
    """:func:`count_executions` as a fixture."""
    return count_executions
