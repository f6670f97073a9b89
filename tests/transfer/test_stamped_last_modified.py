"""A portal that stamps ``Last-Modified`` with the time of each answer: its files are
downloaded once, not at every run.

Portals that generate downloads on request (CGI and PHP download scripts) answer every
``HEAD`` and ``GET`` with ``Last-Modified`` = now. For a listing that tells no version the
marker of a file was its ``Last-Modified`` and length: another one at every run, so every
file was downloaded again at every run (staged once: the same bytes), and one whose stamp
lags the portal's ``Date`` (a script with a clock of its own) looked changed at every look
of the settle guard and was never taken. Now ``Last-Modified`` that follows the time of the
answers, with nothing else changing, is no version marker: the length (a steady ETag, the
listed size and time) decides, and a file that grows is still not taken while it does.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from stratoflow.transfer import StagingArea

from ._portal import Portal
from .test_faults import assert_staging_clean
from .test_fresh_etags import CASES, _downloads, _files, growing_file_waits, grown_file_not_staged
from .test_settle import _portal_run, _written_a_minute_ago

#: How the portal stamps its answers: with their ``Date`` to the second, or 30 s behind it
#: (a script whose clock is behind the server's). Its clock runs 20 times as fast, so that
#: the settle guard's looks at a file, 0.1 s apart or more here, are seconds apart by it, as
#: they are with the default ``settle`` (1 s): answers within one second cannot tell a
#: stamp from a file written in that second
STAMPS: dict[str, dict[str, object]] = {
    "date": {"generated": True, "clock_rate": 20},
    "behind": {"generated": True, "stamp_offset": -30, "clock_rate": 20},
}
#: The settle interval of the tests where no file grows: 2 s by such a portal's clock
QUICK = 0.1
#: The settle guard's looks at a file by ``HEAD`` (its listing tells a size, or none), and
#: listed times with the ``HEAD`` looks (a listing with no size: the listings alone do not
#: tell enough): without such looks (no settle guard, or one that compares listings only)
#: nothing tells such a portal
HEAD_CASES: dict[str, dict[str, object]] = {
    "head": {"settle": QUICK},
    "head-no-size": {"settle": QUICK, "size_field": None},
    "head-and-time": {"settle": QUICK, "size_field": None, "modified_field": "updated"},
}
#: :data:`CASES` with the quick settle interval (for the tests where no file grows)
QUICK_CASES = {c: {**o, "settle": QUICK if o["settle"] else 0} for c, o in CASES.items()}
STAMPED = [*(("date", c) for c in HEAD_CASES), ("behind", "head")]
SAID = "stamps Last-Modified with the time of each answer"


def _said(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if SAID in r.getMessage()]


@pytest.mark.parametrize(("stamp", "case"), STAMPED)
def test_the_files_of_a_portal_that_stamps_its_answers_are_downloaded_once(
    portal_factory: Callable[..., Portal],
    remote_root: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    stamp: str,
    case: str,
) -> None:
    """Every file is taken by the first run (a stamp behind the ``Date`` left it for a
    later run, for ever) and none is downloaded again by the next, a new transfer object as
    a new process has it (every run downloaded every file again); the portal is named once
    in the log. A file rewritten since with another length is still a new version."""
    caplog.set_level(logging.INFO, logger="stratoflow")
    names = _files(remote_root, 3)  # two listing pages
    portal = portal_factory(**STAMPS[stamp])
    staging = StagingArea(tmp_path / "staging")

    run = _portal_run(portal, **HEAD_CASES[case])
    staged = run.fetch_new(staging)
    assert sorted(s.name for s in staged) == names
    assert len(_downloads(portal)) == len(names)
    assert all(s.version is not None and s.version.startswith("length:") for s in staged)
    assert all((":listed:" in str(s.version)) == (case == "head-and-time") for s in staged)
    assert run.transfer.last_modified_tells_versions is False  # type: ignore[attr-defined]
    assert_staging_clean(staging)

    portal.requests.clear()
    portal.clock_offset += 60  # the next run, a minute later: every stamp is another
    assert _portal_run(portal, **HEAD_CASES[case]).fetch_new(staging) == []
    assert _downloads(portal) == []

    (remote_root / "f1.nc").write_bytes(b"a corrected f1")
    _written_a_minute_ago(remote_root / "f1.nc")
    [corrected] = _portal_run(portal, **HEAD_CASES[case]).fetch_new(staging)
    assert corrected.path.read_bytes() == b"a corrected f1"

    said = _said(caplog)
    assert len(said) == 1, [r.getMessage() for r in caplog.records]
    assert said[0].levelno == logging.WARNING
    assert portal.url.partition("//")[2] in said[0].getMessage()


def test_a_file_rewritten_with_the_same_length_is_seen_by_its_listed_time(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """The length alone cannot tell a file rewritten with as many bytes; a listed time can
    (it is in the marker of such a portal's files)."""
    _files(remote_root, 2)
    portal = portal_factory(**STAMPS["date"])
    staging = StagingArea(tmp_path / "staging")
    run = _portal_run(portal, **HEAD_CASES["head-and-time"])
    assert len(run.fetch_new(staging)) == 2
    assert run.transfer.last_modified_tells_versions is False  # type: ignore[attr-defined]
    before = (remote_root / "f1.nc").read_bytes()
    (remote_root / "f1.nc").write_bytes(before.upper())
    when = time.time() - 120
    os.utime(remote_root / "f1.nc", (when, when))
    [rewritten] = _portal_run(portal, **HEAD_CASES["head-and-time"]).fetch_new(staging)
    assert rewritten.path.read_bytes() == before.upper()


@pytest.mark.parametrize(("stamp", "case"), [("date", "head-no-size"), ("behind", "head")])
def test_a_growing_file_of_such_a_portal_is_still_left_for_a_later_run(
    portal_factory: Callable[..., Portal],
    remote_root: Path,
    tmp_path: Path,
    stamp: str,
    case: str,
) -> None:
    """``Last-Modified`` is no version marker there, but a file being written still changes
    its length: it is not taken while it grows, also once the portal is known to stamp its
    answers (other files showed it), and is taken whole once it is complete."""
    portal = portal_factory(**STAMPS[stamp])
    growing_file_waits(portal, remote_root, tmp_path, CASES[case], "last_modified_tells_versions")


@pytest.mark.parametrize("case", ["head", "listed"])
def test_a_file_of_such_a_portal_that_grew_while_it_was_downloaded_is_not_staged(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path, case: str
) -> None:
    """The file grows while its download is held: the ``HEAD`` after the download differs
    in length, not in ``Last-Modified`` alone, so the bytes (of no complete version) are not
    staged."""
    grown_file_not_staged(
        portal_factory(**STAMPS["date"]), remote_root, tmp_path, QUICK_CASES[case]
    )


def test_a_portal_with_a_new_etag_and_date_for_every_answer_downloads_once_and_whole(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """Both markers made anew for every answer (told by the same two looks), ranges
    answered: a download cut in the middle is not continued on the strength of either (no
    validator is left), but started again and staged whole; the next run downloads
    nothing."""
    names = _files(remote_root, 3)
    portal = portal_factory(**STAMPS["date"], fresh_etags="weak", ranges=True)
    portal.faults["f1.nc"] = ["drop"]
    staging = StagingArea(tmp_path / "staging")
    run = _portal_run(portal, **HEAD_CASES["head"])
    staged = run.fetch_new(staging)
    assert sorted(s.name for s in staged) == names
    assert all(s.path.read_bytes() == (remote_root / s.name).read_bytes() for s in staged)
    assert run.transfer.etags_tell_versions is False  # type: ignore[attr-defined]
    assert run.transfer.last_modified_tells_versions is False  # type: ignore[attr-defined]
    assert [r for r in portal.range_requests if r is not None] == []
    portal.requests.clear()
    portal.clock_offset += 60  # the next run, a minute later
    assert _portal_run(portal, **HEAD_CASES["head"]).fetch_new(staging) == []
    assert _downloads(portal) == []


@pytest.mark.parametrize("case", ["head", "listed", "no-settle"])
def test_a_portal_whose_dates_hold_is_judged_by_them(
    portal_factory: Callable[..., Portal],
    remote_root: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    """``Last-Modified`` that is the file's stays the marker: an unchanged file is not
    downloaded again, one rewritten with the same length is. Neither a file written in the
    very second of the answers (its date is the ``Date``; the portal's clock stands still
    here) nor one dated ahead of the portal's clock (a writer whose clock is ahead) makes
    the portal's dates no marker."""
    caplog.set_level(logging.INFO, logger="stratoflow")
    names = _files(remote_root, 3)
    portal = portal_factory(clock_rate=0)  # its Date: when it started, to the second
    (remote_root / "now.nc").write_bytes(b"written in the second of every answer")
    os.utime(remote_root / "now.nc", (portal.started, portal.started))
    (remote_root / "ahead.nc").write_bytes(b"dated an hour ahead")
    os.utime(remote_root / "ahead.nc", (portal.started + 3600, portal.started + 3600))
    staging = StagingArea(tmp_path / "staging")
    run = _portal_run(portal, **QUICK_CASES[case])
    staged = {s.name: s for s in run.fetch_new(staging)}
    assert sorted(staged) == sorted([*names, "now.nc", "ahead.nc"])
    assert all(staged[n].version.startswith("modified:") for n in [*names, "ahead.nc"])  # type: ignore[union-attr]
    assert run.transfer.last_modified_tells_versions is not False  # type: ignore[attr-defined]

    portal.requests.clear()
    assert _portal_run(portal, **QUICK_CASES[case]).fetch_new(staging) == []
    assert _downloads(portal) == []

    before = (remote_root / "f1.nc").read_bytes()
    (remote_root / "f1.nc").write_bytes(before.upper())
    when = time.time() - 120
    os.utime(remote_root / "f1.nc", (when, when))
    [rewritten] = _portal_run(portal, **QUICK_CASES[case]).fetch_new(staging)
    assert rewritten.path.read_bytes() == before.upper()
    assert _said(caplog) == []


def test_dates_that_stay_while_the_portal_clock_moves_are_learnt_to_hold(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """The settle guard's looks at a file, seconds apart by the portal's clock, with the
    same ``Last-Modified``: its dates are the files' (no more ``HEAD`` is asked about
    them), and they are the version marker."""
    names = _files(remote_root, 2)
    portal = portal_factory(clock_rate=20)  # the looks, 0.1 s apart: 2 s by the portal
    run = _portal_run(portal, **HEAD_CASES["head"])
    staged = run.fetch_new(StagingArea(tmp_path / "staging"))
    assert sorted(s.name for s in staged) == names
    assert all(s.version is not None and s.version.startswith("modified:") for s in staged)
    assert run.transfer.last_modified_tells_versions is True  # type: ignore[attr-defined]
