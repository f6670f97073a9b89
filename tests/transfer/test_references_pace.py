"""Reference files (``fetch_matching``) are fetched under the same min_speed guard as data."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from stratoflow.errors import TransientTransferError

from ._portal import Portal


@pytest.mark.django_db
def test_a_reference_the_server_trickles_is_given_up_as_too_slow(
    remote_root: Path, portal_factory: Callable[..., Portal], staging_dir: Path
) -> None:
    from stratoflow.server.workflow.models import DataProvider, TransferHandler
    from stratoflow.server.workflow.transfers import fetch_matching

    (remote_root / "ref.nc").write_bytes(b"r" * 50_000)
    portal = portal_factory(faults={"ref.nc": ["trickle"] * 4})
    row = TransferHandler.objects.create(
        name="refs",
        provider=DataProvider.objects.create(name="refs-provider"),
        transfer_type="http",
        auth="none",
        transfer_options={
            "base_url": portal.url,
            "list_path": "api/files",
            "timeout": 1,
            "min_speed": 1024,
        },
    )
    started = time.monotonic()
    with pytest.raises(TransientTransferError, match=r"ref\.nc: the server sends too slowly"):
        fetch_matching(row, "*.nc")
    assert time.monotonic() - started < 30
