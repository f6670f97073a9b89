"""Two real uploads to one FTP folder at once: a file put back never replaces a new one.

An upload first settles what killed replacements left moved aside in the folder
(``restore_moved_aside``): the old file goes back under its name when that name is free. Most
FTP servers (pyftpdlib here, vsftpd, ProFTPD with ``AllowOverwrite on``) rename onto an
existing file; so when another upload renamed its new file in between the look at the folder
and the rename back, the old file replaced the new one, and the partner got the outdated
file as the latest. The interleaving is forced with the server holding a rename.
"""

from __future__ import annotations

import ftplib
import io
import logging
import os
import threading
from pathlib import Path

import pytest

from stratoflow.errors import TransferError
from stratoflow.files import this_host
from stratoflow.transfer import DataProvider, FTPServer, TransferHandler
from stratoflow.transfer.auth.ftp_login import FTPLoginAuth
from stratoflow.transfer.secrets import Secret

from ._ftp_server import FTPTestServer
from ._helpers import dead_pid
from .conftest import FAST_RETRY, FTP_PASSWORD, FTP_USER

PROVIDER = DataProvider(name="Racing FTP DC")
#: How long the test waits for a thread to reach a point (a safety net, never the timing)
WAIT_S = 10.0


def _upload(server: FTPTestServer, source: Path) -> None:
    transfer = FTPServer(host="127.0.0.1", port=server.port, remote_dir="/outbox", timeout=15)
    auth = FTPLoginAuth(user=FTP_USER, password=Secret.from_value(FTP_PASSWORD))
    TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=FAST_RETRY).put(source)


def _start(target: Path, server: FTPTestServer, errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            _upload(server, target)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_file_moved_aside_is_not_put_back_over_a_concurrent_upload(
    ftp_test_server: FTPTestServer, remote_root: Path, tmp_path: Path
) -> None:
    """Upload 1 of ``export.nc`` has its new file on the server and is about to rename it
    in; a killed replacement left the delivered ``export.nc`` moved aside. Upload 2 (of
    ``other.nc``) settles the folder first. Before, it saw ``export.nc`` missing and renamed
    the old file back; held at that rename while upload 1 renamed the new file in, its rename
    then replaced the new file by the old one. Now it sees upload 1 at work (its temporary
    file) and leaves the old file aside; the next upload removes it."""
    outbox = remote_root / "outbox"
    outbox.mkdir()
    fresh = tmp_path / "export.nc"
    fresh.write_bytes(os.urandom(20_000))
    other = tmp_path / "other.nc"
    other.write_bytes(b"another export")
    server = ftp_test_server
    first_held, first_go = threading.Event(), threading.Event()
    server.hold_renames[".export.nc.*.part"] = (first_held, first_go)
    errors: list[BaseException] = []
    first = _start(fresh, server, errors)
    assert first_held.wait(WAIT_S)  # upload 1: its file is on the server, not renamed in
    aside = f".export.nc.{this_host()}-{dead_pid()}.0000000000000001abcd.old"
    (outbox / aside).write_bytes(b"the first delivery")
    second_held, second_go = threading.Event(), threading.Event()
    server.hold_renames[".export.nc.*.old"] = (second_held, second_go)
    second = _start(other, server, errors)
    try:
        # upload 2 either reaches its rename back (held there) or is done without one
        while not second_held.is_set() and second.is_alive():
            second.join(0.01)
        first_go.set()  # upload 1 renames its new file in
        first.join(WAIT_S)
        assert (outbox / "export.nc").read_bytes() == fresh.read_bytes()
        second_go.set()  # and upload 2 goes on
        second.join(WAIT_S)
    finally:
        first_go.set()
        second_go.set()
        first.join(WAIT_S)
        second.join(WAIT_S)
    assert errors == []
    assert (outbox / "export.nc").read_bytes() == fresh.read_bytes()
    assert (outbox / "other.nc").read_bytes() == b"another export"
    _upload(server, other)  # the next upload: the new file is in, the old one goes
    assert sorted(p.name for p in outbox.iterdir()) == ["export.nc", "other.nc"]
    assert (outbox / "export.nc").read_bytes() == fresh.read_bytes()


@pytest.mark.parametrize(
    ("older", "told"),
    [
        (".export.nc.0123456789ab.old", "a copy of /outbox/export.nc that an older stratoflow "
         "version moved aside"),
        (".export.nc.part", "the temporary file of an upload of /outbox/export.nc by an older "
         "stratoflow version"),
    ],
)  # fmt: skip
def test_files_of_names_older_versions_used_are_reported_never_touched(
    ftp_test_server: FTPTestServer,
    remote_root: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    older: str,
    told: str,
) -> None:
    """Older versions kept the replaced file as ``.<name>.<12 hex>.old`` and uploaded to
    ``.<name>.part``: no machine, no process in the name, so whether its upload still runs
    cannot be told. Such a file is left alone and named in one warning per process, with
    what to do; it also keeps a newer leftover of the same name from being put back (that
    upload may be at work)."""
    outbox = remote_root / "outbox"
    outbox.mkdir()
    newer = f".export.nc.{this_host()}-{dead_pid()}.0000000000000001abcd.old"
    (outbox / older).write_bytes(b"left by an older version")
    (outbox / newer).write_bytes(b"kept by a killed replacement")
    other = tmp_path / "other.nc"
    other.write_bytes(b"another export")
    with caplog.at_level(logging.WARNING, logger="stratoflow.transfer.base"):
        _upload(ftp_test_server, other)
        _upload(ftp_test_server, other)
    assert sorted(p.name for p in outbox.iterdir()) == sorted([older, newer, "other.nc"])
    [warning] = [r.getMessage() for r in caplog.records if older in r.getMessage()]
    assert told in warning and "left alone: once no upload of export.nc runs, remove it" in warning


def test_a_failed_replacement_does_not_put_the_old_file_back_over_a_new_one(
    ftp_test_server: FTPTestServer, remote_root: Path, tmp_path: Path
) -> None:
    """The server refuses to rename this upload's file in (a rule, a quota), so the delivered
    file is moved aside, the rename tried again, and on failure the old file renamed back.
    Another client stored a new ``export.nc`` in between: before, the rename back replaced it
    with the old one (the server renames onto existing files); now the new file stays, and
    the old one, superseded, is removed."""
    outbox = remote_root / "outbox"
    outbox.mkdir()
    (outbox / "export.nc").write_bytes(b"the first delivery")
    mine = tmp_path / "export.nc"
    mine.write_bytes(os.urandom(5_000))
    server = ftp_test_server
    server.refused_renames.append(".export.nc.*.part")
    held, go = threading.Event(), threading.Event()
    server.skip_renames[".export.nc.*.part"] = 1  # the first try; held at the second
    server.hold_renames[".export.nc.*.part"] = (held, go)
    errors: list[BaseException] = []
    upload = _start(mine, server, errors)
    try:
        assert held.wait(WAIT_S)  # the delivered file is aside, the second try comes
        with ftplib.FTP() as other:  # another uploader delivers meanwhile
            other.connect("127.0.0.1", server.port, timeout=5)
            other.login(FTP_USER, FTP_PASSWORD)
            other.storbinary("STOR /outbox/export.nc", io.BytesIO(b"another new file"))
    finally:
        go.set()
        upload.join(WAIT_S)
    [failure] = errors
    assert isinstance(failure, TransferError) and "put export.nc" in str(failure)
    assert sorted(p.name for p in outbox.iterdir()) == ["export.nc"]
    assert (outbox / "export.nc").read_bytes() == b"another new file"
