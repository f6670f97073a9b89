"""The staging area: where fetched files land, atomically, with their identity and checksum.

A download is written to a temporary file under ``<root>/.partial/`` while its size and SHA-256
are computed on the fly. Only when the transfer completed and matches what the remote side
announced (size, checksum when given) is it renamed into ``<root>/<sha256[:16]>/<name>`` (a
rename within one file system is atomic). A failed or interrupted transfer leaves nothing but
possibly a temp file in ``.partial/``, which the next run removes; a reader is therefore never
handed a partial file.

A resumable download (the protocol can continue mid-file) is the exception: it is written to
``.partial/get-resume-<key>`` and every few MiB a checkpoint beside it
(``get-resume-<key>.state``) records the item's identity and version marker, the size and
SHA-256 of the bytes written so far, and what the server said of them (file name, ETag or
Last-Modified for ``If-Range``). A process that is killed (or interrupted) mid-download, or a
run that gives up on the file after its retries (the link kept dropping), leaves both behind,
and the next run continues from the checkpoint when the provider still offers the same
version, after checking that the kept bytes still have the checkpoint's digest (a torn write
after a crash is caught there and the download starts over). When the version marker changed,
the kept bytes are discarded; when the provider no longer offers the item, or answers that it
is gone, too.

The manifest records every staged file: identity at the provider, version marker (mtime+size,
ETag), size and SHA-256. An item whose identity and version (or announced checksum) are
recorded is not fetched again; a downloaded file whose identity and checksum are recorded is
discarded; a changed remote file gets a new entry: a new version.

The manifest is a snapshot (``<root>/manifest.json``) plus a journal (``<root>/manifest.journal``,
one JSON record per line) that each arriving file appends to. Rewriting the whole manifest per
file made fetching n files cost O(n^2) bytes written (10 000 small files: gigabytes); appending
costs one line per file, and the journal is folded into the snapshot when the area is opened or
when the journal has grown as long as the snapshot (so the total stays linear). Readers take
the journal first, then the snapshot: a fold in between moves records into the snapshot, which
is read after, so no record is missed; a record read twice is the same record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from stratoflow.errors import StagingError, TransferError, TransientTransferError

__all__ = [
    "JOURNAL",
    "MANIFEST",
    "ResumedSink",
    "ServedSink",
    "Sink",
    "StagedFile",
    "StagingArea",
    "other_bytes",
    "read_manifest",
    "write_verified",
]

log = logging.getLogger(__name__)

PARTIAL = ".partial"
RESUMABLE = "get-resume-"
#: Bytes between two checkpoints of a resumable download (what a crash can cost at most).
CHECKPOINT = 1 << 20
MANIFEST = "manifest.json"
JOURNAL = "manifest.journal"


class Sink(Protocol):
    """Where a transfer type writes downloaded bytes."""

    def write(self, data: bytes, /) -> int: ...


@runtime_checkable
class ServedSink(Sink, Protocol):
    """A sink that takes what the server says about the file it sends.

    Its name (HTTP ``Content-Disposition``): the staged file is named so when the listing's
    name tells no format (``/download?id=123``); it is sanitised where it is used. Its
    validator (a strong ETag or Last-Modified): kept with the bytes of a resumable download,
    so that another attempt or run can ask for the rest of *that* version (``If-Range``).
    """

    def served_as(self, name: str, /) -> None: ...

    def validated_by(self, validator: str, /) -> None: ...


class ResumedSink(Sink, Protocol):
    """A sink that already holds the first bytes of a file (a download being resumed)."""

    @property
    def validator(self) -> str | None:
        """The validator the server gave for the bytes held (see :class:`ServedSink`)."""

    def restart(self) -> None:
        """Drop what the sink holds: the server sends the file from its start after all."""


@dataclass(frozen=True)
class StagedFile:
    """A complete file in the staging area and where it came from."""

    path: Path
    identity: str
    name: str
    size: int
    sha256: str
    version: str | None
    fetched_at: str
    source: str
    provider: str = ""

    def to_record(self, root: Path) -> dict[str, Any]:
        record = asdict(self)
        record["path"] = self.path.relative_to(root).as_posix()
        return record

    @classmethod
    def from_record(cls, root: Path, record: dict[str, Any]) -> StagedFile:
        return cls(**{**record, "path": root / record["path"]})


class _HashingFile:
    """Writes to a file while counting bytes and hashing them.

    A failed local write (disk full) is a :class:`StagingError`, not an ``OSError``: the
    protocol code around the sink treats ``OSError`` as a network failure worth retrying.
    """

    def __init__(
        self,
        fh: Any,
        folder: Path,
        checkpoint: Callable[[int, str, str | None, str | None], None] | None = None,
    ) -> None:
        self._fh, self._folder = fh, folder
        self.size = 0
        self.digest = hashlib.sha256()
        self._checkpoint = checkpoint
        self._next_checkpoint = CHECKPOINT
        #: the file name and the validator the server gave (see :class:`ServedSink`)
        self.served: str | None = None
        self.validator: str | None = None

    def served_as(self, name: str, /) -> None:
        self.served = name

    def validated_by(self, validator: str, /) -> None:
        self.validator = validator

    def save(self) -> None:
        """Record (size, SHA-256) of what the file holds, for a later process to resume."""
        if self._checkpoint is None:
            return
        try:
            self._fh.flush()  # the checkpoint must never claim bytes still in our buffer
            self._checkpoint(self.size, self.digest.hexdigest(), self.served, self.validator)
        except OSError as exc:
            raise _local_failure(self._folder, exc) from exc
        self._next_checkpoint = self.size + CHECKPOINT

    def restart(self) -> None:
        try:
            self._fh.seek(0)
            self._fh.truncate()
        except OSError as exc:
            raise _local_failure(self._folder, exc) from exc
        self.size = 0
        self.digest = hashlib.sha256()
        self.validator = None  # what comes next is whatever version the server has now
        self._next_checkpoint = CHECKPOINT

    def take_over(self, fh: Any, limit: int) -> None:
        """Count and hash the first ``limit`` bytes ``fh`` (open for update) holds; drop the
        rest (written after the last checkpoint) and append after them."""
        fh.seek(0)
        while self.size < limit and (block := fh.read(min(1 << 20, limit - self.size))):
            self.size += len(block)
            self.digest.update(block)
        fh.truncate()
        self._next_checkpoint = self.size + CHECKPOINT

    def write(self, data: bytes, /) -> int:
        try:
            self._fh.write(data)
        except OSError as exc:
            raise _local_failure(self._folder, exc) from exc
        self.size += len(data)
        self.digest.update(data)
        if self._checkpoint is not None and self.size >= self._next_checkpoint:
            self.save()
        return len(data)


def other_bytes(source: str, served: str, imported: str) -> TransferError:
    """The error for a provider that now serves other content than was imported."""
    return TransferError(
        f"{source}: the provider now serves other bytes (SHA-256 {served[:16]}..., "
        f"imported {imported[:16]}...)"
    )


def write_verified(path: Path, write: Callable[[Sink], None], *, sha256: str, source: str) -> None:
    """Write a download to ``path`` only if its bytes have SHA-256 ``sha256``; else leave
    ``path`` as it was and raise :class:`~stratoflow.errors.TransferError`.

    For putting back a staged copy that was deleted (re-processing needs the exact bytes that
    were imported): the download goes to a temporary file beside ``path``, is synced, checked
    and only then renamed into place, so a failed or different download leaves nothing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _download(_new_file(path.parent, ".refetch-"), write) as (tmp, _, digest, _):
        if digest != sha256.lower():
            raise other_bytes(source, digest, sha256)
        os.replace(tmp, path)


def _new_file(folder: Path, prefix: str) -> Path:
    """A new empty file in ``folder`` with a unique name starting with ``prefix``."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=prefix)
        os.close(fd)
    except OSError as exc:
        raise _local_failure(folder, exc) from exc
    return Path(name)


@contextlib.contextmanager
def _download(
    path: Path,
    write: Callable[[Sink], None],
    resume: Callable[[ResumedSink, int], None] | None = None,
    state: _ResumeState | None = None,
) -> Iterator[tuple[Path, int, str, str | None]]:
    """``write(sink)`` into ``path``, synced; yields (path, size, SHA-256, the file name the
    server gave or ``None``).

    With ``resume``, ``path`` may hold the first bytes of the file (an earlier attempt was
    cut): ``resume(sink, offset)`` fetches the rest. Which bytes count is ``state``'s
    checkpoint: the bytes after it are dropped, and when the bytes before it no longer have its
    digest the download starts over. When the transfer fails transiently or the process is
    interrupted, ``path`` keeps what arrived and ``state`` records it, for the next attempt or
    run. Otherwise ``path`` (and ``state``) are removed on the way out unless the caller moved
    ``path`` away (renamed into place). Local write failures, including those a full disk
    shows only at flush or close, are :class:`StagingError`.
    """
    folder = path.parent
    keep = False
    try:
        try:
            fh = path.open("r+b") if path.exists() else path.open("w+b")
        except OSError as exc:
            raise _local_failure(folder, exc) from exc
        sink = _HashingFile(fh, folder, None if state is None else state.save)
        try:
            try:
                if state is not None and state.kept is not None:
                    sink.take_over(fh, state.kept[0])
                    sink.served, sink.validator = state.served, state.validator
                    if (sink.size, sink.digest.hexdigest()) != state.kept:
                        log.warning(
                            "%s: kept bytes changed since the checkpoint; starting over", path
                        )
                        sink.restart()
                else:
                    fh.truncate(0)
            except OSError as exc:
                raise _local_failure(folder, exc) from exc
            if sink.size and resume is not None:
                resume(sink, sink.size)
            else:
                write(sink)
            try:
                fh.flush()  # a full disk may show only now
                os.fsync(fh.fileno())
            except OSError as exc:
                raise _local_failure(folder, exc) from exc
        except BaseException as exc:
            # Kept for a later attempt: what a transient failure or an interruption (Ctrl-C,
            # SIGTERM) cut; never what a definite failure (404, disk full) left.
            interrupted = isinstance(exc, TransientTransferError) or not isinstance(exc, Exception)
            keep = state is not None and resume is not None and interrupted and sink.size > 0
            if keep:
                try:
                    sink.save()
                except StagingError:
                    keep = False
            raise
        finally:
            try:
                fh.close()
            except OSError as exc:  # what a failed write left in the buffer
                keep = False
                raise _local_failure(folder, exc) from exc
        yield path, sink.size, sink.digest.hexdigest(), sink.served
    finally:
        if not keep:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            if state is not None:
                state.drop()


class _ResumeState:
    """The checkpoint of a resumable download: ``<partial>.state``, a small JSON record.

    ``kept`` is (size, SHA-256) of the first bytes the partial file holds for this version of
    the item, or ``None`` when there is nothing to resume (no checkpoint, another identity, or
    the provider's version marker or checksum changed: then the old bytes are dropped).
    """

    def __init__(self, path: Path, identity: str, version: str | None, sha256: str | None):
        self.path = path.with_name(path.name + ".state")
        self.marker = {"identity": identity, "version": version, "sha256": sha256}
        self.kept: tuple[int, str] | None = None
        self.served: str | None = None
        self.validator: str | None = None
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
            if {k: record.get(k) for k in self.marker} == self.marker:
                self.kept = (int(record["size"]), str(record["prefix_sha256"]))
                served, validator = record.get("served"), record.get("validator")
                self.served = served if isinstance(served, str) else None
                self.validator = validator if isinstance(validator, str) else None
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            log.warning("%s: unreadable resume checkpoint; the download starts over", self.path)
        if self.kept is None:
            path.unlink(missing_ok=True)
            self.drop()

    def save(self, size: int, digest: str, served: str | None, validator: str | None) -> None:
        record = {
            **self.marker,
            "size": size,
            "prefix_sha256": digest,
            "served": served,
            "validator": validator,
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, self.path)  # a reader sees the old checkpoint or the new, never half

    def drop(self) -> None:
        self.path.unlink(missing_ok=True)


def _local_failure(folder: Path, exc: OSError) -> StagingError:
    return StagingError(
        f"staging area {folder.parent if folder.name == PARTIAL else folder}: cannot write: "
        f"{exc.strerror or exc} (a local problem: free space or fix permissions there)"
    )


#: Longest file name in the staging area (file systems allow 255 bytes; a hostile or odd
#: name must not make the write fail as if the disk were the problem)
_MAX_NAME = 120


def _clean_name(name: str) -> str:
    """``name`` made safe to create in a staging folder, or ``""`` when nothing is left.

    Only the last path component, only ASCII letters, digits and ``._+-`` (so no separator,
    control character or shell surprise), no leading dot (no ``..``, no hidden file), and at
    most :data:`_MAX_NAME` characters, keeping a short extension (the reader goes by it).
    """
    base = re.sub(r"[^A-Za-z0-9._+-]", "_", name.replace("\\", "/").rsplit("/", 1)[-1])
    base = base.lstrip(".")
    if len(base) > _MAX_NAME:
        stem, dot, suffix = base.rpartition(".")
        keep = f"{dot}{suffix}" if dot and stem and len(suffix) <= 16 else ""
        base = base[: _MAX_NAME - len(keep)] + keep
    return base


def _stage_name(listed: str, served: str | None) -> str:
    """The staged file's name: the listed one, unless it has no extension (it tells no
    format, e.g. a portal id) and the server named the file; ``download`` when neither
    leaves a usable name."""
    name = _clean_name(listed)
    if served is not None and "." not in name:
        name = _clean_name(served) or name
    return name or "download"


def _journal_records(path: Path) -> list[dict[str, Any]]:
    """The records of a journal; a last line without its newline (a process killed while
    appending it) is ignored: its file is staged again by the next fetch."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    complete = lines[:-1]  # the part after the last newline is empty or unfinished
    records = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise TransferError(f"staging journal {path}, line {number} is damaged: {exc}") from exc
        if not isinstance(record, dict):
            raise TransferError(f"staging journal {path}, line {number} is not a record")
        records.append(record)
    return records


def _fold(root: Path, *parts: list[dict[str, Any]]) -> list[StagedFile]:
    """Records in order, one entry per (identity, SHA-256): a later record replaces an earlier
    one in its place (a new version marker for the same content)."""
    entries: dict[tuple[str, str], StagedFile] = {}
    for records in parts:
        for record in records:
            staged = StagedFile.from_record(root, record)
            entries[(staged.identity, staged.sha256)] = staged
    return list(entries.values())


def read_manifest(root: str | os.PathLike[str]) -> list[StagedFile]:
    """The files staged under ``root``, oldest first, read without opening the area.

    Opening a :class:`StagingArea` clears its unfinished downloads; a worker that only needs
    to know what arrived (while a driver may be downloading) reads the manifest instead.
    """
    folder = Path(root)
    path = folder / MANIFEST
    try:
        journal = _journal_records(folder / JOURNAL)  # first: see the module docstring
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {"files": []}
        return _fold(folder, data["files"], journal)
    except (ValueError, KeyError, TypeError) as exc:
        raise TransferError(f"staging manifest {path} is damaged: {exc}") from exc


class StagingArea:
    """A directory of fetched files plus the manifest of what was fetched.

    Thread-safe within a process. Example::

        staging = StagingArea("/var/lib/stratoflow/staging/iagos")
        staged = staging.receive(identity="2019/flight.nc", name="flight.nc",
                                 write=lambda sink: conn.get(item, sink))
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._partial = self.root / PARTIAL
        self._partial.mkdir(parents=True, exist_ok=True)
        for leftover in self._partial.iterdir():  # from a process killed mid-download
            if not leftover.name.startswith(RESUMABLE) or leftover.name.endswith(".tmp"):
                leftover.unlink(missing_ok=True)  # resumable downloads wait for the next run
        self._lock = threading.Lock()
        self._entries: list[StagedFile] = self._load()
        self._journal_lines = 0
        if (self.root / JOURNAL).exists():
            self._compact()

    # -- manifest --

    def _load(self) -> list[StagedFile]:
        return read_manifest(self.root)

    def _compact(self) -> None:
        """Write every entry to the snapshot, then drop the journal (see the module docstring)."""
        data = {"format": 1, "files": [e.to_record(self.root) for e in self._entries]}
        fd, tmp = tempfile.mkstemp(dir=self._partial, suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, self.root / MANIFEST)
        (self.root / JOURNAL).unlink(missing_ok=True)
        self._journal_lines = 0

    def _record(self, entry: StagedFile) -> None:
        """Append ``entry`` to the journal (one write of one line); fold when it is long."""
        line = json.dumps(entry.to_record(self.root), separators=(",", ":")) + "\n"
        fd = os.open(self.root / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
        self._journal_lines += 1
        if self._journal_lines >= max(1024, len(self._entries)):
            self._compact()

    def files(self) -> list[StagedFile]:
        """Every staged file, oldest first."""
        with self._lock:
            return list(self._entries)

    def versions(self, identity: str) -> list[StagedFile]:
        """The staged versions of one remote item, oldest first."""
        return [e for e in self.files() if e.identity == identity]

    def known(
        self, identity: str, *, version: str | None = None, sha256: str | None = None
    ) -> bool:
        """True when this identity was fetched with this version marker or checksum."""
        for entry in self.versions(identity):
            if version is not None and entry.version == version:
                return True
            if sha256 is not None and entry.sha256 == sha256:
                return True
        return False

    # -- receiving --

    def receive(
        self,
        *,
        identity: str,
        name: str,
        write: Callable[[Sink], None],
        size: int | None = None,
        sha256: str | None = None,
        version: str | None = None,
        source: str = "",
        provider: str = "",
        resume: Callable[[ResumedSink, int], None] | None = None,
        confirm: Callable[[], None] | None = None,
    ) -> StagedFile | None:
        """Download via ``write(sink)`` and stage the result atomically.

        ``size``/``sha256`` are what the remote side announced; a mismatch (a truncated or
        corrupted transfer) raises :class:`TransientTransferError` and stages nothing. Returns
        ``None`` when the content is already staged for this identity.

        With ``resume``, a download cut by a transient failure keeps what arrived, and the
        next call for the same item (identity, version marker, checksum) continues with
        ``resume(sink, offset)`` instead of starting over (a large file over a flaky link
        otherwise never arrives); ``resume`` must make sure the file is still the same.
        The kept bytes stay when the caller gives up after its retries (the next run resumes);
        :meth:`forget_partial` drops them when they are of no more use (the item is gone).

        ``confirm()`` is called once all bytes are in, before anything is checked or staged;
        when it raises (the remote file changed meanwhile), nothing is staged or kept.
        """
        try:
            return self._receive(
                identity, name, write, size, sha256, version, source, provider, resume, confirm
            )
        except StagingError as exc:
            raise StagingError(f"{source or identity}: {exc}") from exc

    def _receive(
        self,
        identity: str,
        name: str,
        write: Callable[[Sink], None],
        size: int | None,
        sha256: str | None,
        version: str | None,
        source: str,
        provider: str,
        resume: Callable[[ResumedSink, int], None] | None = None,
        confirm: Callable[[], None] | None = None,
    ) -> StagedFile | None:
        if resume is None:
            download = _download(_new_file(self._partial, "get-"), write)
        else:
            path = self._partial_path(identity)
            state = _ResumeState(path, identity, version, sha256)
            download = _download(path, write, resume, state)
        with download as (tmp, received, digest, served):
            if confirm is not None:
                confirm()
            if size is not None and received != size:
                why = (
                    "transfer truncated"
                    if received < size
                    else "more than announced: the file changed since it was listed?"
                )
                raise TransientTransferError(
                    f"{source or identity}: received {received} bytes, expected {size} ({why})"
                )
            if sha256 is not None and digest != sha256.lower():
                raise TransientTransferError(
                    f"{source or identity}: SHA-256 mismatch (announced {sha256}, got {digest})"
                )
            try:
                return self._commit(
                    tmp,
                    identity,
                    _stage_name(name, served),
                    name,
                    received,
                    digest,
                    version,
                    source,
                    provider,
                )
            except OSError as exc:  # moving the file into place, recording it
                raise _local_failure(self.root, exc) from exc

    def _partial_path(self, identity: str) -> Path:
        """Where the first bytes of the item wait to be resumed (with a checkpoint beside
        them that says which version they are of: see :class:`_ResumeState`).

        Without a version marker the protocol's ``get_from`` is what tells whether the file
        is still the same (HTTP ``If-Range``), or it starts over.
        """
        key = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()
        return self._partial / f"{RESUMABLE}{key[:32]}"

    def forget_partial(
        self, identity: str, *, version: str | None = None, sha256: str | None = None
    ) -> None:
        """Drop the bytes kept to resume this item (it is gone, or refused for good)."""
        path = self._partial_path(identity)
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".state").unlink(missing_ok=True)

    def keep_partials_of(self, identities: Collection[str]) -> None:
        """Drop the bytes kept to resume items other than ``identities`` (the provider no
        longer offers them), so that ``.partial/`` does not fill up with orphans."""
        wanted = {self._partial_path(i).name for i in identities}
        for path in self._partial.glob(f"{RESUMABLE}*"):
            if path.name.removesuffix(".state") not in wanted:
                path.unlink(missing_ok=True)

    def _commit(
        self,
        tmp: Path,
        identity: str,
        filename: str,
        name: str,
        size: int,
        digest: str,
        version: str | None,
        source: str,
        provider: str,
    ) -> StagedFile | None:
        with self._lock:
            for i, entry in enumerate(self._entries):
                if entry.identity == identity and entry.sha256 == digest:
                    if version is not None and entry.version != version:
                        # Same content, new marker (e.g. touched): remember it, fetch nothing.
                        self._entries[i] = replace(entry, version=version)
                        self._record(self._entries[i])
                    return None
            dest_dir = self.root / digest[:16]
            dest_dir.mkdir(exist_ok=True)
            dest = dest_dir / filename
            os.replace(tmp, dest)
            staged = StagedFile(
                path=dest,
                identity=identity,
                name=name,
                size=size,
                sha256=digest,
                version=version,
                fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
                source=source,
                provider=provider,
            )
            self._entries.append(staged)
            self._record(staged)
            return staged
