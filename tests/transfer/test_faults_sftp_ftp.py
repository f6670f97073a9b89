"""Fault injection on the real SFTP and FTP servers: the file arrives intact, or the run fails
cleanly, at once when retrying cannot help.

The servers' fault hooks are in ``_sftp_server.py`` and ``_ftp_server.py``: a connection hung
up after N bytes, a file cut short that the server reports as complete, a request never
answered, a transient refusal (FTP 450) and a permanent one (permission denied, FTP 550).
"Cleanly" is :func:`assert_staging_clean` from the HTTP fault tests: no temp file left, every
staged file complete and in the manifest.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from stratoflow.errors import AuthError, TransferError, TransientTransferError
from stratoflow.transfer import (
    DataProvider,
    FTPServer,
    RetryPolicy,
    SFTPServer,
    StagingArea,
    TransferHandler,
)
from stratoflow.transfer.auth.ftp_login import FTPLoginAuth
from stratoflow.transfer.auth.ssh import SSHAuth
from stratoflow.transfer.secrets import Secret
from stratoflow.transfer.staging import JOURNAL, MANIFEST

from ._ftp_server import FTPTestServer
from ._helpers import dead_pid
from ._sftp_server import SFTPTestServer
from .conftest import FAST_RETRY, FTP_PASSWORD, FTP_USER, SFTP_PASSWORD, SFTP_USER
from .test_faults import assert_staging_clean

FILES = {
    "a.nc": os.urandom(70_000),
    "b.nc": os.urandom(300_000),
    "c.nc": b"C" * 10,
}
CUT = 40_000  # where drop/truncate faults cut b.nc

#: When the SFTP server hangs up, paramiko's read-ahead thread (``SFTPFile.prefetch``) may be
#: sending a request and dies with EOFError; that thread is paramiko's, not ours, and the
#: download itself fails cleanly in the caller (which is what these tests check). Only that
#: thread's death is tolerated; any other exception in a thread still fails the test.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Exception in thread .*\(_prefetch_thread\)"
    ":pytest.PytestUnhandledThreadExceptionWarning"
)
PROVIDER = DataProvider(name="Flaky Partner")


@dataclass
class Remote:
    """One server under test, seen through what the tests need."""

    kind: str
    port: int
    password: str
    #: file name -> fault actions, consumed in order (see the server modules)
    faults: dict[str, list[str]]
    #: file names the server was asked for, in order
    asked: list[str]
    handler: Callable[..., TransferHandler]
    set_on_drop: Callable[[Callable[[str], None]], None]
    #: makes the server rename onto free names only (SFTP: no posix-rename; FTP: 550)
    refuse_overwrite: Callable[[], None]
    #: ``fnmatch`` patterns of file names whose rename the server refuses
    refused_renames: list[str]
    #: ``fnmatch`` patterns (once each) of source names whose rename the server hangs up at
    drop_on_rename: list[str]
    #: ``fnmatch`` patterns (once each) of file names whose removal the server hangs up at
    drop_on_remove: list[str]
    ftp: FTPTestServer | None = None


def _delivered_before(seeded: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The partner's outbox holding a first delivery of ``export.nc``, and a new
    ``export.nc`` to upload over it."""
    outbox = seeded / "outbox"
    outbox.mkdir()
    (outbox / "export.nc").write_bytes(b"the first delivery")
    export = tmp_path / "export.nc"
    export.write_bytes(os.urandom(20_000))
    return outbox, export


def _sftp_remote(server: SFTPTestServer, known_hosts: Path, password_ref: str) -> Remote:
    def handler(
        timeout: float = 5, retry: RetryPolicy = FAST_RETRY, **options: object
    ) -> TransferHandler:
        transfer = SFTPServer(
            host="127.0.0.1",
            port=server.port,
            known_hosts=str(known_hosts),
            timeout=timeout,
            **options,  # type: ignore[arg-type]
        )
        auth = SSHAuth(username=SFTP_USER, password=Secret(password_ref))
        return TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=retry)

    def set_on_drop(callback: Callable[[str], None]) -> None:
        server.faults.on_drop = callback

    def refuse_overwrite() -> None:
        server.faults.no_posix_rename = True

    return Remote(
        "sftp",
        server.port,
        SFTP_PASSWORD,
        server.faults.queues,
        server.faults.opened,
        handler,
        set_on_drop,
        refuse_overwrite,
        server.faults.refused_renames,
        server.faults.drop_on_rename,
        server.faults.drop_on_remove,
    )


def _ftp_remote(server: FTPTestServer, password_ref: str) -> Remote:
    def handler(
        timeout: float = 5, retry: RetryPolicy = FAST_RETRY, **options: object
    ) -> TransferHandler:
        transfer = FTPServer(host="127.0.0.1", port=server.port, timeout=timeout, **options)  # type: ignore[arg-type]
        auth = FTPLoginAuth(user=FTP_USER, password=Secret(password_ref))
        return TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=retry)

    def set_on_drop(callback: Callable[[str], None]) -> None:
        server.on_drop = callback

    def refuse_overwrite() -> None:
        server.no_overwrite = True

    return Remote(
        "ftp",
        server.port,
        FTP_PASSWORD,
        server.faults,
        server.retrieved,
        handler,
        set_on_drop,
        refuse_overwrite,
        server.refused_renames,
        server.drop_on_rename,
        server.drop_on_delete,
        ftp=server,
    )


@pytest.fixture
def seeded(remote_root: Path) -> Path:
    for name, data in FILES.items():
        (remote_root / name).write_bytes(data)
    return remote_root


@pytest.fixture(params=["sftp", "ftp"])
def remote(request: pytest.FixtureRequest, secrets_env: dict[str, str]) -> Remote:
    if request.param == "sftp":
        return _sftp_remote(
            request.getfixturevalue("sftp_server"),
            request.getfixturevalue("known_hosts"),
            secrets_env["sftp"],
        )
    return _ftp_remote(request.getfixturevalue("ftp_test_server"), secrets_env["ftp"])


def _chain_text(exc: BaseException | None) -> str:
    """Messages and reprs of the whole exception chain, third-party causes included."""
    parts: list[str] = []
    while exc is not None:
        parts += [str(exc), repr(exc)]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def _staged(staging: StagingArea) -> dict[str, bytes]:
    return {s.name: s.path.read_bytes() for s in staging.files()}


# -- transient faults: retried, then the file arrives intact --


@pytest.mark.parametrize(
    "faults",
    [[f"drop:{CUT}"], [f"truncate:{CUT}"], [f"drop:{CUT}", f"truncate:{CUT}"]],
    ids=["dropped", "truncated", "dropped-then-truncated"],
)
def test_cut_transfers_are_retried_and_the_file_arrives_intact(
    faults: list[str],
    remote: Remote,
    seeded: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    remote.faults["b.nc"] = list(faults)
    staging = StagingArea(tmp_path / "staging")
    staged = remote.handler().fetch_new(staging)
    assert {s.name: s.path.read_bytes() for s in staged} == FILES
    assert remote.asked.count("b.nc") == len(faults) + 1
    assert remote.faults["b.nc"] == []
    assert_staging_clean(staging)
    assert "retrying" in caplog.text


def test_a_dropped_download_is_never_visible_as_a_staged_file(
    remote: Remote, seeded: Path, tmp_path: Path
) -> None:
    """At the moment the server hangs up, b.nc exists only as a temp file in ``.partial/``."""
    staging = StagingArea(tmp_path / "staging")
    seen: dict[str, list[str]] = {}

    def snapshot(_: str) -> None:
        if seen:
            return  # only the moment of the hang-up counts
        seen["partial"] = sorted(p.name for p in (staging.root / ".partial").iterdir())
        seen["staged"] = sorted(
            p.name
            for p in staging.root.rglob("*")
            if p.is_file() and ".partial" not in p.parts and p.name not in (MANIFEST, JOURNAL)
        )

    remote.set_on_drop(snapshot)
    remote.faults["b.nc"] = [f"drop:{CUT}"]
    with pytest.raises(
        TransientTransferError, match=r"get b\.nc: the server closed the connection"
    ):
        remote.handler(retry=RetryPolicy(attempts=1)).fetch_new(staging)
    assert seen["staged"] == ["a.nc"]  # complete, staged before b.nc was started
    assert len(seen["partial"]) == 1 and seen["partial"][0].startswith("get-")
    assert _staged(staging) == {"a.nc": FILES["a.nc"]}
    assert_staging_clean(staging, kept=["b.nc"])
    # the next run fetches only what is missing, intact
    assert [s.name for s in remote.handler().fetch_new(staging)] == ["b.nc", "c.nc"]
    assert _staged(staging) == FILES
    assert_staging_clean(staging)


def test_a_file_cut_short_but_reported_complete_is_not_staged(
    remote: Remote, seeded: Path, tmp_path: Path
) -> None:
    """The server says the transfer succeeded; the size from the listing says otherwise."""
    remote.faults["b.nc"] = [f"truncate:{CUT}"]
    staging = StagingArea(tmp_path / "staging")
    with pytest.raises(TransientTransferError, match=rf"b\.nc.*received {CUT} bytes"):
        remote.handler(retry=RetryPolicy(attempts=1)).fetch_new(staging)
    assert "b.nc" not in _staged(staging)
    assert_staging_clean(staging)


def test_a_server_that_stops_answering_times_out_and_the_retry_succeeds(
    remote: Remote, seeded: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    remote.faults["c.nc"] = ["stall"]
    staging = StagingArea(tmp_path / "staging")
    staged = remote.handler(timeout=1.0).fetch_new(staging)
    assert {s.name: s.path.read_bytes() for s in staged} == FILES
    assert remote.asked.count("c.nc") == 2
    assert "get c.nc: no answer within 1 s" in caplog.text
    assert_staging_clean(staging)


def test_a_server_that_never_answers_fails_after_the_retries(
    remote: Remote, silent_port: int, tmp_path: Path
) -> None:
    """TCP connects, but no SSH banner / FTP greeting ever comes."""
    remote.port = silent_port
    if remote.kind == "sftp":
        transfer: SFTPServer | FTPServer = SFTPServer(
            host="127.0.0.1", port=silent_port, timeout=0.3, insecure_skip_host_key_check=True
        )
        auth: SSHAuth | FTPLoginAuth = SSHAuth(
            username=SFTP_USER, password=Secret.from_value(remote.password)
        )
    else:
        transfer = FTPServer(host="127.0.0.1", port=silent_port, timeout=0.3)
        auth = FTPLoginAuth(user=FTP_USER, password=Secret.from_value(remote.password))
    handler = TransferHandler(
        transfer=transfer, auth=auth, provider=PROVIDER, retry=RetryPolicy(attempts=2, base=0.01)
    )
    staging = StagingArea(tmp_path / "staging")
    with pytest.raises(TransientTransferError) as info:
        handler.fetch_new(staging)
    assert f"127.0.0.1:{silent_port}" in str(info.value)
    assert remote.password not in _chain_text(info.value)
    assert staging.files() == []
    assert_staging_clean(staging)


def test_a_persistent_cut_fails_cleanly_after_the_retries(
    remote: Remote, seeded: Path, tmp_path: Path
) -> None:
    remote.faults["b.nc"] = [f"drop:{CUT}"] * 10
    staging = StagingArea(tmp_path / "staging")
    with pytest.raises(TransientTransferError) as info:
        remote.handler().fetch_new(staging)
    assert "Flaky Partner" in str(info.value) and "b.nc" in str(info.value)
    assert remote.asked.count("b.nc") == FAST_RETRY.attempts
    assert "b.nc" not in _staged(staging)
    assert_staging_clean(staging, kept=["b.nc"])  # resumed by the next run


def test_ftp_busy_reply_450_is_retried(
    ftp_test_server: FTPTestServer,
    seeded: Path,
    secrets_env: dict[str, str],
    tmp_path: Path,
) -> None:
    remote = _ftp_remote(ftp_test_server, secrets_env["ftp"])
    remote.faults["a.nc"] = ["450", "450"]
    staging = StagingArea(tmp_path / "staging")
    staged = remote.handler().fetch_new(staging)
    assert {s.name: s.path.read_bytes() for s in staged} == FILES
    assert remote.asked.count("a.nc") == 3
    assert_staging_clean(staging)


# -- permanent failures: at once, naming file and host, never the password --


def _assert_permanent(
    info: pytest.ExceptionInfo[TransferError], remote: Remote, name: str, why: str
) -> None:
    exc = info.value
    assert not isinstance(exc, TransientTransferError | AuthError), repr(exc)
    text = str(exc)
    assert "Flaky Partner" in text and name in text, text
    assert f"127.0.0.1:{remote.port}" in text, text
    assert why.lower() in text.lower(), text
    assert remote.password not in _chain_text(exc)


def test_permission_denied_on_download_fails_at_once(
    remote: Remote, seeded: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    locked = seeded / "locked"
    locked.mkdir()
    (locked / "secret.nc").write_bytes(b"not for you")
    if remote.ftp is None:
        remote.faults["secret.nc"] = ["denied"] * 5
        why = "permission denied"
    else:
        # pyftpdlib's own permissions: list and enter, but not retrieve -> 550
        remote.ftp.authorizer.override_perm(FTP_USER, str(locked), perm="el", recursive=True)
        why = "550"
    handler = remote.handler(recursive=True)
    staging = StagingArea(tmp_path / "staging")
    with pytest.raises(TransferError) as info:
        handler.fetch_new(staging)
    _assert_permanent(info, remote, "locked/secret.nc", why)
    assert remote.asked.count("secret.nc") == 1  # no retry
    assert "retrying" not in caplog.text
    assert remote.password not in caplog.text
    assert "secret.nc" not in _staged(staging)
    assert_staging_clean(staging)


def test_ftp_upload_refused_550_fails_at_once(
    ftp_test_server: FTPTestServer,
    seeded: Path,
    secrets_env: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    remote = _ftp_remote(ftp_test_server, secrets_env["ftp"])
    outbox = seeded / "outbox"
    outbox.mkdir()
    ftp_test_server.authorizer.override_perm(FTP_USER, str(outbox), perm="el", recursive=True)
    export = tmp_path / "export.nc"
    export.write_bytes(b"exported")
    with pytest.raises(TransferError) as info:
        remote.handler(remote_dir="/outbox").put(export)
    _assert_permanent(info, remote, "export.nc", "550")
    assert "retrying" not in caplog.text
    assert list(outbox.iterdir()) == []


# -- how the staging area makes a download visible --


def test_staged_files_are_fsynced_under_a_temp_name_then_renamed(
    remote: Remote, seeded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Order of the real calls: write to ``.partial/get-*``, fsync it, rename it into place.

    The calls are observed, not replaced: the spies call the real ``os`` functions.
    """
    events: list[tuple[str, str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"), ""))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append(("replace", os.fspath(src), os.fspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    staging = StagingArea(tmp_path / "staging")
    staged = remote.handler().fetch_new(staging)
    monkeypatch.undo()
    assert len(staged) == len(FILES)
    partial = str((staging.root / ".partial").resolve())
    for item in staged:
        moves = [i for i, e in enumerate(events) if e[0] == "replace" and e[2] == str(item.path)]
        assert len(moves) == 1, item.name
        temp = events[moves[0]][1]
        assert os.path.dirname(os.path.realpath(temp)) == partial
        assert os.path.basename(temp).startswith("get-")
        synced = [
            i for i, e in enumerate(events) if e[0] == "fsync" and e[1] == os.path.realpath(temp)
        ]
        assert synced and synced[0] < moves[0], f"{item.name}: not fsynced before the rename"
        assert item.path.read_bytes() == FILES[item.name]


@pytest.mark.parametrize("settle", [0, 0.1], ids=["unguarded", "settle"])
def test_a_resumed_download_of_a_file_rewritten_with_the_same_size_starts_over(
    remote: Remote, seeded: Path, tmp_path: Path, settle: float
) -> None:
    """The file is replaced (same size, new content, new time) while the download is cut:
    continuing from the old bytes would stitch two versions; the marker says it changed.
    With the settle guard the file, changed while it was downloaded, waits for the next run."""
    new = bytes(255 - b for b in FILES["b.nc"])

    def rewrite(_: str) -> None:
        target = seeded / "b.nc"
        target.write_bytes(new)
        stamp = target.stat().st_mtime + 120
        os.utime(target, (stamp, stamp))

    remote.set_on_drop(rewrite)
    remote.faults["b.nc"] = [f"drop:{CUT}"]
    staging = StagingArea(tmp_path / "staging")
    remote.handler(settle=settle).fetch_new(staging)
    if settle:
        assert "b.nc" not in _staged(staging)
        assert_staging_clean(staging)
        remote.handler(settle=settle).fetch_new(staging)
    assert _staged(staging)["b.nc"] == new
    assert_staging_clean(staging)


def test_a_refused_upload_leaves_no_partial_file_at_the_partner(
    remote: Remote, seeded: Path, tmp_path: Path
) -> None:
    """An upload the server refuses after the data went up (FTP: the drop box allows storing
    and deleting but not renaming; SFTP: the name is taken by a folder) failed with the
    hidden ``.<name>.part`` left in the partner's folder, where pickup scripts that take
    every file found a half-delivered export. It is removed while the connection works."""
    outbox = seeded / "outbox"
    outbox.mkdir()
    export = tmp_path / "export.nc"
    export.write_bytes(os.urandom(50_000))
    if remote.ftp is not None:
        remote.ftp.authorizer.override_perm(FTP_USER, str(outbox), perm="elwd", recursive=True)
    else:
        (outbox / "export.nc").mkdir()
        (outbox / "export.nc" / "keep").write_bytes(b"someone's")
    with pytest.raises(TransferError, match=r"export\.nc"):
        remote.handler(remote_dir="/outbox").put(export)
    assert sorted(p.name for p in outbox.iterdir()) == (
        [] if remote.ftp is not None else ["export.nc"]
    )


def test_delivers_again_to_a_server_that_does_not_rename_over_a_file(
    remote: Remote, seeded: Path, tmp_path: Path
) -> None:
    """Delivering a name that is already there (a task retried after its upload went through
    but before it was recorded; a corrected file of the same name) to a server that refuses
    to rename onto an existing file (FTP: IIS, ProFTPD's default ``AllowOverwrite off``; SFTP
    without the posix-rename extension) replaces the file, and leaves nothing else behind."""
    remote.refuse_overwrite()
    outbox, export = _delivered_before(seeded, tmp_path)
    remote.handler(remote_dir="/outbox").put(export)
    assert sorted(p.name for p in outbox.iterdir()) == ["export.nc"]
    assert (outbox / "export.nc").read_bytes() == export.read_bytes()


@pytest.mark.parametrize("without", [(), ("SIZE",)], ids=["size", "no-size"])
def test_ftp_never_moves_a_folder_of_the_name_aside(
    remote_root: Path, secrets_env: dict[str, str], tmp_path: Path, without: tuple[str, ...]
) -> None:
    """Only a delivered *file* is moved aside for its replacement: a folder of that name is
    someone else's; the upload fails and leaves it as it was. Servers without ``SIZE`` replace
    a file all the same."""
    outbox = remote_root / "outbox"
    outbox.mkdir()
    export = tmp_path / "export.nc"
    export.write_bytes(os.urandom(20_000))
    with FTPTestServer(remote_root, FTP_USER, FTP_PASSWORD, without=without) as server:
        remote = _ftp_remote(server, secrets_env["ftp"])
        remote.refuse_overwrite()
        (outbox / "export.nc").write_bytes(b"the first delivery")
        remote.handler(remote_dir="/outbox").put(export)
        assert sorted(p.name for p in outbox.iterdir()) == ["export.nc"]
        assert (outbox / "export.nc").read_bytes() == export.read_bytes()

        (outbox / "folder.nc").mkdir()
        (outbox / "folder.nc" / "keep").write_bytes(b"someone's")
        with pytest.raises(TransferError, match=r"put folder\.nc"):
            remote.handler(remote_dir="/outbox").put(export, "folder.nc")
    assert sorted(p.name for p in outbox.iterdir()) == ["export.nc", "folder.nc"]
    assert (outbox / "folder.nc" / "keep").read_bytes() == b"someone's"


def test_a_replacement_that_cannot_be_renamed_in_keeps_the_delivered_file(
    remote: Remote, seeded: Path, tmp_path: Path
) -> None:
    """On a server that renames onto free names only, the delivered file was deleted before
    the new one was renamed into place: when that rename failed (quota, a refused name, a
    dropped connection) the partner had neither. Now the old file is moved aside and back."""
    remote.refuse_overwrite()
    remote.refused_renames.append(".export.nc.*.part")
    outbox, export = _delivered_before(seeded, tmp_path)
    with pytest.raises(TransferError, match=r"put export\.nc") as info:
        remote.handler(remote_dir="/outbox").put(export)
    assert not isinstance(info.value, TransientTransferError), repr(info.value)
    assert sorted(p.name for p in outbox.iterdir()) == ["export.nc"]
    assert (outbox / "export.nc").read_bytes() == b"the first delivery"


def test_a_delivered_file_that_cannot_be_put_back_is_kept_and_named(
    remote: Remote, seeded: Path, tmp_path: Path
) -> None:
    """Neither the new file nor the old one can be renamed onto the name: the old one stays
    under its hidden name beside it, and the error says which (it used to be deleted)."""
    remote.refuse_overwrite()
    remote.refused_renames.extend([".export.nc.*.part", ".export.nc.*.old"])
    outbox, export = _delivered_before(seeded, tmp_path)
    with pytest.raises(TransferError, match=r"put export\.nc") as info:
        remote.handler(remote_dir="/outbox").put(export)
    (kept,) = outbox.iterdir()  # and not the upload
    assert kept.read_bytes() == b"the first delivery"
    assert kept.name.startswith(".export.nc.") and kept.name.endswith(".old")
    assert f"kept as /outbox/{kept.name}" in str(info.value), str(info.value)


def test_two_uploads_of_one_name_at_once_each_use_their_own_temporary_file(
    remote: Remote, seeded: Path, tmp_path: Path
) -> None:
    """Two workers deliver the same name at once. Both uploaded into ``.<name>.part``: the
    second truncated and overwrote the first's half-sent file and renamed it into place, the
    first went on writing into the delivered file and then failed its rename (or delivered a
    stitched file). Each upload now has a temporary name of its own; both succeed, the last
    renamed in wins whole, and no temporary file stays."""
    outbox = seeded / "outbox"
    outbox.mkdir()
    first, second = os.urandom(400_000), os.urandom(30_000)
    fifo = tmp_path / "first.nc"
    os.mkfifo(fifo)  # the first upload reads its bytes as the test hands them over
    later = tmp_path / "second.nc"
    later.write_bytes(second)
    errors: list[BaseException] = []

    def upload_first() -> None:
        try:
            remote.handler(remote_dir="/outbox", retry=RetryPolicy(attempts=1)).put(
                fifo, "export.nc"
            )
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)

    worker = threading.Thread(target=upload_first)
    worker.start()
    try:
        with fifo.open("wb") as feed:
            feed.write(first[:200_000])
            feed.flush()
            deadline = time.monotonic() + 20
            while not any(p.name.endswith(".part") for p in outbox.iterdir()):
                assert time.monotonic() < deadline, "the first upload never started"
                time.sleep(0.01)
            remote.handler(remote_dir="/outbox", retry=RetryPolicy(attempts=1)).put(
                later, "export.nc"
            )
            assert (outbox / "export.nc").read_bytes() == second
            feed.write(first[200_000:])
    finally:
        worker.join(timeout=30)
    assert not errors, errors
    assert sorted(p.name for p in outbox.iterdir()) == ["export.nc"]
    assert (outbox / "export.nc").read_bytes() == first


def test_an_upload_removes_what_killed_uploads_of_its_name_left(
    remote: Remote, seeded: Path, tmp_path: Path, running_pid: int
) -> None:
    """Each upload has a temporary name of its own, so the one of an upload killed mid-way
    (or cut off from the server) is never replaced by a later upload as ``.<name>.part``
    was: the next upload of the name removes those of gone processes of this machine, and
    leaves running uploads (here and on other machines) and other names alone."""
    from stratoflow.files import this_host

    outbox = seeded / "outbox"
    outbox.mkdir()
    dead = dead_pid()
    host = this_host()
    stale = f".export.nc.{host}-{dead}.0123456789ab.part"
    kept = [
        f".export.nc.{host}-{running_pid}.0123456789ab.part",  # an upload running now
        ".export.nc.other-host-1.0123456789ab.part",  # another machine's
        f".other.nc.{host}-{dead}.0123456789ab.part",  # another name's
    ]
    for name in [stale, *kept]:
        (outbox / name).write_bytes(b"half")
    export = tmp_path / "export.nc"
    export.write_bytes(os.urandom(5_000))
    remote.handler(remote_dir="/outbox").put(export)
    assert sorted(p.name for p in outbox.iterdir()) == sorted(["export.nc", *kept])
    assert (outbox / "export.nc").read_bytes() == export.read_bytes()


def _aside_leftovers(outbox: Path) -> list[str]:
    return sorted(p.name for p in outbox.iterdir() if p.name.endswith(".old"))


def test_a_connection_lost_before_the_new_file_is_renamed_in_puts_the_old_one_back(
    remote: Remote, seeded: Path, tmp_path: Path
) -> None:
    """On a server that renames onto free names only, the connection drops after the
    delivered file was moved aside and before the new one was renamed in: the partner had
    no ``export.nc`` at all, the old one hidden as ``.export.nc.….old`` for ever. The next
    upload to the folder (here, of another name) puts it back first; the retried upload of
    the name then replaces it and leaves nothing aside."""
    remote.refuse_overwrite()
    remote.drop_on_rename.append(".export.nc.*.part")
    outbox, export = _delivered_before(seeded, tmp_path)
    once = RetryPolicy(attempts=1)
    with pytest.raises(TransientTransferError, match=r"put export\.nc"):
        remote.handler(remote_dir="/outbox", retry=once).put(export)
    assert not (outbox / "export.nc").exists()  # the drop left it aside
    (aside,) = _aside_leftovers(outbox)

    other = tmp_path / "other.nc"
    other.write_bytes(b"another export")
    remote.handler(remote_dir="/outbox", retry=once).put(other)
    assert (outbox / "export.nc").read_bytes() == b"the first delivery"
    assert not (outbox / aside).exists()

    remote.handler(remote_dir="/outbox", retry=once).put(export)
    assert sorted(p.name for p in outbox.iterdir()) == ["export.nc", "other.nc"]
    assert (outbox / "export.nc").read_bytes() == export.read_bytes()


def test_a_retried_upload_after_a_lost_connection_leaves_nothing_aside(
    remote: Remote, seeded: Path, tmp_path: Path
) -> None:
    """The same drop, with retries: the retry (same process, fresh connection) first puts
    the old file back, then replaces it. It used to find the name free, rename the new file
    in and leave the old one hidden beside it."""
    remote.refuse_overwrite()
    remote.drop_on_rename.append(".export.nc.*.part")
    outbox, export = _delivered_before(seeded, tmp_path)
    remote.handler(remote_dir="/outbox").put(export)
    assert not remote.drop_on_rename  # the connection was lost once
    assert sorted(p.name for p in outbox.iterdir()) == ["export.nc"]
    assert (outbox / "export.nc").read_bytes() == export.read_bytes()


def test_a_connection_lost_before_the_old_file_is_removed_leaves_it_for_the_next_upload(
    remote: Remote, seeded: Path, tmp_path: Path
) -> None:
    """The new file was renamed in and the connection dropped before the old one, moved
    aside, was removed: the upload counts as done (the partner has the new file), and the
    next upload to the folder removes the old one."""
    remote.refuse_overwrite()
    remote.drop_on_remove.append(".export.nc.*.old")
    outbox, export = _delivered_before(seeded, tmp_path)
    remote.handler(remote_dir="/outbox").put(export)
    assert not remote.drop_on_remove  # the connection was lost once
    assert len(_aside_leftovers(outbox)) == 1

    other = tmp_path / "other.nc"
    other.write_bytes(b"another export")
    remote.handler(remote_dir="/outbox").put(other)
    assert sorted(p.name for p in outbox.iterdir()) == ["export.nc", "other.nc"]
    assert (outbox / "export.nc").read_bytes() == export.read_bytes()


def test_an_upload_settles_only_what_killed_replacements_of_this_machine_moved_aside(
    remote: Remote, seeded: Path, tmp_path: Path, running_pid: int
) -> None:
    """Files a killed process moved aside (``.<name>.<host>-<pid>.<stamp>.old``) are put
    back when their name is free (the newest, if several) and removed when it is taken. The
    files of replacements running now, of other machines, and names this code does not make
    are left alone (here: of ``c.nc``, which they keep from being put back, see the next
    test)."""
    from stratoflow.files import this_host

    outbox = seeded / "outbox"
    outbox.mkdir()
    dead = dead_pid()
    host = this_host()
    old, newer = "0000000000000001abcd", "0000000000000002abcd"
    left = {
        f".a.nc.{host}-{dead}.{old}.old": b"a, older",  # removed: a newer one goes back
        f".a.nc.{host}-{dead}.{newer}.old": b"a, newer",  # put back: no a.nc
        f".b.nc.{host}-{dead}.{old}.old": b"b, replaced",  # removed: b.nc is there
    }
    kept = {
        f".c.nc.{host}-{running_pid}.{old}.old": b"running",
        f".c.nc.other-host-{dead}.{old}.old": b"other machine",
        ".c.nc.0123456789ab.old": b"an older version's",
        f".a.nc.{host}-{dead}.{old}.old.bak": b"not ours",
    }
    for name, data in {**left, **kept}.items():
        (outbox / name).write_bytes(data)
    (seeded / "b.nc").rename(outbox / "b.nc")
    export = tmp_path / "export.nc"
    export.write_bytes(os.urandom(5_000))
    remote.handler(remote_dir="/outbox").put(export)
    assert sorted(p.name for p in outbox.iterdir()) == sorted(["a.nc", "b.nc", "export.nc", *kept])
    assert (outbox / "a.nc").read_bytes() == b"a, newer"
    assert (outbox / "b.nc").read_bytes() == FILES["b.nc"]
    for name, data in kept.items():
        assert (outbox / name).read_bytes() == data


@pytest.mark.parametrize(
    "at_work",
    [
        "{host}-{running}.0123456789ab.part",  # an upload of this machine running now
        "other-host-{dead}.0123456789ab.part",  # another machine's upload (may be running)
        "{host}-{running}.0000000000000003abcd.old",  # a replacement running now
        "other-host-{dead}.0000000000000003abcd.old",  # another machine's replacement
        "0123456789ab.old",  # an older version's replacement: no machine, no process
        "part",  # an older version's upload (.a.nc.part): no machine, no process
    ],
)
def test_a_file_moved_aside_is_not_put_back_while_an_upload_of_its_name_may_run(
    remote: Remote, seeded: Path, tmp_path: Path, running_pid: int, at_work: str
) -> None:
    """A killed replacement left ``a.nc`` moved aside, and another upload or replacement of
    ``a.nc`` may be at work now: the old file is not put back (the new file that upload
    renames in would be replaced by it, on a server that renames onto existing files, or
    its rename would fail). It stays for an upload after that one."""
    from stratoflow.files import this_host

    outbox = seeded / "outbox"
    outbox.mkdir()
    aside = f".a.nc.{this_host()}-{dead_pid()}.0000000000000001abcd.old"
    busy = ".a.nc." + at_work.format(host=this_host(), running=running_pid, dead=dead_pid())
    (outbox / aside).write_bytes(b"a, delivered")
    (outbox / busy).write_bytes(b"at work")
    export = tmp_path / "export.nc"
    export.write_bytes(os.urandom(5_000))
    remote.handler(remote_dir="/outbox").put(export)
    assert sorted(p.name for p in outbox.iterdir()) == sorted([aside, busy, "export.nc"])


def test_an_older_file_moved_aside_never_goes_back_where_the_newest_could_not(
    remote: Remote, seeded: Path, tmp_path: Path
) -> None:
    """Two files a killed process moved aside from one name, and the newest cannot be put
    back (the server refuses): the older one is not put back in its place (the partner would
    get an outdated file as if it were the latest); both stay for a later upload."""
    from stratoflow.files import this_host

    outbox = seeded / "outbox"
    outbox.mkdir()
    host, dead = this_host(), dead_pid()
    older = f".a.nc.{host}-{dead}.0000000000000001abcd.old"
    newest = f".a.nc.{host}-{dead}.0000000000000002abcd.old"
    (outbox / older).write_bytes(b"a, older")
    (outbox / newest).write_bytes(b"a, newest")
    remote.refused_renames.append(newest)
    export = tmp_path / "export.nc"
    export.write_bytes(os.urandom(5_000))
    remote.handler(remote_dir="/outbox").put(export)
    assert sorted(p.name for p in outbox.iterdir()) == sorted([older, newest, "export.nc"])
