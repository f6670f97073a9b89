"""The TransferType extension point: a protocol, with few primitives and conveniences on top.

A transfer type is configuration (host, directory, endpoints) plus :meth:`TransferType.connect`,
which opens a :class:`Connection` using credentials from a separate
:class:`~stratoflow.transfer.auth.base.ConnectionHandler`. A connection implements four
primitives:

- ``list()``  the remote items, each a :class:`RemoteItem` with a stable identity
- ``get(item, sink)``  write the item's bytes to a sink
- ``put(path, name)``  upload a local file (atomically where the protocol allows)
- ``stat(identity)``  one item (default: found through ``list``)

and, where the target's folder can be looked at, ``find_upload(name)``: what an upload of
``name`` left there (:class:`UploadTrace`), so an upload whose uploader died before it heard
the answer can be settled by looking rather than by asking a person (default: ``None``, the
target cannot tell, as a REST endpoint that ingests what it is sent).

On top of these the base class builds :meth:`TransferType.fetch_new`: list, skip what the
staging area already holds, download the rest atomically, retry transient failures with a fresh
connection, resuming a cut download where it stopped (``get_from(item, sink, offset)``, by
default a fresh ``get``). A new protocol is one module implementing the primitives (fsspec
does the same with ``ls``/``_open``).

Connections translate their library's exceptions into stratoflow's at the boundary:
:class:`~stratoflow.errors.AuthError` (refused credentials, host key),
:class:`~stratoflow.errors.TransientTransferError` (worth retrying) or
:class:`~stratoflow.errors.TransferError`, always ``from`` the original.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, ClassVar, Self, cast

from stratoflow.errors import (
    AuthError,
    ConfigError,
    GoneError,
    StagingError,
    TransferError,
    TransientTransferError,
)
from stratoflow.files import (
    abandoned,
    owner_pid,
    partial_name,
    this_host,
)
from stratoflow.transfer.auth.base import ConnectionHandler
from stratoflow.transfer.config import build, no_credentials
from stratoflow.transfer.retry import RetryPolicy
from stratoflow.transfer.staging import (
    ResumedSink,
    ServedSink,
    Sink,
    StagedFile,
    StagingArea,
)

log = logging.getLogger(__name__)

#: Names of the options that hold an address (a URL or a host): no credentials in them
_ADDRESS = re.compile(r"url|host|.+_(url|uri|host)")

__all__ = [
    "Connection",
    "Observation",
    "Paced",
    "RemoteItem",
    "Settle",
    "TransferType",
    "UploadTrace",
    "failure_reason",
    "host_port",
    "printable",
    "remove_stale_uploads",
    "replace_keeping_old",
    "restore_moved_aside",
    "upload_leftovers",
    "upload_name",
]


def host_port(host: str, port: int) -> str:
    """``host:port`` for messages and URLs; an IPv6 address in brackets (``[::1]:22``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def printable(name: str) -> str:
    """``name`` with bytes that are not UTF-8 shown as ``\\xNN`` escapes.

    Python hands a file name it cannot decode over with surrogate escapes (PEP 383); such a
    string cannot be stored in a database, logged to a UTF-8 file or printed. The escaped form
    can, and still tells the operator which file it is.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = name.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate that no decoding produced
            return name.encode("utf-8", "backslashreplace").decode("utf-8")
        return raw.decode("utf-8", "backslashreplace")
    return name


def failure_reason(exc: BaseException, timeout: float) -> str:
    """A network failure in words an operator can act on.

    Libraries report a hung server as a bare ``TimeoutError()`` and a hang-up as an empty
    ``EOFError()``; the message says which it was, and for how long we waited.
    """
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s (TimeoutError)"
    if isinstance(exc, EOFError | ConnectionResetError | BrokenPipeError) or (
        "connection dropped" in str(exc).lower()
    ):
        detail = f": {exc}" if str(exc).strip(" :") else ""
        return f"the server closed the connection ({type(exc).__name__}{detail})"
    return f"{type(exc).__name__}: {exc}"


def remove_stale_uploads(
    listing: Callable[[], Iterable[str]],
    remove: Callable[[str], object],
    dest: PurePosixPath,
    *,
    errors: tuple[type[BaseException], ...],
) -> None:
    """Remove the temporary files of uploads of ``dest`` that processes of this machine left
    behind when they were killed or lost the connection mid-way (see
    :func:`stratoflow.files.abandoned`); ``listing`` gives the names in
    ``dest``'s folder.

    Each upload has a temporary name of its own, so nothing else ever replaces such a file:
    without this, every one would stay in the partner's folder. Those of this process's own
    earlier attempts (cut off, then retried) go too; uploads running now (this machine's or
    another's, see :func:`upload_name`) are left alone. Best effort: a listing or removal
    that fails is skipped (the upload itself has succeeded).
    """
    try:
        names = [PurePosixPath(n).name for n in listing()]
    except errors:
        return
    for name in names:
        pid = owner_pid(name, dest.name)
        if pid is not None and abandoned(pid, name, _live):
            with contextlib.suppress(*errors):
                remove(str(dest.with_name(name)))


#: The temporary names (``.part``) of this process's uploads running now, and the names
#: (``.old``) under which its replacements running now keep the file they replace: a
#: leftover of this process's own earlier attempt (its connection dropped) is told from an
#: upload another thread is doing now by not being in here.
_LIVE: set[str] = set()
_LIVE_LOCK = threading.Lock()


@contextlib.contextmanager
def _marked_live(name: str) -> Iterator[None]:
    with _LIVE_LOCK:
        _LIVE.add(name)
    try:
        yield
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(name)


def _live(name: str) -> bool:
    with _LIVE_LOCK:
        return name in _LIVE


@contextlib.contextmanager
def upload_name(dest: PurePosixPath) -> Iterator[PurePosixPath]:
    """The temporary name to upload ``dest`` under, of this upload alone (two workers may
    deliver the same name at once: see :func:`~stratoflow.files.partial_name`).

    While the block runs, :func:`remove_stale_uploads` leaves it alone; after it, a file
    left under it (the connection dropped before it was renamed in) is removed by the next
    upload of the name, in this process too.
    """
    tmp = dest.with_name(partial_name(dest.name))
    with _marked_live(tmp.name):
        yield tmp


def _aside_name(name: str) -> str:
    """The hidden name ``.<name>.<host>-<pid>.<stamp><random>.old`` under which the file
    ``name`` is kept while its replacement is renamed in.

    Host and process id tell a later upload whether the process that moved it aside is gone
    (its file then is a leftover, see :func:`restore_moved_aside`); the stamp (nanoseconds,
    fixed-width hex) orders several leftovers of one name, the newest first.
    """
    stamp = f"{time.time_ns():016x}{secrets.token_hex(2)}"
    return f".{name}.{this_host()}-{os.getpid()}.{stamp}.old"


def _left_aside(name: str) -> tuple[str, str] | None:
    """(the name it was moved aside from, its stamp) when ``name`` is an :func:`_aside_name`
    of this machine whose replacement no longer runs: its process is gone, or it is this
    process's and that replacement has ended (its connection dropped). None for any other
    name: another machine's, a running replacement's, someone else's file."""
    match = re.fullmatch(
        rf"\.(?P<name>.+)\.{re.escape(this_host())}-(?P<pid>\d+)\.(?P<stamp>[0-9a-f]{{20}})\.old",
        name,
    )
    if match is None:
        return None
    if not abandoned(int(match["pid"]), name, _live):
        return None
    return match["name"], match["stamp"]


#: The name under which replacements made before host and process were in the name (before
#: commit c6a3fb3) kept the file they replaced: ``.<name>.<12 hex digits>.old``.
_OLDER_ASIDE = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{12}\.old")
#: The temporary name uploads had before each had one of its own (before commit 8d1118c):
#: ``.<name>.part``; :data:`_PART` is today's (:func:`~stratoflow.files.partial_name`).
_OLDER_PART = re.compile(r"\.(?P<name>.+)\.part")
_PART = re.compile(r"\..+\..+-\d+\.[^.]+\.part")
#: The files of older names this process has reported (what, folder/name): once each.
_REPORTED: set[tuple[str, str]] = set()


def _report_older_names(names: Iterable[str], folder: PurePosixPath, what: str) -> None:
    """Warn, once per process, of each file left under a name older versions used.

    Such a name tells neither machine nor process, so nothing tells whether the upload or
    replacement that made it still runs (a process of an older version, here or on another
    machine): it is never removed nor put back automatically (that could take the file from
    under a running upload, or put an outdated file over a new one). The operator, who can
    tell, is told where it is and what to do.
    """
    for name in names:
        aside = _OLDER_ASIDE.fullmatch(name)
        part = None if aside or _PART.fullmatch(name) else _OLDER_PART.fullmatch(name)
        found = aside or part
        key = (what, f"{folder}/{name}")
        with _LIVE_LOCK:
            if found is None or key in _REPORTED:
                continue
            _REPORTED.add(key)
        target = folder / found["name"]
        if aside is not None:
            log.warning(
                "%s: %s looks like a copy of %s that an older stratoflow version moved aside "
                "while replacing it and did not remove or put back (killed, or its connection "
                "lost); its name tells no machine or process, so it is left alone: once no "
                "upload of %s runs, remove it, or rename it back if %s is missing",
                what,
                folder / name,
                target,
                found["name"],
                target,
            )
        else:
            log.warning(
                "%s: %s looks like the temporary file of an upload of %s by an older "
                "stratoflow version that did not finish (killed, or its connection lost); its "
                "name tells no machine or process, so it is left alone: once no upload of %s "
                "runs, remove it",
                what,
                folder / name,
                target,
                found["name"],
            )


def _in_use(names: Iterable[str], target: str) -> str | None:
    """A name among ``names`` (of ``target``'s folder) showing that an upload or a
    replacement of ``target`` may be at work now, or ``None``.

    That is its temporary file (:func:`upload_name`) or a file it moved aside
    (:func:`_aside_name`), made by a process of this machine that still runs (see
    :func:`~stratoflow.files.abandoned`) or by another machine (whether that process runs
    cannot be told from here), or a file of the older names ``.<name>.part`` and
    ``.<name>.<12 hex digits>.old``, which tell neither machine nor process.
    """
    own = re.escape(target)
    made = (
        re.compile(rf"\.{own}\.(?P<host>.+)-(?P<pid>\d+)\.[^.]+\.part"),
        re.compile(rf"\.{own}\.(?P<host>.+)-(?P<pid>\d+)\.[0-9a-f]{{20}}\.old"),
    )
    for name in names:
        older = _OLDER_ASIDE.fullmatch(name)
        if (older is not None and older["name"] == target) or name == f".{target}.part":
            return name
        for pattern in made:
            match = pattern.fullmatch(name)
            if match is not None and (
                match["host"] != this_host() or not abandoned(int(match["pid"]), name, _live)
            ):
                return name
    return None


def upload_leftovers(names: Iterable[str], target: str) -> tuple[str, ...]:
    """The names among ``names`` (of ``target``'s folder) that uploads of ``target`` use
    before the file is complete and in place: their temporary files (:func:`upload_name`,
    older ``.<name>.part``) and files moved aside for a replacement (:func:`_aside_name`,
    older ``.<name>.<12 hex digits>.old``), of any machine and any process, running or not.

    Either means an upload of ``target`` was at work and did not finish, or still is: what it
    delivered, if anything, cannot be told from the folder.
    """
    own = re.escape(target)
    patterns = (
        re.compile(rf"\.{own}\..+-\d+\.[^.]+\.part"),
        re.compile(rf"\.{own}\..+-\d+\.[0-9a-f]{{20}}\.old"),
        re.compile(rf"\.{own}\.part"),
        re.compile(rf"\.{own}\.[0-9a-f]{{12}}\.old"),
    )
    return tuple(sorted(n for n in names if any(p.fullmatch(n) for p in patterns)))


@dataclass(frozen=True)
class UploadTrace:
    """What the target's folder shows of an upload of ``name`` (:meth:`Connection.find_upload`).

    ``exists``: a file of that name is there; ``size`` its size (``None``: not told);
    ``sha256`` its checksum where the protocol gives one without a download (a local or
    mounted directory), else ``None``; ``leftovers``: the names of unfinished uploads of it
    (:func:`upload_leftovers`).

    Uploads are made atomic by a temporary name renamed into place once complete, so a file
    under ``name`` is always a whole upload, never a cut one.
    """

    name: str
    exists: bool
    size: int | None = None
    sha256: str | None = None
    leftovers: tuple[str, ...] = ()


def restore_moved_aside(
    listing: Callable[[], Iterable[str]],
    rename: Callable[[str, str], object],
    remove: Callable[[str], object],
    is_file: Callable[[str], bool],
    folder: PurePosixPath,
    *,
    errors: tuple[type[BaseException], ...],
    what: str,
) -> None:
    """Settle the files that replacements in ``folder`` (:func:`replace_keeping_old`) moved
    aside and did not get to remove or put back: their connection dropped, or their process
    was killed, in between. ``listing`` gives the names in ``folder``.

    Such a file stayed at the partner's forever under its hidden name, and when the new file
    had not been renamed in, the partner had no file of that name at all. Now, when a file
    of the name is there (the new one), the one moved aside is removed; when none is, it is
    renamed back (the newest, if several), so the partner has its file again before a new
    upload starts. Only this machine's aside names of replacements that no longer run are
    touched. Best effort: what fails is logged and left for a later upload.

    A file is never renamed back while an upload or a replacement of its name may be at
    work, here or on another machine (:func:`_in_use`: its temporary or moved-aside file is
    in the folder), and the folder is listed once more just before the rename: many FTP
    servers rename onto an existing file, so a new file that upload renamed in in between
    was replaced by the old one, and the partner got the outdated file as the latest. (FTP
    has no rename that refuses an existing name; SFTP's plain rename, used here, does.) An
    upload that starts after that last look and renames its file in before this rename is
    the one window left: a whole ``STOR`` against two commands. Files under the names older
    versions used (:data:`_OLDER_ASIDE`, :data:`_OLDER_PART`) are reported, never touched.
    """
    try:
        names = [PurePosixPath(n).name for n in listing()]
    except errors:
        return
    _report_older_names(names, folder, what)
    left = [(found, aside) for aside in names if (found := _left_aside(aside)) is not None]
    failed: set[str] = set()
    for (name, _), aside in sorted(left, key=lambda x: x[0][1], reverse=True):
        if name in failed:
            continue  # an older one must not go back where the newest could not
        dest, kept = folder / name, folder / aside
        try:
            if is_file(str(dest)):
                remove(str(kept))
                log.info("%s: removed %s, left by a replacement of %s", what, kept, dest)
            else:
                busy = _in_use(names, name) or _in_use(
                    (PurePosixPath(n).name for n in listing()), name
                )
                if busy is not None or is_file(str(dest)):
                    failed.add(name)
                    log.info(
                        "%s: %s, left by a replacement of %s, not put back: %s",
                        what,
                        kept,
                        dest,
                        f"an upload of it may be running ({busy})"
                        if busy
                        else "a new file of the name arrived meanwhile",
                    )
                    continue
                rename(str(kept), str(dest))
                log.warning(
                    "%s: %s was moved aside by a replacement that did not finish: put back from %s",
                    what,
                    dest,
                    kept,
                )
        except errors as exc:
            failed.add(name)
            log.warning(
                "%s: cannot settle %s, left by a replacement of %s (%s: %s)",
                what,
                kept,
                dest,
                type(exc).__name__,
                exc,
            )


def replace_keeping_old(
    rename: Callable[[str, str], object],
    remove: Callable[[str], object],
    is_file: Callable[[str], bool],
    tmp: PurePosixPath,
    dest: PurePosixPath,
    *,
    errors: tuple[type[BaseException], ...],
    fail: Callable[[BaseException, str], TransferError],
    what: str,
) -> None:
    """Rename the upload ``tmp`` onto ``dest`` where the server renames onto free names only.

    Such servers (SFTP without the posix-rename extension; FTP on IIS, or ProFTPD with its
    default ``AllowOverwrite off``) need the delivered file out of the way first. Deleting it
    first lost it whenever the rename then failed (quota, a refused name, a dropped
    connection): the partner had neither the old file nor the new one. Here the old file is
    renamed aside to a hidden name, the new one renamed in, and only then the old one
    removed; when the new one cannot be renamed in, the old one is renamed back and the
    rename's error (one of ``errors``) raised. If even that fails, the error, made by
    ``fail(exc, what)``, says under which name the old file is kept.

    Only a file is moved aside (``is_file``): a folder of that name is someone else's, and
    the upload fails as the rename did. What a dropped connection or a killed process leaves
    moved aside is settled by the next upload to the folder (:func:`restore_moved_aside`).
    """
    aside = dest.with_name(_aside_name(dest.name))
    with _marked_live(aside.name):
        _replace(rename, remove, is_file, tmp, dest, aside, errors=errors, fail=fail, what=what)


def _replace(
    rename: Callable[[str, str], object],
    remove: Callable[[str], object],
    is_file: Callable[[str], bool],
    tmp: PurePosixPath,
    dest: PurePosixPath,
    aside: PurePosixPath,
    *,
    errors: tuple[type[BaseException], ...],
    fail: Callable[[BaseException, str], TransferError],
    what: str,
) -> None:
    try:
        movable = is_file(str(dest))
    except errors:
        movable = False
    if movable:
        try:
            rename(str(dest), str(aside))
        except errors:
            movable = False
    if not movable:
        # No file of that name (nothing to keep: the rename now goes through), or one that
        # cannot be moved (the rename fails as the first attempt did).
        rename(str(tmp), str(dest))
        return
    try:
        rename(str(tmp), str(dest))
    except errors as exc:
        try:
            taken = is_file(str(dest))
        except errors:
            taken = False
        if taken:
            # Another upload of the name renamed its file in meanwhile (a server that renames
            # onto existing files: put back, the old file would replace the new one). This
            # upload failed; the file moved aside is superseded.
            with contextlib.suppress(*errors):
                remove(str(tmp))
            with contextlib.suppress(*errors):
                remove(str(aside))
            raise
        try:
            rename(str(aside), str(dest))
        except errors as back:
            with contextlib.suppress(*errors):
                remove(str(tmp))  # no half-delivered upload left beside it
            raise fail(
                exc,
                f"{what} (the file it was to replace could not be put back either, "
                f"{type(back).__name__}: {back}; it is kept as {aside})",
            ) from exc
        raise
    try:
        remove(str(aside))
    except errors as exc:
        log.warning(
            "%s: replaced %s, but the previous file could not be removed and is kept as %s "
            "(%s: %s)",
            what,
            dest,
            aside,
            type(exc).__name__,
            exc,
        )


class Paced:
    """A sink that gives up on a download the server sends too slowly.

    A protocol's timeout bounds each wait for data, so a server that trickles a few bytes
    just before every timeout (overloaded, or hostile) held a download, and the staging
    area's lock with it, for hours. As curl's ``--speed-limit``/``--speed-time``: fewer than
    ``min_speed`` bytes per second over ``window`` seconds, counted from the first byte, is a
    :class:`TransientTransferError` (retried; a resumable download goes on where it was).
    """

    def __init__(self, sink: Sink, min_speed: float, window: float, what: str) -> None:
        self.sink, self.min_speed, self.window, self.what = sink, min_speed, window, what
        self._since: float | None = None
        self._bytes = 0

    def write(self, data: bytes, /) -> int:
        now = time.monotonic()
        if self._since is None:
            self._since = now
        self._bytes += len(data)
        elapsed = now - self._since
        if elapsed >= self.window:
            if self._bytes < self.min_speed * elapsed:
                raise TransientTransferError(
                    f"{self.what}: the server sends too slowly: {self._bytes} bytes in "
                    f"{elapsed:.0f} s (min_speed is {self.min_speed:g} bytes/s)"
                )
            self._since, self._bytes = now, 0
        return self.sink.write(data)

    def restart(self) -> None:  # only called when wrapping a ResumedSink (get_from)
        cast(ResumedSink, self.sink).restart()

    def served_as(self, name: str, /) -> None:
        if isinstance(self.sink, ServedSink):
            self.sink.served_as(name)

    def validated_by(self, validator: str, /) -> None:
        if isinstance(self.sink, ServedSink):
            self.sink.validated_by(validator)

    @property
    def validator(self) -> str | None:
        return getattr(self.sink, "validator", None)


@dataclass(frozen=True)
class RemoteItem:
    """One file at the remote side.

    ``identity`` is stable across runs (relative path, portal id); ``name`` the file name to stage
    it under; ``version`` a cheap change marker (size+mtime, ETag) so unchanged items are not
    downloaded at all; ``sha256`` a checksum announced by the remote side, verified on arrival;
    ``location`` where to download from when it differs from ``identity`` (a URL); ``mtime``
    when the file was last modified (POSIX seconds) when the listing tells (see :class:`Settle`).
    """

    identity: str
    name: str
    size: int | None = None
    version: str | None = None
    sha256: str | None = None
    location: str | None = None
    mtime: float | None = None


@dataclass(frozen=True)
class Settle:
    """When a file a directory lists counts as complete, not still being written.

    A provider's directory (local, SFTP, FTP) lists a file while the provider still writes it;
    fetched then, it was staged incomplete, and the next run saw the rest as a new version.
    A new file is taken only when its size and modification time stayed the same for
    ``interval`` seconds (it is listed again after that wait, once per run) and its
    modification time is at least ``min_age`` seconds old; a file that changed between the
    listing and the end of its download is not staged either. Such files are left, quietly,
    for a later run. What is compared is the connection's :meth:`Connection.observe`.

    The age is measured by the provider's own clock where the protocol tells its time: an
    HTTP portal's ``Date`` header, against the ``Last-Modified`` (or listed modification
    time) of the same server, so a portal whose clock is off by an hour is no hour younger
    or older. FTP (``MLSD``/``MDTM`` give the file's time, no command gives the server's)
    and SFTP (file times only) tell no time of the server: there the age is by this
    machine's clock, so mind a provider whose clock is behind (keep the clocks in NTP sync,
    or add the skew to ``min_age``).
    """

    interval: float = 0.0
    min_age: float = 0.0

    @classmethod
    def of(cls, interval: float, min_age: float) -> Settle | None:
        """The guard for these options; ``None`` when both are 0 (off)."""
        return cls(interval, min_age) if interval or min_age else None


@dataclass(frozen=True)
class Observation:
    """What the settle guard compares of one file at two moments, and how old it is.

    ``marker``: ``(what, value)`` pairs of everything that changes while a file is written
    (size, modification time, version marker, an HTTP ``ETag``); equal markers at both
    moments mean it stayed the same.
    ``age``: seconds since it was last modified, by the provider's clock where known (see
    :class:`Settle`); ``None`` when nothing tells.
    ``clock``: the provider's time of the look (POSIX seconds: an HTTP ``Date``), where it
    tells one; not compared. What tells a file modified between two looks from a modification
    time that follows the time of each answer (see the HTTP connection's ``changes``).
    """

    marker: tuple[tuple[str, object], ...]
    age: float | None = None
    clock: float | None = None


class _Changed(TransferError):
    """A file changed while it was downloaded (still being written): left for a later run."""


class Connection(ABC):
    """An open session with a remote system. Close it (or use ``with``) when done."""

    #: Where this connection points (URL without query, ``host:port/dir``); never a secret.
    where: str = ""

    @abstractmethod
    def list(self) -> Iterator[RemoteItem]:
        """The items available at the remote side."""

    @abstractmethod
    def get(self, item: RemoteItem, sink: Sink) -> None:
        """Write the item's bytes to ``sink``."""

    def version_of(self, item: RemoteItem) -> str | None:
        """A version marker for an item whose listing gave none (``None``: not known).

        Asked before downloading such an item, so that an unchanged file is not downloaded
        again on every run only to find the same bytes. The default knows none.
        """
        return None

    def get_from(self, item: RemoteItem, sink: ResumedSink, offset: int) -> None:
        """Write the item's bytes from ``offset`` on: ``sink`` holds the first ``offset``.

        For a download cut short and resumed. The default starts over (``sink.restart()``,
        then :meth:`get`); a protocol that can start mid-file overrides it, and restarts the
        sink itself when the server sends the whole file after all.
        """
        sink.restart()
        self.get(item, sink)

    @abstractmethod
    def put(self, source: Path, name: str) -> str:
        """Upload ``source`` as ``name``; return the identity of the remote item."""

    def find_upload(self, name: str) -> UploadTrace | None:
        """What the target's folder shows of an upload of ``name`` (as :meth:`put` named
        it): the file, its size, and unfinished uploads of it; ``None`` (the default) when the
        target cannot be looked at (an endpoint that takes what it is sent).

        Asked about an upload whose uploader died (or was given up) before it heard the
        answer: whether it arrived is then told by the target itself.
        """
        return None

    def stat(self, identity: str) -> RemoteItem:
        """One item by identity, as :meth:`list` shows it now (default: a listing scan);
        :class:`GoneError` when it is not there."""
        for item in self.list():
            if item.identity == identity:
                return item
        raise GoneError(f"{self.where}: no item {identity!r}")

    def observe(self, item: RemoteItem) -> Observation:
        """What the settle guard compares of ``item`` (as listed) and its age.

        The default: its listed size, version marker and modification time, its age by this
        machine's clock (the listing tells no time of the provider). A protocol whose server
        tells more per file (HTTP: a ``HEAD`` with ``ETag``, ``Last-Modified`` and the
        server's ``Date``) overrides it.
        """
        age = None if item.mtime is None else time.time() - item.mtime
        return Observation(
            (("size", item.size), ("version", item.version), ("modified", item.mtime)), age
        )

    def observe_again(self, item: RemoteItem) -> Observation:
        """:meth:`observe` of ``item`` as the provider shows it now (after its download);
        :class:`GoneError` when it is not there. The default: :meth:`stat` of it."""
        return self.observe(self.stat(item.identity))

    def observe_listed(self, item: RemoteItem) -> Observation | None:
        """What the settle guard compares of ``item`` from its listing alone, when the listing
        tells enough; ``None`` (the default): ask :meth:`observe`.

        For a protocol whose :meth:`observe` costs a request per file (HTTP: a ``HEAD``)
        and whose listing may tell what changes while a file is written (a listed size and
        modification time): while the guard waits, the two listings are compared with no
        request per file, and one :meth:`observe` of each file taken is still made, the
        state its :meth:`observe_again` after the download is compared with.
        """
        return None

    def changes(self, item: RemoteItem, before: Observation, now: Observation) -> str | None:
        """What changed of ``item`` from observation ``before`` to ``now``, for a log line
        (``size 1000 -> 3000``); ``None`` when it stayed the same.

        The default: any difference of their markers. A protocol whose markers hold a part
        that may change by itself overrides it (HTTP: a portal that makes a new ``ETag`` for
        every answer), and may ask the provider to tell (then it raises as :meth:`observe`
        does)."""
        if before.marker == now.marker:
            return None
        return _difference(before.marker, now.marker)

    def observe_many(self, items: Sequence[RemoteItem]) -> dict[str, Observation]:
        """:meth:`observe` of several items, by identity, as far as the connection can ask
        about them together (HTTP: ``HEAD`` requests in parallel). An item left out (a
        failure, a provider that asks to slow down) is observed with :meth:`observe`, one by
        one and retried. The default: none (a connection that does one thing at a time)."""
        return {}

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release the connection."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _difference(before: tuple[tuple[str, object], ...], now: tuple[tuple[str, object], ...]) -> str:
    """What changed between two observation markers, for a log line
    (``size 1000 -> 3000, etag "a" -> "b"``)."""
    old, new = dict(before), dict(now)
    changed = [
        f"{key} {old.get(key)} -> {new.get(key)}"
        for key in dict.fromkeys([*old, *new])
        if old.get(key) != new.get(key)
    ]
    return ", ".join(changed)


class TransferType(ABC):
    """Base class of transfer types (protocols).

    Subclasses set ``name`` and ``protocol`` (the credential shape they need: ``http``,
    ``sftp``, ``ftp``, ``local``), take explicit keyword options in ``__init__``, and implement
    :meth:`options`, :attr:`where` and :meth:`connect`.
    """

    name: ClassVar[str] = ""
    protocol: ClassVar[str] = ""
    #: Whether its connections can tell what an upload left at the target
    #: (:meth:`Connection.find_upload`): a folder that can be listed can.
    finds_uploads: ClassVar[bool] = False

    def __new__(cls, *args: Any, **options: Any) -> Self:
        """Refuse ``user:password@`` in an address option before any ``__init__`` runs.

        Here rather than in each type's ``__init__``: a type built in Python, from a config
        dict or from a job definition passes through this, and so does a plugin's type that
        does not check its own options. The address options are ``url``, ``host`` and names
        ending in ``_url``, ``_uri`` or ``_host``; see
        :func:`~stratoflow.transfer.config.no_credentials`.
        """
        for key, value in options.items():
            if isinstance(value, str) and _ADDRESS.fullmatch(key):
                no_credentials(value, key, f"transfer {cls.name!r}")
        return super().__new__(cls)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Build from a plain dict (``type`` key optional; must match when present)."""
        options = dict(config)
        kind = options.pop("type", cls.name)
        if kind != cls.name:
            raise ConfigError(f"transfer config for {kind!r} given to {cls.name!r}")
        return build(cls, options, what=f"transfer type {cls.name!r}")

    def to_config(self) -> dict[str, Any]:
        """A plain dict that :meth:`from_config` accepts."""
        return {"type": self.name, **{k: v for k, v in self.options().items() if v is not None}}

    @abstractmethod
    def options(self) -> dict[str, Any]:
        """The keyword options this type was built with."""

    @property
    @abstractmethod
    def where(self) -> str:
        """Human-readable location for messages (URL without query, host:port/path)."""

    @abstractmethod
    def connect(self, auth: ConnectionHandler) -> Connection:
        """Open a connection authenticated by ``auth``."""

    def pace(self) -> tuple[float, float] | None:
        """(bytes per second, over how many seconds) below which a download is given up as
        too slow (see :class:`Paced`); ``None``: no floor (the default)."""
        return None

    def settle(self) -> Settle | None:
        """When a listed file counts as complete (see :class:`Settle`); ``None``: as soon as
        it is listed (the default: a portal publishes complete files)."""
        return None

    @staticmethod
    def _version_of(conn: Callable[[], Connection], item: RemoteItem) -> str | None:
        try:
            return conn().version_of(item)
        except TransferError:  # the download says what is wrong, if anything
            return None

    def _confirm_gone(
        self,
        conn: Callable[[], Connection],
        item: RemoteItem,
        exc: GoneError,
        policy: RetryPolicy,
        drop: Callable[[], None],
    ) -> TransferError:
        """What a download answered "not found" means, from a fresh listing.

        Not listed any more: the provider deleted it after it was listed, a
        :class:`GoneError` saying "gone at provider" (downloading again cannot help). Still
        listed: a broken link or a file we may not read (FTP says 550 for both), a plain
        :class:`TransferError`. A listing that keeps failing transiently decides nothing: a
        :class:`TransientTransferError`, so the item is tried again later.
        """
        drop()  # the connection may be in any state after a failure
        try:
            listed = policy.call(
                lambda: any(i.identity == item.identity for i in conn().list()),
                what=f"list {self.where}",
                on_retry=drop,
            )
        except TransientTransferError as failure:
            return TransientTransferError(f"{exc}; a fresh listing to confirm it failed: {failure}")
        if listed:
            return TransferError(f"{exc} (the provider still lists it)")
        return GoneError(f"{item.identity}: gone at provider: deleted after it was listed ({exc})")

    def _settled(
        self,
        conn: Callable[[], Connection],
        staging: StagingArea,
        items: list[RemoteItem],
        settle: Settle,
        policy: RetryPolicy,
        drop: Callable[[], None],
    ) -> tuple[list[RemoteItem], dict[str, tuple[RemoteItem, Observation]]]:
        """``items`` without the new files that may still be written (see :class:`Settle`),
        and for each new file taken the item as listed with its first observation (what
        :meth:`_unchanged` compares the file with once it is downloaded).

        Only files not staged yet are looked at, so a run that finds nothing new does not
        wait. The files younger than ``min_age`` are left out; then, after waiting until
        ``interval`` seconds have passed since they were observed, the directory is listed
        again and a file whose observation (size, version marker, modification time) changed
        (:meth:`Connection.changes`), or that is gone, is left out too. The rest are
        returned as listed.

        Observations that cost a request per file (HTTP ``HEAD``) are made together where the
        connection can (:meth:`Connection.observe_many`), and not at all while the guard
        waits when the listing tells enough (:meth:`Connection.observe_listed`): then each
        file taken is observed once after the wait, the state compared after its download.
        """
        new = [
            item
            for item in items
            if not staging.known(item.identity, version=item.version, sha256=item.sha256)
        ]

        def observe(item: RemoteItem) -> Observation:
            return policy.call(
                lambda: conn().observe(item),
                what=f"observe {self.where}: {item.identity}",
                on_retry=drop,
            )

        def changes(item: RemoteItem, before: Observation, now: Observation) -> str | None:
            return policy.call(
                lambda: conn().changes(item, before, now),
                what=f"observe {self.where}: {item.identity}",
                on_retry=drop,
            )

        def observe_all(some: list[RemoteItem]) -> dict[str, Observation]:
            """:meth:`Connection.observe` of each of ``some``: together where the connection
            can (a first run may find thousands of new files), the rest one by one."""
            done = conn().observe_many(some) if len(some) > 1 else {}
            return {
                item.identity: done[item.identity] if item.identity in done else observe(item)
                for item in some
            }

        # What the listing tells, where it tells enough (no request per file); else observed
        listed = {item.identity: conn().observe_listed(item) for item in new}
        asked = observe_all([item for item in new if listed[item.identity] is None])
        seen: dict[str, tuple[RemoteItem, Observation]] = {}
        for item in new:
            told = listed[item.identity]
            seen[item.identity] = (item, told if told is not None else asked[item.identity])
        # the wait counts from the end of the observations (the listing, and per-file
        # requests such as HEAD): a file seen late in a long listing waits as long too
        observed_at = time.monotonic()
        later: set[str] = set()
        if settle.min_age:
            for item in new:
                age = seen[item.identity][1].age
                if age is not None and age < settle.min_age:
                    log.info(
                        "%s: %s was modified %.0f s ago, less than min_age %g s: "
                        "left for a later run",
                        self.where,
                        item.identity,
                        age,
                        settle.min_age,
                    )
                    later.add(item.identity)
        waiting = [item for item in new if item.identity not in later]
        if settle.interval and waiting:
            time.sleep(max(0.0, observed_at + settle.interval - time.monotonic()))
            again = {
                item.identity: item
                for item in policy.call(
                    lambda: list(conn().list()), what=f"list {self.where}", on_retry=drop
                )
            }
            asked_again = observe_all(
                [
                    again[item.identity]
                    for item in waiting
                    if item.identity in again and listed[item.identity] is None
                ]
            )
            for item in waiting:
                now_listed = again.get(item.identity)
                if now_listed is None:
                    why = "is no longer listed"
                else:
                    before = seen[item.identity][1]
                    if item.identity in asked_again:
                        now = asked_again[item.identity]
                    else:  # the listing told enough before: it does now, or that changed
                        now = conn().observe_listed(now_listed) or observe(now_listed)
                    changed = changes(now_listed, before, now)
                    if changed is None:
                        continue
                    why = f"changed within {settle.interval:g} s ({changed})"
                log.info(
                    "%s: %s %s: still being written? left for a later run",
                    self.where,
                    item.identity,
                    why,
                )
                later.add(item.identity)
        kept = [item for item in items if item.identity not in later]
        taken = {k: v for k, v in seen.items() if k not in later}
        # A file judged by its listings is observed once now: what it is compared with
        # once downloaded (see _unchanged), as the provider tells it (HTTP: its HEAD).
        firsts = observe_all(
            [item for item, _ in taken.values() if listed[item.identity] is not None]
        )
        for identity, first in firsts.items():
            taken[identity] = (taken[identity][0], first)
        return kept, taken

    def _unchanged(
        self,
        conn: Callable[[], Connection],
        listed: RemoteItem,
        first: Observation,
        policy: RetryPolicy,
        drop: Callable[[], None],
    ) -> None:
        """Raise :class:`_Changed` when the file ``listed`` changed since it was first
        observed (asked once its bytes are in, before they are staged): the file grew or was
        rewritten while it was downloaded, so the bytes may be of no complete version. One
        deleted since is not changed: its bytes are what was listed. A look that fails
        transiently (a portal asking to slow down) is retried by itself: the bytes are in,
        and downloading them again would cost the portal more."""
        try:
            now = policy.call(
                lambda: conn().observe_again(listed),
                what=f"observe {self.where}: {listed.identity}",
                on_retry=drop,
            )
            changed = policy.call(
                lambda: conn().changes(listed, first, now),
                what=f"observe {self.where}: {listed.identity}",
                on_retry=drop,
            )
        except GoneError:
            return
        if changed is not None:
            raise _Changed(
                f"{self.where}: {listed.identity}: changed while it was downloaded "
                f"({changed}); not staged: still being written? taken by a later run"
            )

    def fetch_new(
        self,
        auth: ConnectionHandler,
        staging: StagingArea,
        *,
        retry: RetryPolicy | None = None,
        provider: str = "",
        on_failure: Callable[[RemoteItem, TransferError], None] | None = None,
    ) -> list[StagedFile]:
        """Fetch every item not yet in ``staging``; return the newly staged files.

        Each step is retried on transient errors with a fresh connection. Without
        ``on_failure`` an item whose download keeps failing stops the run with the error;
        items staged before it stay staged and are not fetched again next time. With it, the
        failure of one item (a 404, a checksum mismatch, a server error that outlasts the
        retries) is handed to ``on_failure`` and the other items are still fetched: one bad
        file must not hold back a day's data. Refused credentials and a staging area that
        cannot take files (disk full) always stop the run (every item would fail alike);
        after an item gave up on transient errors the next items get one attempt each until
        one succeeds, so a server that went down is not hammered. An item the provider deleted
        between listing and download (its "not found" confirmed by a fresh listing) is a
        :class:`GoneError` for ``on_failure``; without it, it is skipped with a warning. What a
        resumable download given up after transient failures received stays in the staging
        area with its checkpoint, and the next run resumes it. A new file the provider may
        still be writing (see :meth:`settle`) is left for a later run, no failure.
        """
        policy = retry or RetryPolicy(attempts=1)
        once = RetryPolicy(attempts=1)
        conn: Connection | None = None

        def connection() -> Connection:
            nonlocal conn
            if conn is None:
                conn = self.connect(auth)
            return conn

        def drop() -> None:
            nonlocal conn
            if conn is not None:
                conn.close()
                conn = None

        pace = self.pace()
        settle = self.settle()
        #: identity -> (the item as listed, its first observation): the new files the
        #: settle guard let through, checked again once downloaded
        observed: dict[str, tuple[RemoteItem, Observation]] = {}

        def paced(sink: Sink, item: RemoteItem) -> Sink:
            if pace is None:
                return sink
            return Paced(sink, *pace, what=f"{self.where}: get {item.identity}")

        def paced_resume(sink: ResumedSink, item: RemoteItem) -> ResumedSink:
            if pace is None:
                return sink
            return Paced(sink, *pace, what=f"{self.where}: get {item.identity}")

        def fetch(item: RemoteItem) -> StagedFile | None:
            return staging.receive(
                identity=item.identity,
                name=item.name,
                write=lambda sink: connection().get(item, paced(sink, item)),
                size=item.size,
                sha256=item.sha256,
                version=item.version,
                source=f"{self.where}: {item.identity}",
                provider=provider,
                resume=lambda sink, offset: connection().get_from(
                    item, paced_resume(sink, item), offset
                ),
                confirm=None
                if item.identity not in observed
                else partial(self._unchanged, connection, *observed[item.identity], policy, drop),
            )

        try:
            items = policy.call(
                lambda: list(connection().list()), what=f"list {self.where}", on_retry=drop
            )
            staging.keep_partials_of([item.identity for item in items])
            if settle is not None:
                items, observed = self._settled(connection, staging, items, settle, policy, drop)
            staged: list[StagedFile] = []
            degraded = False
            seen: set[str] = set()
            for item in items:
                if item.identity in seen:  # listed twice (pages that overlap): fetched once
                    continue
                seen.add(item.identity)
                if item.version is None and item.sha256 is None:
                    item = replace(item, version=self._version_of(connection, item))
                if staging.known(item.identity, version=item.version, sha256=item.sha256):
                    continue
                try:
                    result = (once if degraded else policy).call(
                        partial(fetch, item),
                        what=f"get {self.where}: {item.identity}",
                        on_retry=drop,
                    )
                except _Changed as changed:
                    log.info("%s", changed)
                    continue
                except (AuthError, StagingError):
                    staging.forget_partial(item.identity, version=item.version, sha256=item.sha256)
                    raise  # every item would fail alike
                except TransferError as failure:
                    if not isinstance(failure, TransientTransferError):
                        # A definite answer (gone, refused): the kept bytes are of no more use.
                        # After transient failures they stay, with their checkpoint, and the
                        # next run resumes after them (a large file over a link that keeps
                        # dropping would otherwise start from zero every run).
                        staging.forget_partial(
                            item.identity, version=item.version, sha256=item.sha256
                        )
                    exc = failure
                    if isinstance(failure, GoneError):
                        exc = self._confirm_gone(connection, item, failure, policy, drop)
                        if isinstance(exc, GoneError) and on_failure is None:
                            log.warning("%s: %s", self.where, exc)
                            continue
                    if on_failure is None:
                        if exc is failure:
                            raise
                        raise exc from failure
                    if exc is not failure:
                        exc.__cause__ = failure  # what the server answered, for the caller
                    degraded = isinstance(exc, TransientTransferError)
                    drop()  # the connection may be in any state after a failure
                    on_failure(item, exc)
                    continue
                degraded = False
                if result is not None:
                    staged.append(result)
            return staged
        finally:
            drop()
