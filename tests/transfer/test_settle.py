"""A file the provider is still writing is not staged: it waits for a later run.

A directory (local, SFTP, FTP) lists a file while the provider writes it; a portal may
publish a file before it is complete (HTTP). Fetched then, it was
staged incomplete, and the next run saw the rest as a new version (two imports, the first
one of half a file). A new file is now taken only once its size and modification time stayed
the same over ``settle`` seconds and it is at least ``min_age`` seconds old, and a file that
changed while it was downloaded is not staged; neither is a failure.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stratoflow.errors import ConfigError, TransferError
from stratoflow.transfer import (
    DataProvider,
    FTPServer,
    HttpPortal,
    LocalDirectory,
    SFTPServer,
    StagingArea,
    TransferHandler,
)
from stratoflow.transfer.auth.ftp_login import FTPLoginAuth
from stratoflow.transfer.auth.none import NoAuth
from stratoflow.transfer.auth.ssh import SSHAuth
from stratoflow.transfer.base import Settle
from stratoflow.transfer.config import DEFAULT_SETTLE, SETTLE_VARIABLE
from stratoflow.transfer.secrets import Secret

from ._ftp_server import FTPTestServer
from ._portal import Portal, grown_during_its_download
from ._sftp_server import SFTPTestServer
from .conftest import FAST_RETRY, FTP_PASSWORD, FTP_USER, SFTP_PASSWORD, SFTP_USER
from .test_faults import assert_staging_clean

PROVIDER = DataProvider(name="Busy Writer DC")
#: The settle interval of these tests: long enough for the writer below to write several times
SETTLE = 0.3


@dataclass
class Provider:
    """The provider's directory (``remote_root``) served by one protocol."""

    kind: str
    #: ``handler(**options)``: a handler fetching from it (options of the transfer type)
    handler: Callable[..., TransferHandler]
    #: file name -> fault actions of the server, and a hook run just before a ``drop``
    #: hangs up (none for a local directory)
    faults: dict[str, list[str]] = field(default_factory=dict)
    set_on_drop: Callable[[Callable[[str], None]], None] | None = None


@pytest.fixture(params=["local", "sftp", "ftp", "ftp-list", "http", "http-listed"])
def provider(request: pytest.FixtureRequest, remote_root: Path) -> Iterator[Provider]:
    """Each protocol (``ftp-list``: a server without MLSD/MLST, listed by LIST and MDTM;
    ``http``: a portal listing sizes, its ``HEAD`` telling ``Last-Modified``;
    ``http-listed``: one listing modification times too, so that the guard compares its
    listings while it waits, and asks ``HEAD`` only of the files it takes)."""
    kind: str = request.param
    if kind.startswith("http"):
        portal: Portal = request.getfixturevalue("portal_factory")()
        listed = {"modified_field": "updated"} if kind == "http-listed" else {}
        yield Provider(
            kind,
            lambda **options: TransferHandler(
                transfer=HttpPortal(
                    base_url=portal.url, list_path="api/files", timeout=5, **listed, **options
                ),
                auth=NoAuth(),
                provider=PROVIDER,
                retry=FAST_RETRY,
            ),
            portal.faults,
        )
    elif kind == "local":
        yield Provider(
            kind,
            lambda **options: TransferHandler(
                transfer=LocalDirectory(root=str(remote_root), **options),
                auth=NoAuth(),
                provider=PROVIDER,
                retry=FAST_RETRY,
            ),
        )
    elif kind == "sftp":
        server: SFTPTestServer = request.getfixturevalue("sftp_server")
        known_hosts = request.getfixturevalue("known_hosts")
        auth = SSHAuth(username=SFTP_USER, password=Secret.from_value(SFTP_PASSWORD))

        def on_drop(hook: Callable[[str], None]) -> None:
            server.faults.on_drop = hook

        yield Provider(
            kind,
            lambda **options: TransferHandler(
                transfer=SFTPServer(
                    host="127.0.0.1",
                    port=server.port,
                    known_hosts=str(known_hosts),
                    timeout=5,
                    **options,
                ),
                auth=auth,
                provider=PROVIDER,
                retry=FAST_RETRY,
            ),
            server.faults.queues,
            on_drop,
        )
    else:
        without = ("MLSD", "MLST") if kind == "ftp-list" else ()
        with FTPTestServer(remote_root, FTP_USER, FTP_PASSWORD, without=without) as ftp:
            login = FTPLoginAuth(user=FTP_USER, password=Secret.from_value(FTP_PASSWORD))

            def on_drop_ftp(hook: Callable[[str], None]) -> None:
                ftp.on_drop = hook

            yield Provider(
                kind,
                lambda **options: TransferHandler(
                    transfer=FTPServer(host="127.0.0.1", port=ftp.port, timeout=5, **options),
                    auth=login,
                    provider=PROVIDER,
                    retry=FAST_RETRY,
                ),
                ftp.faults,
                on_drop_ftp,
            )


@contextmanager
def _writing(path: Path, every: float = 0.02) -> Iterator[bytearray]:
    """A writer that appends to ``path`` every ``every`` seconds until the block ends; yields
    the bytes written so far (all of them once the block is left)."""
    written = bytearray()
    stop = threading.Event()

    def write() -> None:
        with path.open("ab") as fh:
            while not stop.is_set():
                block = os.urandom(1000)
                fh.write(block)
                fh.flush()
                written.extend(block)
                stop.wait(every)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while not written:
            time.sleep(0.005)
        yield written
    finally:
        stop.set()
        writer.join()


def _written_a_minute_ago(path: Path) -> None:
    """Give ``path`` the times of a file its writer finished a minute ago (a portal's
    ``Last-Modified`` has whole seconds: one written in the second of a look and unchanged
    at the next looks changed)."""
    when = time.time() - 60
    os.utime(path, (when, when))


def test_a_file_still_being_written_is_left_for_a_later_run(
    provider: Provider, remote_root: Path, tmp_path: Path
) -> None:
    (remote_root / "done.nc").write_bytes(b"complete")
    _written_a_minute_ago(remote_root / "done.nc")
    staging = StagingArea(tmp_path / "staging")
    failures: list[TransferError] = []
    with _writing(remote_root / "growing.nc") as written:
        staged = provider.handler(settle=SETTLE).fetch_new(
            staging, on_failure=lambda _, exc: failures.append(exc)
        )
    assert [s.name for s in staged] == ["done.nc"]  # the other files are not held back
    assert failures == []  # nothing failed: it is not ready yet
    assert_staging_clean(staging)
    # the writer is done: the next run takes the whole file
    _written_a_minute_ago(remote_root / "growing.nc")
    [whole] = provider.handler(settle=SETTLE).fetch_new(StagingArea(staging.root))
    assert whole.name == "growing.nc" and whole.path.read_bytes() == bytes(written)


def test_the_guard_is_on_by_default(
    remote_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a ``settle`` option a file being written is not taken either."""
    monkeypatch.delenv(SETTLE_VARIABLE, raising=False)  # (the test session sets 0)
    transfer = LocalDirectory(root=str(remote_root))
    assert transfer.settle() == Settle(interval=DEFAULT_SETTLE) and DEFAULT_SETTLE > 0
    plain = TransferHandler(transfer=transfer, auth=NoAuth(), provider=PROVIDER)
    staging = StagingArea(tmp_path / "staging")
    with _writing(remote_root / "growing.nc", every=0.05) as written:
        assert plain.fetch_new(staging) == []
    [whole] = plain.fetch_new(staging)
    assert whole.path.read_bytes() == bytes(written)


# paramiko's read-ahead thread dies with EOFError when the server hangs up (see the same mark
# in test_faults_sftp_ftp.py); the download itself fails cleanly in the caller
@pytest.mark.filterwarnings(
    r"ignore:Exception in thread .*\(_prefetch_thread\)"
    ":pytest.PytestUnhandledThreadExceptionWarning"
)
@pytest.mark.parametrize("provider", ["sftp", "ftp", "ftp-list"], indirect=True)
def test_a_file_that_grew_while_it_was_downloaded_is_not_staged(
    provider: Provider, remote_root: Path, tmp_path: Path
) -> None:
    """The file stayed the same over the settle interval, then the provider's writer went on
    while it was downloaded (here: when the server cut the connection, so that the retry reads
    the grown file). Its bytes are not staged, and that is no failure of the run: it was
    "received more than announced", retried with the stale listing until the run gave up."""
    assert provider.set_on_drop is not None  # (a server cuts the download)
    target = remote_root / "paused.nc"
    target.write_bytes(os.urandom(200_000))
    grown = target.read_bytes() + os.urandom(50_000)

    def resume_writing(_: str) -> None:
        target.write_bytes(grown)

    provider.set_on_drop(resume_writing)
    provider.faults["paused.nc"] = ["drop:40000"]
    staging = StagingArea(tmp_path / "staging")
    failures: list[TransferError] = []
    run = provider.handler(settle=SETTLE)
    assert run.fetch_new(staging, on_failure=lambda _, exc: failures.append(exc)) == []
    assert failures == []
    assert_staging_clean(staging)  # nothing kept either: they are bytes of no one version
    [whole] = run.fetch_new(StagingArea(staging.root))
    assert whole.path.read_bytes() == grown


def test_a_file_younger_than_min_age_is_left_for_a_later_run(
    provider: Provider, remote_root: Path, tmp_path: Path
) -> None:
    """By its modification time as the listing gives it (SFTP seconds, FTP's UTC time-val)."""
    hour_ago = time.time() - 3600
    for name in ("old.nc", "new.nc"):
        (remote_root / name).write_bytes(name.encode())
    os.utime(remote_root / "old.nc", (hour_ago, hour_ago))
    run = provider.handler(settle=0, min_age=600)
    staging = StagingArea(tmp_path / "staging")
    assert [s.name for s in run.fetch_new(staging)] == ["old.nc"]
    os.utime(remote_root / "new.nc", (hour_ago, hour_ago))  # ten minutes later, as it were
    assert [s.name for s in run.fetch_new(staging)] == ["new.nc"]
    assert_staging_clean(staging)


def test_a_run_that_finds_nothing_new_does_not_wait_to_list_again(
    remote_root: Path, ftp_test_server: FTPTestServer, tmp_path: Path
) -> None:
    (remote_root / "a.nc").write_bytes(b"a")
    listings: list[str] = []
    ftp_test_server.on_list = listings.append
    transfer = FTPServer(host="127.0.0.1", port=ftp_test_server.port, timeout=5, settle=SETTLE)
    login = FTPLoginAuth(user=FTP_USER, password=Secret.from_value(FTP_PASSWORD))
    run = TransferHandler(transfer=transfer, auth=login, provider=PROVIDER)
    staging = StagingArea(tmp_path / "staging")
    assert [s.name for s in run.fetch_new(staging)] == ["a.nc"]
    assert len(listings) == 2  # listed, then again after the settle interval
    listings.clear()
    assert run.fetch_new(staging) == []
    assert len(listings) == 1


def _portal_run(portal: Portal, **options: object) -> TransferHandler:
    transfer = HttpPortal(base_url=portal.url, list_path="api/files", timeout=5, **options)  # type: ignore[arg-type]
    return TransferHandler(transfer=transfer, auth=NoAuth(), provider=PROVIDER, retry=FAST_RETRY)


@pytest.mark.parametrize(
    "listing",
    [{"size_field": None}, {"modified_field": "updated"}],
    ids=["no-size", "size-and-time"],
)
def test_a_portal_file_that_changed_while_it_was_downloaded_is_not_staged(
    portal_factory: Callable[..., Portal],
    remote_root: Path,
    tmp_path: Path,
    listing: dict[str, object],
) -> None:
    """The file grows while its download is held; the bytes sent (the shorter version) are
    not staged, as a fresh ``HEAD`` shows it changed: whether the listing tells no size, or
    its size and time (the guard compared the listings, and asked ``HEAD`` before the
    download)."""
    portal = portal_factory()
    target = remote_root / "growing.nc"
    target.write_bytes(os.urandom(10_000))
    staging = StagingArea(tmp_path / "staging")
    failures: list[TransferError] = []
    run = _portal_run(portal, settle=SETTLE, **listing)
    with grown_during_its_download(portal, target):
        assert run.fetch_new(staging, on_failure=lambda _, exc: failures.append(exc)) == []
    assert failures == []
    assert_staging_clean(staging)
    _written_a_minute_ago(target)
    [whole] = run.fetch_new(StagingArea(staging.root))
    assert whole.path.read_bytes() == target.read_bytes()


def _new_files(root: Path, count: int) -> list[str]:
    names = [f"f{i}.nc" for i in range(count)]
    for name in names:
        (root / name).write_bytes(name.encode() * 100)
        _written_a_minute_ago(root / name)
    return names


@pytest.mark.parametrize(
    ("listing", "heads", "heads_later"),
    [({"modified_field": "updated"}, 2, 1), ({}, 3, 2)],
    ids=["size-and-time", "size-only"],
)
def test_a_run_asks_few_heads_per_file(
    portal_factory: Callable[..., Portal],
    remote_root: Path,
    tmp_path: Path,
    listing: dict[str, object],
    heads: int,
    heads_later: int,
) -> None:
    """Four ``HEAD`` requests per new file, one after another, made a first run over
    thousands of files slow. A listing telling size and time is compared with the next
    one while the guard waits: one ``HEAD`` before the download (the state compared after
    it), one after. Otherwise two while it waits, one after. The version marker (this
    listing tells none) is what the guard's last ``HEAD`` told, not asked again; so a later
    run, which must ask it of every file, asks one ``HEAD`` (two) instead of three."""
    names = _new_files(remote_root, 5)
    portal = portal_factory()
    staging = StagingArea(tmp_path / "staging")
    staged = _portal_run(portal, settle=SETTLE, **listing).fetch_new(staging)
    assert sorted(s.name for s in staged) == names
    asked = Counter(r.removeprefix("HEAD /files/") for r in portal.requests if "HEAD" in r)
    assert asked == dict.fromkeys(names, heads)
    # the last one of each file comes after its download
    for name in names:
        last_head = max(i for i, r in enumerate(portal.requests) if r == f"HEAD /files/{name}")
        assert portal.requests.index(f"GET /files/{name}") < last_head
    portal.requests.clear()
    assert _portal_run(portal, settle=SETTLE, **listing).fetch_new(staging) == []
    asked = Counter(r.removeprefix("HEAD /files/") for r in portal.requests if "HEAD" in r)
    assert asked == dict.fromkeys(names, heads_later)
    assert not [r for r in portal.requests if r.startswith("GET /files/")]


@pytest.mark.parametrize("parallel", [4, 1])
def test_the_guard_asks_several_files_at_once_as_far_as_allowed(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path, parallel: int
) -> None:
    """A distant portal (each ``HEAD`` takes a while): ``parallel_heads`` of them are sent
    at once (1: one at a time, for a portal that takes one connection at a time)."""
    names = _new_files(remote_root, 8)
    portal = portal_factory(head_delay=0.2)
    run = _portal_run(portal, settle=SETTLE, parallel_heads=parallel)
    assert sorted(s.name for s in run.fetch_new(StagingArea(tmp_path / "staging"))) == names
    assert portal.most_heads_at_once == parallel


def test_a_portal_that_asks_to_slow_down_is_asked_one_at_a_time(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """A portal answering 429 to a second ``HEAD`` at once: that answer tells nothing of
    the file (taken for its state, every file would look changed and wait for a later
    run); the files are asked again one at a time, and all are taken in this run."""
    names = _new_files(remote_root, 8)
    portal = portal_factory(head_delay=0.05, head_limit=1)
    run = _portal_run(portal, settle=SETTLE, parallel_heads=4)
    assert sorted(s.name for s in run.fetch_new(StagingArea(tmp_path / "staging"))) == names
    assert portal.most_heads_at_once > 1  # it was asked in parallel, and said no


@pytest.mark.parametrize("parallel", [4, 1])
def test_a_portal_busy_for_a_moment_is_asked_again_after_the_wait_it_asks_for(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path, parallel: int
) -> None:
    """A portal answering 429 to a few ``HEAD`` requests, one at a time too: such an answer
    is retried (after its ``Retry-After``), never taken for the file's state, which made the
    file look changed at the next look and left it for a later run."""
    names = _new_files(remote_root, 8)
    portal = portal_factory(head_busy=3)
    run = _portal_run(portal, settle=SETTLE, parallel_heads=parallel)
    assert sorted(s.name for s in run.fetch_new(StagingArea(tmp_path / "staging"))) == names
    assert portal.head_busy == 0


@pytest.mark.parametrize("value", [0, 17, -1])
def test_parallel_heads_is_checked(value: int) -> None:
    with pytest.raises(ConfigError, match=rf"parallel_heads must be .* 1 to 16, not {value}"):
        HttpPortal(base_url="https://portal.example/", parallel_heads=value)
    with pytest.raises(ConfigError, match=r"'parallel_heads' must be an integer, not '4'"):
        HttpPortal.from_config({"base_url": "https://portal.example/", "parallel_heads": "4"})
    assert HttpPortal(base_url="https://portal.example/").to_config()["parallel_heads"] == 4


@pytest.mark.parametrize("offset", [-7200, 7200], ids=["portal-behind", "portal-ahead"])
@pytest.mark.parametrize("source", ["head", "listing"])
def test_min_age_on_a_portal_goes_by_the_portal_clock(
    portal_factory: Callable[..., Portal],
    remote_root: Path,
    tmp_path: Path,
    offset: float,
    source: str,
) -> None:
    """The portal's clock is two hours off; its files carry times of its clock. A file it
    wrote just now is new and one it wrote an hour ago is old, whatever this machine's
    clock says: the age is its ``Date`` less the file's ``Last-Modified`` (``head``) or
    listed modification time (``listing``)."""
    portal = portal_factory(clock_offset=offset)
    server_now = time.time() + offset
    for name, written in (("old.nc", server_now - 3600), ("new.nc", server_now - 5)):
        (remote_root / name).write_bytes(name.encode())
        os.utime(remote_root / name, (written, written))
    options: dict[str, object] = {"settle": 0, "min_age": 600}
    if source == "listing":
        options["modified_field"] = "updated"
    staging = StagingArea(tmp_path / "staging")
    assert [s.name for s in _portal_run(portal, **options).fetch_new(staging)] == ["old.nc"]
    assert_staging_clean(staging)


def test_a_portal_that_stamps_every_answer_with_the_time_still_delivers(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """A portal generating downloads on request answers ``HEAD`` with ``Last-Modified`` =
    now, different at every look: that is not taken for a file being written (it would never
    be fetched), while a growing length still is."""
    portal = portal_factory(generated=True)
    (remote_root / "report.nc").write_bytes(b"generated on request")
    staging = StagingArea(tmp_path / "staging")
    run = _portal_run(portal, size_field=None, settle=1.1)  # two different seconds
    assert [s.name for s in run.fetch_new(staging)] == ["report.nc"]
    with _writing(remote_root / "growing.nc", every=0.05):
        assert run.fetch_new(staging) == []


@pytest.mark.parametrize(
    ("field", "shown"),
    [("name", "'a.nc'"), ("modified", r"\d{19}")],  # a name; nanoseconds (too far ahead)
)
def test_a_portal_modified_field_that_is_no_time_is_an_error_naming_the_item(
    portal_factory: Callable[..., Portal],
    remote_root: Path,
    tmp_path: Path,
    field: str,
    shown: str,
) -> None:
    portal = portal_factory()
    (remote_root / "a.nc").write_bytes(b"a")
    run = _portal_run(portal, settle=0, min_age=60, modified_field=field)
    with pytest.raises(
        TransferError, match=rf"item 'a\.nc': its field '{field}' .* is {shown}, not a time"
    ):
        run.fetch_new(StagingArea(tmp_path / "staging"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"settle": -1}, r"settle must be seconds from 0 to 300, not -1"),
        ({"settle": math.inf}, r"'settle' must be a finite number or null, not inf"),
        ({"settle": 3600}, r"not 3600 \(for a longer quiet time use min_age"),
        ({"settle": "2"}, r"'settle' must be a finite number or null, not '2'"),
        ({"min_age": -5}, r"min_age must be finite seconds >= 0, not -5"),
        ({"min_age": math.nan}, r"'min_age' must be a finite number, not nan"),
    ],
)
@pytest.mark.parametrize("kind", ["local", "sftp", "ftp", "http"])
def test_settle_options_are_checked(kind: str, options: dict[str, object], message: str) -> None:
    where = {
        "local": {"root": "/srv/incoming"},
        "sftp": {"host": "h"},
        "ftp": {"host": "h"},
        "http": {"base_url": "https://portal.example/"},
    }
    with pytest.raises(ConfigError, match=message):
        TransferHandler.from_config(
            {"provider": {"name": "p"}, "transfer": {"type": kind, **where[kind], **options}}
        )


@pytest.mark.parametrize("kind", [SFTPServer, HttpPortal])
def test_settle_options_round_trip(kind: type[SFTPServer | HttpPortal]) -> None:
    where = {"base_url": "https://portal.example/"} if kind is HttpPortal else {"host": "h"}
    transfer = kind(**where, settle=2.5, min_age=600)  # type: ignore[arg-type]
    config = transfer.to_config()
    assert config["settle"] == 2.5 and config["min_age"] == 600
    assert kind.from_config(config).settle() == Settle(interval=2.5, min_age=600)
    assert FTPServer(host="h", settle=0).settle() is None  # off
    assert HttpPortal(base_url="https://portal.example/", settle=0).settle() is None


def test_the_site_default_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``STRATOFLOW_SETTLE_SECONDS`` replaces the built-in default (not an explicit option)."""
    monkeypatch.setenv(SETTLE_VARIABLE, "0.2")
    assert FTPServer(host="h").settle() == Settle(interval=0.2)
    assert HttpPortal(base_url="https://portal.example/").settle() == Settle(interval=0.2)
    assert FTPServer(host="h", settle=5).settle() == Settle(interval=5)
    assert "settle" not in FTPServer(host="h").to_config()  # the default stays the site's
    monkeypatch.setenv(SETTLE_VARIABLE, "0")
    assert LocalDirectory(root="/srv/in").settle() is None
    monkeypatch.setenv(SETTLE_VARIABLE, "soon")
    with pytest.raises(ConfigError, match=rf"{SETTLE_VARIABLE} must be seconds .*, not 'soon'"):
        SFTPServer(host="h")
