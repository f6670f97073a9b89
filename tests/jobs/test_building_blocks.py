"""Framework-free building blocks: dependency graph, retry backoff, clocks, progress lines."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from stratoflow.errors import ConfigError, ScheduleError, TaskError, TransientTransferError
from stratoflow.jobs import (
    ManualClock,
    ScaledClock,
    SystemClock,
    backoff,
    find_cycle,
    is_transient,
    run_order,
)
from stratoflow.jobs.progress import PlainProgress, summarize
from stratoflow.jobs.states import RunState, check_run_transition


def test_find_cycle_names_the_path() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert find_cycle({"x": [], "a": ["b"], "b": ["a"]}) == ["a", "b", "a"]


def test_run_order_puts_dependencies_first_and_keeps_given_order_otherwise() -> None:
    edges = {"report": ["import", "qc"], "qc": ["import"]}
    assert run_order(edges, ["report", "qc", "import", "other"]) == [
        "import",
        "qc",
        "report",
        "other",
    ]
    with pytest.raises(ConfigError, match="a -> b -> a"):
        run_order({"a": ["b"], "b": ["a"]}, ["a", "b"])


def test_backoff_grows_exponentially_with_jitter_and_cap() -> None:
    rng = random.Random(42)
    for attempt, ceiling in [(1, 10.0), (2, 20.0), (3, 40.0), (4, 80.0)]:
        delays = [backoff(attempt, base=10.0, cap=1000.0, rng=rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 150  # jittered, not constant
    assert backoff(40, base=10.0, cap=60.0, rng=rng) <= 60.0
    with pytest.raises(ValueError, match="attempt must be >= 1"):
        backoff(0, base=1.0)


def test_transient_classification() -> None:
    assert is_transient(TransientTransferError("503"))
    assert is_transient(TimeoutError("read timed out"))
    assert not is_transient(TaskError("corrupt file"))
    assert not is_transient(ValueError("bug"))


def test_clocks() -> None:
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    manual = ManualClock(start)
    manual.advance(timedelta(hours=2))
    assert manual.now() == start + timedelta(hours=2)
    manual.set(start)
    assert manual.now() == start
    with pytest.raises(ScheduleError):
        ManualClock(datetime(2026, 1, 1))
    scaled = ScaledClock(start, epoch=time.time() - 1.0, speed=3600.0)
    assert start + timedelta(minutes=59) < scaled.now() < start + timedelta(hours=2)
    with pytest.raises(ScheduleError):
        ScaledClock(start, epoch=0.0, speed=0)
    assert SystemClock().now().tzinfo is not None


def test_failed_run_can_go_back_to_pending_for_a_retry() -> None:
    assert check_run_transition(RunState.FAILED, RunState.PENDING) == RunState.PENDING


def test_progress_summary_and_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    finished, failed, total, rate, eta = summarize({"done": 6, "failed": 2, "queued": 8}, 4.0)
    assert (finished, failed, total, rate, eta) == (8, 2, 16, 2.0, 4.0)
    assert summarize({"queued": 3}, 0.0)[4] is None
    progress = PlainProgress(every=3600)
    progress.update("import", {"queued": 2}, 0.1)
    progress.update("import", {"queued": 1, "done": 1}, 0.2)  # throttled
    progress.update("import", {"done": 2}, 0.3)
    progress.update("import", {"done": 2}, 0.4)  # already reported complete
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "import: 0/2 done, 0 failed, 0.0 tasks/s, ETA ?",
        "import: 2/2 done, 0 failed, 6.7 tasks/s, ETA 0 s",
    ]
