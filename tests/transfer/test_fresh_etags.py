"""A portal that sends a new ``ETag`` with every answer: its files are taken, once.

Some portals make an ETag per answer (a weak ETag holding a request id, a download generated
on request). The settle guard compares a file's ETag over ``settle`` seconds, and the version
marker of a listing that tells none is the ETag: every file looked changed at every look and
was never taken (left "for a later run" forever), or, without the guard, was downloaded
again at every run. Now two looks back to back that differ in the ETag alone make the
portal's ETags no version marker, and length and ``Last-Modified`` decide; a file that grows
is still not taken while it does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stratoflow.errors import TransferError
from stratoflow.transfer import StagingArea

from ._portal import Portal, grown_during_its_download
from .test_faults import assert_staging_clean
from .test_settle import SETTLE, _portal_run, _writing, _written_a_minute_ago

#: What the settle guard and the version marker go by: a portal's HEAD (listing sizes, or
#: none), its listings (size and time), or no guard at all (the version marker alone)
CASES = {
    "head": {"settle": SETTLE},
    "head-no-size": {"settle": SETTLE, "size_field": None},
    "listed": {"settle": SETTLE, "modified_field": "updated"},
    "no-settle": {"settle": 0},
}


def _files(root: Path, count: int) -> list[str]:
    names = [f"f{i}.nc" for i in range(count)]
    for name in names:
        (root / name).write_bytes(f"data of {name}".encode() * 50)
        _written_a_minute_ago(root / name)
    return names


def _downloads(portal: Portal) -> list[str]:
    return [r for r in portal.requests if r.startswith("GET /files/")]


def growing_file_waits(
    portal: Portal, remote_root: Path, tmp_path: Path, options: dict[str, Any], learnt: str
) -> None:
    """On a portal whose marker ``learnt`` names (``etags_tell_versions``...) is made anew
    for every answer: once two files have shown it, a file being written is still not taken
    while it grows, and is taken whole once it is complete."""
    _files(remote_root, 2)
    staging = StagingArea(tmp_path / "staging")
    run = _portal_run(portal, **options)
    assert len(run.fetch_new(staging)) == 2
    assert getattr(run.transfer, learnt) is False
    target = remote_root / "growing.nc"
    with _writing(target, every=0.05):
        assert run.fetch_new(staging) == []
        assert run.fetch_new(staging) == []
    assert_staging_clean(staging)
    _written_a_minute_ago(target)
    [whole] = run.fetch_new(staging)
    assert whole.path.read_bytes() == target.read_bytes()


def grown_file_not_staged(
    portal: Portal, remote_root: Path, tmp_path: Path, options: dict[str, Any]
) -> None:
    """A file that grows while its download is held is not staged (the ``HEAD`` after the
    download differs in length), nor failed; the next run takes it whole."""
    _files(remote_root, 1)
    target = remote_root / "growing.nc"
    target.write_bytes(os.urandom(10_000))
    _written_a_minute_ago(target)
    staging = StagingArea(tmp_path / "staging")
    failures: list[TransferError] = []
    run = _portal_run(portal, **options)
    with grown_during_its_download(portal, target):
        staged = run.fetch_new(staging, on_failure=lambda _, exc: failures.append(exc))
    assert [s.name for s in staged] == ["f0.nc"]
    assert failures == []
    assert_staging_clean(staging)
    _written_a_minute_ago(target)
    [whole] = run.fetch_new(staging)
    assert whole.path.read_bytes() == target.read_bytes()


@pytest.mark.parametrize("kind", ["weak", "strong"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_files_of_a_portal_with_an_etag_per_answer_are_taken_once(
    portal_factory: Callable[..., Portal],
    remote_root: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    case: str,
) -> None:
    """Every file is taken by the first run (it was left for a later run, for ever) and
    none is downloaded again by the next, a new transfer object as a new process has it
    (every run downloaded it again); the portal is named once in the log. A file rewritten
    since (another length or time) is still a new version."""
    caplog.set_level(logging.INFO, logger="stratoflow")
    names = _files(remote_root, 3)  # two listing pages
    portal = portal_factory(fresh_etags=kind)
    staging = StagingArea(tmp_path / "staging")

    staged = _portal_run(portal, **CASES[case]).fetch_new(staging)  # type: ignore[arg-type]
    assert sorted(s.name for s in staged) == names
    assert len(_downloads(portal)) == len(names)
    assert all(s.version is None or s.version.startswith("modified:") for s in staged)
    assert_staging_clean(staging)

    portal.requests.clear()
    assert _portal_run(portal, **CASES[case]).fetch_new(staging) == []  # type: ignore[arg-type]
    assert _downloads(portal) == []

    (remote_root / "f1.nc").write_bytes(b"a corrected f1")
    _written_a_minute_ago(remote_root / "f1.nc")
    [corrected] = _portal_run(portal, **CASES[case]).fetch_new(staging)  # type: ignore[arg-type]
    assert corrected.path.read_bytes() == b"a corrected f1"

    said = [r for r in caplog.records if "a new ETag with every answer" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in caplog.records]
    assert said[0].levelno == logging.WARNING
    assert portal.url.partition("//")[2] in said[0].getMessage()


@pytest.mark.parametrize("kind", ["weak", "strong"])
@pytest.mark.parametrize("case", ["head", "head-no-size"])
def test_a_growing_file_of_such_a_portal_is_still_left_for_a_later_run(
    portal_factory: Callable[..., Portal],
    remote_root: Path,
    tmp_path: Path,
    kind: str,
    case: str,
) -> None:
    """The ETag is no version marker there, but a file being written still changes its
    length: it is not taken while it grows, also once the portal is known to make new ETags
    (another file showed it), and is taken whole once it is complete."""
    growing_file_waits(
        portal_factory(fresh_etags=kind), remote_root, tmp_path, CASES[case], "etags_tell_versions"
    )


@pytest.mark.parametrize("case", ["head", "listed"])
def test_a_file_of_such_a_portal_that_grew_while_it_was_downloaded_is_not_staged(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path, case: str
) -> None:
    """The file grows while its download is held: the ``HEAD`` after the download differs
    in length, not in the ETag alone, so the bytes (of no complete version) are not staged."""
    grown_file_not_staged(portal_factory(fresh_etags="strong"), remote_root, tmp_path, CASES[case])


@pytest.mark.parametrize("case", ["head", "listed", "no-settle"])
def test_a_portal_whose_etags_hold_is_judged_by_them(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path, case: str
) -> None:
    """ETags that stay the same from one answer to the next are what they are meant to be:
    the version marker, and nothing is said of them."""
    names = _files(remote_root, 3)
    portal = portal_factory(ranges=True)  # an ETag of the content
    staging = StagingArea(tmp_path / "staging")
    run = _portal_run(portal, **CASES[case])  # type: ignore[arg-type]
    staged = run.fetch_new(staging)
    assert sorted(s.name for s in staged) == names
    assert all(s.version is not None and s.version.startswith("etag:") for s in staged)
    assert run.transfer.etags_tell_versions is True  # type: ignore[attr-defined]
    portal.requests.clear()
    assert _portal_run(portal, **CASES[case]).fetch_new(staging) == []  # type: ignore[arg-type]
    assert _downloads(portal) == []
