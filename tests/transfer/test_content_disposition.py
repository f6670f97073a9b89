"""A portal that names its files only in ``Content-Disposition`` (download URLs such as
``/download?id=123``): the staged file carries the server's name, so the reader can pick the
format by extension; a hostile name cannot leave the staging area or break the write.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stratoflow.transfer import DataProvider, HttpPortal, StagingArea, TransferHandler
from stratoflow.transfer.auth.none import NoAuth
from stratoflow.transfer.http import served_name

from ._portal import Portal
from .conftest import FAST_RETRY
from .test_faults import assert_staging_clean

PROVIDER = DataProvider(name="Id Portal")


def _fetch(portal: Portal, staging: StagingArea) -> list[Path]:
    transfer = HttpPortal(
        base_url=portal.url, list_path="api/files", sha256_field="sha256", timeout=5
    )
    handler = TransferHandler(transfer=transfer, auth=NoAuth(), provider=PROVIDER, retry=FAST_RETRY)
    return [staged.path for staged in handler.fetch_new(staging)]


def test_a_file_listed_by_id_is_staged_under_the_name_the_server_gives(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    (remote_root / "a").write_bytes(b"first")
    (remote_root / "b").write_bytes(b"second")
    portal = portal_factory(
        by_id=True,
        disposition={
            "a": 'attachment; filename="flight_20240101.nc"',
            # RFC 6266: filename* wins over the plain fallback, whatever their order
            "b": "attachment; filename=\"fallback.csv\"; filename*=UTF-8''Messfl%C3%BCge.ames",
        },
    )
    staging = StagingArea(tmp_path / "staging")
    paths = _fetch(portal, staging)
    assert sorted(p.name for p in paths) == ["Messfl_ge.ames", "flight_20240101.nc"]
    assert {p.name: p.read_bytes() for p in paths} == {
        "flight_20240101.nc": b"first",
        "Messfl_ge.ames": b"second",
    }
    assert sorted(s.identity for s in staging.files()) == ["0", "1"]
    assert_staging_clean(staging)


def test_a_listed_name_with_an_extension_is_kept(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    (remote_root / "flight.nc").write_bytes(b"data")
    portal = portal_factory(disposition={"flight.nc": 'attachment; filename="download.bin"'})
    [path] = _fetch(portal, StagingArea(tmp_path / "staging"))
    assert path.name == "flight.nc"


@pytest.mark.parametrize(
    "disposition",
    [
        'attachment; filename="../../../../tmp/evil.nc"',
        "attachment; filename*=UTF-8''..%2F..%2F..%2Fevil.nc",
        'attachment; filename="..\\\\..\\\\evil.nc"',
        'attachment; filename="/etc/cron.d/evil.nc"',
        "attachment; filename*=UTF-8''evil%0A%0D%00%1B.nc",
        'attachment; filename=".."',
        'attachment; filename="' + "x" * 5000 + '.nc"',
    ],
)
def test_a_hostile_served_name_stays_inside_staging(
    portal_factory: Callable[..., Portal],
    remote_root: Path,
    tmp_path: Path,
    disposition: str,
) -> None:
    (remote_root / "a").write_bytes(b"payload")
    portal = portal_factory(by_id=True, disposition={"a": disposition})
    staging = StagingArea(tmp_path / "staging")
    [path] = _fetch(portal, staging)
    assert path.parent.parent == staging.root
    assert path.read_bytes() == b"payload"
    name = path.name
    assert name and not name.startswith(".") and len(name) <= 120
    assert all(c.isascii() and (c.isalnum() or c in "._+-") for c in name), name
    assert not (tmp_path / "tmp").exists() and not Path("/tmp/evil.nc").exists()
    assert_staging_clean(staging)


def test_a_very_long_listed_name_is_staged_with_its_extension(tmp_path: Path) -> None:
    """The listing's name is bounded too: a 300-character name failed as 'cannot write'."""
    staging = StagingArea(tmp_path)
    name = "campaign-" * 33 + ".nc"
    staged = staging.receive(identity="i", name=name, write=lambda sink: sink.write(b"x"))
    assert staged is not None and staged.path.name.endswith(".nc")
    assert len(staged.path.name) <= 120 and staged.name == name


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('attachment; filename="a b.nc"', "a b.nc"),
        ("attachment; filename*=UTF-8''%E2%82%AC%20rates.csv", "€ rates.csv"),
        ("attachment; filename*=iso-8859-1'en'%A3%20rates.csv", "£ rates.csv"),
        ("inline", None),
        ("", None),
    ],
)
def test_served_name_reads_rfc6266(header: str, expected: str | None) -> None:
    assert served_name(header) == expected
