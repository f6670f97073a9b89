"""Written and delivered files get the mode of a normally created file, not mkstemp's 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratoflow.samples import write_sample_flights
from stratoflow.transfer import LocalDirectory
from stratoflow.transfer.auth.none import NoAuth


@pytest.fixture(params=[0o022, 0o027])
def mask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield int(request.param)
    finally:
        os.umask(old)


def test_written_and_delivered_files_follow_the_umask(tmp_path: Path, mask: int) -> None:
    (sample,) = write_sample_flights(tmp_path / "samples", 1)
    expected = 0o666 & ~mask
    assert stat.S_IMODE(sample.stat().st_mode) == expected
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    with LocalDirectory(root=str(outbox)).connect(NoAuth()) as conn:
        name = conn.put(sample, "delivered.nc")
    assert stat.S_IMODE((outbox / name).stat().st_mode) == expected
