"""A local or mounted directory (NFS, SMB, a synced folder) as a transfer type.

Items are the files under ``root`` matching ``pattern`` (a glob, e.g. ``*.nc``), optionally in
sub-directories (``recursive``). The identity is the path relative to ``root``; the version
marker is size, modification and status-change time, so an unchanged file is not even read
again, while a corrected file copied in with its old size and time (``cp -p``, ``rsync -t``)
still is: the change time cannot be set back. A marker that changed with the content not (a
``chmod``, a ``touch``) costs one read and checksum, and no new import.

A file still being written is left for a later run: a new file is taken once its marker stayed
the same for ``settle`` seconds and it is at least ``min_age`` seconds old (see
:class:`~stratoflow.transfer.base.Settle`).

A file name that is not valid UTF-8 (written by an old Windows or Latin-1 tool) is still
fetched: its identity shows the undecodable bytes as ``\\xNN`` escapes, which every database,
log and terminal accepts, while the file itself is opened by its real name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from stratoflow.errors import GoneError, TransferError
from stratoflow.files import partial_file, publish
from stratoflow.transfer.auth.base import ConnectionHandler
from stratoflow.transfer.base import (
    Connection,
    RemoteItem,
    Settle,
    TransferType,
    UploadTrace,
    printable,
    upload_leftovers,
)
from stratoflow.transfer.config import min_age_seconds, settle_option
from stratoflow.transfer.staging import Sink

__all__ = ["LocalDirectory"]

_CHUNK = 1 << 20


class LocalDirectory(TransferType):
    """Files under ``root`` matching ``pattern``; ``recursive`` includes sub-directories;
    ``settle``/``min_age`` (seconds) keep files still being written back (see
    :class:`~stratoflow.transfer.base.Settle`).

    Example config: ``{"type": "local", "root": "/mnt/incoming", "pattern": "*.nc"}``
    """

    name = "local"
    protocol = "local"
    finds_uploads = True

    def __init__(
        self,
        *,
        root: str,
        pattern: str = "*",
        recursive: bool = False,
        settle: float | None = None,
        min_age: float = 0.0,
    ) -> None:
        self.root, self.pattern, self.recursive = root, pattern, recursive
        self._settle = settle  # None: the site default (kept so, not frozen into the config)
        self.settle_interval = settle_option(settle, f"local directory {root}")
        self.min_age = min_age_seconds(min_age, f"local directory {root}")

    def options(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "pattern": self.pattern,
            "recursive": self.recursive,
            "settle": self._settle,
            "min_age": self.min_age,
        }

    def settle(self) -> Settle | None:
        return Settle.of(self.settle_interval, self.min_age)

    @property
    def where(self) -> str:
        return self.root

    def connect(self, auth: ConnectionHandler) -> Connection:
        return _LocalConnection(self)


def _item(real: str, st: os.stat_result) -> RemoteItem:
    """The item of the file at ``real`` (relative to the root, as the file system names it)."""
    shown = printable(real)
    return RemoteItem(
        identity=shown,
        name=printable(PurePosixPath(real).name),
        size=st.st_size,
        version=f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}",
        location=real if shown != real else None,
        mtime=st.st_mtime,
    )


class _LocalConnection(Connection):
    def __init__(self, spec: LocalDirectory) -> None:
        self.spec = spec
        self.root = Path(spec.root)
        self.where = spec.root
        if not self.root.is_dir():
            raise TransferError(f"local directory {self.root} does not exist")

    def list(self) -> Iterator[RemoteItem]:
        paths = (
            self.root.rglob(self.spec.pattern)
            if self.spec.recursive
            else self.root.glob(self.spec.pattern)
        )
        for path in sorted(paths):
            if not path.is_file() or path.name.startswith("."):
                continue
            yield _item(path.relative_to(self.root).as_posix(), path.stat())

    def stat(self, identity: str) -> RemoteItem:
        try:
            st = self._path(identity).stat()
        except FileNotFoundError:  # or a name shown with escapes: the listing knows it
            return super().stat(identity)
        except OSError as exc:
            raise TransferError(f"{self.where}: cannot stat {identity}: {exc.strerror}") from exc
        return _item(identity, st)

    def _path(self, identity: str) -> Path:
        path = (self.root / identity).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise TransferError(f"{self.where}: {identity!r} is outside the directory")
        return path

    def get(self, item: RemoteItem, sink: Sink) -> None:
        try:
            with self._path(item.location or item.identity).open("rb") as fh:
                while block := fh.read(_CHUNK):
                    sink.write(block)
        except FileNotFoundError as exc:  # deleted since it was listed
            raise GoneError(f"{self.where}: cannot read {item.identity}: {exc.strerror}") from exc
        except OSError as exc:
            raise TransferError(
                f"{self.where}: cannot read {item.identity}: {exc.strerror}"
            ) from exc

    def put(self, source: Path, name: str) -> str:
        dest = self._path(name)
        try:
            src = source.open("rb")
        except OSError as exc:
            raise TransferError(
                f"{self.where}: put {name}: cannot read local file {source}: {exc.strerror}"
            ) from exc
        with src:
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                with partial_file(dest) as tmp:  # removed unless renamed, however this ends
                    with tmp.open("wb") as out:
                        # Block by block (copyfileobj), so an export of any size needs 1 MiB.
                        shutil.copyfileobj(src, out, _CHUNK)
                    publish(tmp)
                    os.replace(tmp, dest)
            except OSError as exc:
                raise TransferError(f"{self.where}: cannot write {name}: {exc.strerror}") from exc
        return dest.relative_to(self.root.resolve()).as_posix()

    def find_upload(self, name: str) -> UploadTrace:
        """The file ``name`` with its size and SHA-256 (read here: no network between), and
        the unfinished uploads of it beside it."""
        dest = self._path(name)
        try:
            names = os.listdir(dest.parent)
        except FileNotFoundError:  # no upload ever made the folder
            return UploadTrace(name=name, exists=False)
        except OSError as exc:
            raise TransferError(f"{self.where}: cannot list {dest.parent}: {exc.strerror}") from exc
        leftovers = upload_leftovers(names, dest.name)
        try:
            with dest.open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
        except (FileNotFoundError, IsADirectoryError):
            return UploadTrace(name=name, exists=False, leftovers=leftovers)
        except OSError as exc:
            raise TransferError(f"{self.where}: cannot read {name}: {exc.strerror}") from exc
        return UploadTrace(name, exists=True, size=size, sha256=sha256, leftovers=leftovers)
