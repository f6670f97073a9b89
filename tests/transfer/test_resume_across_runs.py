"""A download that a killed or interrupted run left half done is resumed by the next run when
the provider still offers the same version, discarded when the version changed, and started
over when the kept bytes no longer have the checkpoint's digest; a reader never sees it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import stratoflow
from stratoflow.transfer import (
    DataProvider,
    FTPServer,
    HttpPortal,
    StagingArea,
    TransferHandler,
)
from stratoflow.transfer.auth.ftp_login import FTPLoginAuth
from stratoflow.transfer.auth.none import NoAuth
from stratoflow.transfer.secrets import Secret
from stratoflow.transfer.staging import CHECKPOINT, ResumedSink, Sink

from ._ftp_server import FTPTestServer
from ._portal import Portal
from .conftest import FAST_RETRY, FTP_PASSWORD, FTP_USER
from .test_faults import assert_staging_clean

BIG = os.urandom(3 << 20)
PROVIDER = DataProvider(name="Crashy DC")

#: A run of its own: fetch everything the portal offers into a staging area.
_RUN = """
import json, sys
from stratoflow.transfer import DataProvider, HttpPortal, StagingArea, TransferHandler
from stratoflow.transfer.auth.none import NoAuth
url, root, options = sys.argv[1:4]
transfer = HttpPortal(base_url=url, list_path="api/files", timeout=30, **json.loads(options))
TransferHandler(transfer=transfer, auth=NoAuth(), provider=DataProvider(name="Crashy DC")
                ).fetch_new(StagingArea(root))
"""


#: How the portal's listing is read: what tells the version of a file
MARKERS = {
    "listed-checksum": {"sha256_field": "sha256"},
    "etag-from-head": {},
    "listed-version": {"version_field": "modified"},
}


def _markers(sha: bool | str) -> dict[str, str]:
    if isinstance(sha, str):
        return MARKERS[sha]
    return MARKERS["listed-checksum" if sha else "etag-from-head"]


def _handler(portal: Portal, *, sha: bool | str) -> TransferHandler:
    transfer = HttpPortal(base_url=portal.url, list_path="api/files", timeout=5, **_markers(sha))
    return TransferHandler(transfer=transfer, auth=NoAuth(), provider=PROVIDER, retry=FAST_RETRY)


def _killed_mid_download(portal: Portal, root: Path, *, sha: bool | str) -> None:
    """Start a run in another process and SIGKILL it once its first checkpoint is written."""
    command = [sys.executable, "-c", _RUN, portal.url, str(root), json.dumps(_markers(sha))]
    _run_and_kill(command, root)
    portal.gate.set()  # let the server's handler end


def _run_and_kill(command: list[str], root: Path) -> None:
    src = str(Path(stratoflow.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": src}
    proc = subprocess.Popen(command, env=env)
    try:
        deadline = time.monotonic() + 30
        while not list((root / ".partial").glob("*.state")):
            assert proc.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "no checkpoint within 30 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(10)


@pytest.fixture
def killed(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> Callable[..., tuple[Portal, Path]]:
    def start(*, sha: bool | str) -> tuple[Portal, Path]:
        (remote_root / "big.nc").write_bytes(BIG)
        portal = portal_factory(ranges=True, faults={"big.nc": ["half-hold"]})
        root = tmp_path / "staging"
        _killed_mid_download(portal, root, sha=sha)
        portal.range_requests.clear()
        return portal, root

    return start


@pytest.mark.parametrize("sha", sorted(MARKERS))
def test_a_download_killed_mid_file_is_resumed_by_the_next_run(
    killed: Callable[..., tuple[Portal, Path]], sha: str
) -> None:
    """With a listed checksum, with the ETag of a HEAD request as version marker, and with
    the portal's own version field (the ETag the killed run received is kept for If-Range)."""
    portal, root = killed(sha=sha)
    staging = StagingArea(root)  # a new run: the kept bytes survive opening the area
    assert staging.files() == []  # nothing half-downloaded was staged
    [staged] = _handler(portal, sha=sha).fetch_new(staging)
    assert staged.path.read_bytes() == BIG
    assert staged.sha256 == hashlib.sha256(BIG).hexdigest()
    [asked] = portal.range_requests
    assert asked is not None and asked.startswith("bytes=")
    assert int(asked.removeprefix("bytes=").removesuffix("-")) >= CHECKPOINT
    assert_staging_clean(staging)


def test_kept_bytes_of_a_file_that_changed_are_discarded(
    killed: Callable[..., tuple[Portal, Path]], remote_root: Path
) -> None:
    portal, root = killed(sha=True)
    changed = bytes(255 - b for b in BIG)  # same size: only the checksum tells
    (remote_root / "big.nc").write_bytes(changed)
    staging = StagingArea(root)
    [staged] = _handler(portal, sha=True).fetch_new(staging)
    assert staged.path.read_bytes() == changed
    assert portal.range_requests == [None]  # not resumed: fetched whole
    assert_staging_clean(staging)


def test_kept_bytes_damaged_since_their_checkpoint_start_over(
    killed: Callable[..., tuple[Portal, Path]],
) -> None:
    """A crash can tear what was written before it: the checkpoint's digest catches that."""
    portal, root = killed(sha=False)
    [partial] = [p for p in (root / ".partial").iterdir() if not p.name.endswith(".state")]
    with partial.open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\0" * 100)
    staging = StagingArea(root)
    [staged] = _handler(portal, sha=False).fetch_new(staging)
    assert staged.path.read_bytes() == BIG
    assert portal.range_requests == [None]
    assert_staging_clean(staging)


def _writer(data: bytes, *, interrupt_at: int | None = None) -> Callable[[Sink], None]:
    def write(sink: Sink) -> None:
        for i in range(0, len(data), 1 << 16):
            if interrupt_at is not None and i >= interrupt_at:
                raise KeyboardInterrupt
            sink.write(data[i : i + (1 << 16)])

    return write


def test_an_interrupted_download_is_resumed_from_its_checkpoint(tmp_path: Path) -> None:
    """Ctrl-C (or SIGTERM) mid-download keeps the bytes; the next area resumes after them."""
    data = os.urandom(3 * CHECKPOINT)
    staging = StagingArea(tmp_path)
    offsets: list[int] = []

    def resume(sink: ResumedSink, offset: int) -> None:
        offsets.append(offset)
        sink.write(data[offset:])

    with pytest.raises(KeyboardInterrupt):
        staging.receive(
            identity="big.nc",
            name="big.nc",
            write=_writer(data, interrupt_at=2 * CHECKPOINT + 5000),
            version="v1",
            resume=resume,
        )
    assert staging.files() == []
    staged = StagingArea(tmp_path).receive(
        identity="big.nc",
        name="big.nc",
        write=_writer(data),
        size=len(data),
        version="v1",
        resume=resume,
    )
    assert staged is not None and staged.path.read_bytes() == data
    assert offsets and offsets[0] >= 2 * CHECKPOINT
    assert list((tmp_path / ".partial").iterdir()) == []


def test_kept_bytes_of_an_item_no_longer_offered_are_dropped(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    data = os.urandom(2 * CHECKPOINT)
    staging = StagingArea(tmp_path / "staging")
    with pytest.raises(KeyboardInterrupt):
        staging.receive(
            identity="gone.nc",
            name="gone.nc",
            write=_writer(data, interrupt_at=CHECKPOINT + 1000),
            resume=lambda sink, offset: None,
        )
    assert list((staging.root / ".partial").iterdir())
    (remote_root / "other.nc").write_bytes(b"other")
    portal = portal_factory()
    [staged] = _handler(portal, sha=True).fetch_new(StagingArea(staging.root))
    assert staged.identity == "other.nc"
    assert list((staging.root / ".partial").iterdir()) == []


_FTP_RUN = """
import sys
from stratoflow.transfer import DataProvider, FTPServer, StagingArea, TransferHandler
from stratoflow.transfer.auth.ftp_login import FTPLoginAuth
from stratoflow.transfer.secrets import Secret
port, root, user, password = sys.argv[1:5]
TransferHandler(
    transfer=FTPServer(host="127.0.0.1", port=int(port), timeout=30),
    auth=FTPLoginAuth(username=user, password=Secret.from_value(password)),
    provider=DataProvider(name="Crashy DC"),
).fetch_new(StagingArea(root))
"""


def test_an_ftp_download_killed_mid_file_is_resumed_by_the_next_run(
    ftp_test_server: FTPTestServer, remote_root: Path, tmp_path: Path
) -> None:
    (remote_root / "big.nc").write_bytes(BIG)
    ftp_test_server.faults["big.nc"] = [f"hold:{len(BIG) // 2}"]
    root = tmp_path / "staging"
    args = [str(ftp_test_server.port), str(root), FTP_USER, FTP_PASSWORD]
    _run_and_kill([sys.executable, "-c", _FTP_RUN, *args], root)
    transfer = FTPServer(host="127.0.0.1", port=ftp_test_server.port, timeout=5)
    auth = FTPLoginAuth(username=FTP_USER, password=Secret.from_value(FTP_PASSWORD))
    handler = TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=FAST_RETRY)
    staging = StagingArea(root)
    [staged] = handler.fetch_new(staging)
    assert staged.path.read_bytes() == BIG
    [rest] = ftp_test_server.rests
    assert int(rest) >= CHECKPOINT
    assert_staging_clean(staging)
