"""FTP and FTPS (ftplib): list, get, put.

Listing uses ``MLSD`` (RFC 3659: machine-readable size and modification time); the version
marker is size+modify. ``tls=True`` uses explicit FTPS (``AUTH TLS``) and protects the data
channel too (``PROT P``). Uploads go to a temporary name and are renamed into place.
"""

from __future__ import annotations

import builtins
import ftplib
import ssl
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any

from stratoflow.errors import AuthError, TransferError, TransientTransferError
from stratoflow.transfer.auth.base import ConnectionHandler
from stratoflow.transfer.base import Connection, RemoteItem, TransferType
from stratoflow.transfer.staging import Sink

__all__ = ["FTPServer"]

_ERRORS = (ftplib.Error, OSError, EOFError)


class FTPServer(TransferType):
    """Files under ``remote_dir`` on an FTP(S) server matching ``pattern``.

    Example config: ``{"type": "ftp", "host": "ftp.example.org", "remote_dir": "/pub/data",
    "pattern": "*.ames", "tls": true}``
    """

    name = "ftp"
    protocol = "ftp"

    def __init__(
        self,
        *,
        host: str,
        port: int = 21,
        remote_dir: str = "/",
        pattern: str = "*",
        recursive: bool = False,
        tls: bool = False,
        passive: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port, self.remote_dir = host, port, remote_dir
        self.pattern, self.recursive = pattern, recursive
        self.tls, self.passive, self.timeout = tls, passive, timeout

    def options(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "remote_dir": self.remote_dir,
            "pattern": self.pattern,
            "recursive": self.recursive,
            "tls": self.tls,
            "passive": self.passive,
            "timeout": self.timeout,
        }

    @property
    def where(self) -> str:
        scheme = "ftps" if self.tls else "ftp"
        return f"{scheme}://{self.host}:{self.port}/{self.remote_dir.lstrip('/')}"

    def connect(self, auth: ConnectionHandler) -> Connection:
        login = auth.ftp_login()
        ftp: ftplib.FTP = (
            ftplib.FTP_TLS(context=ssl.create_default_context(), timeout=self.timeout)
            if self.tls
            else ftplib.FTP(timeout=self.timeout)
        )
        where = f"FTP {self.host}:{self.port}"
        try:
            ftp.connect(self.host, self.port, timeout=self.timeout)
            ftp.login(login.user, login.password)
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
            ftp.set_pasv(self.passive)
        except ftplib.error_perm as exc:
            ftp.close()
            if str(exc).startswith("530"):
                raise AuthError(f"{where}: login as {login.user!r} refused (530)") from exc
            raise TransferError(f"{where}: {exc}") from exc
        except (*_ERRORS, ssl.SSLError) as exc:
            ftp.close()
            raise TransientTransferError(f"{where}: cannot connect: {exc}") from exc
        return _FTPConnection(self, ftp)


class _FTPConnection(Connection):
    def __init__(self, spec: FTPServer, ftp: ftplib.FTP) -> None:
        self.spec, self.ftp = spec, ftp
        self.where = spec.where
        self.root = PurePosixPath(spec.remote_dir)

    def close(self) -> None:
        try:
            self.ftp.quit()
        except _ERRORS:
            self.ftp.close()

    def _fail(self, exc: BaseException, what: str) -> TransferError:
        if isinstance(exc, ftplib.error_perm):
            return TransferError(f"{self.where}: {what}: {exc}")
        return TransientTransferError(f"{self.where}: {what}: {type(exc).__name__}: {exc}")

    def list(self) -> Iterator[RemoteItem]:
        try:
            found = self._walk(self.root)
        except (TimeoutError, *_ERRORS) as exc:
            raise self._fail(exc, "list") from exc
        yield from sorted(found, key=lambda item: item.identity)

    def _walk(self, directory: PurePosixPath) -> builtins.list[RemoteItem]:
        found: builtins.list[RemoteItem] = []
        for name, facts in self.ftp.mlsd(str(directory), facts=["type", "size", "modify"]):
            kind = facts.get("type", "")
            path = directory / name
            if kind == "dir" and self.spec.recursive:
                found.extend(self._walk(path))
            elif kind == "file" and fnmatch(name, self.spec.pattern) and not name.startswith("."):
                size = int(facts["size"]) if facts.get("size", "").isdigit() else None
                found.append(
                    RemoteItem(
                        identity=path.relative_to(self.root).as_posix(),
                        name=name,
                        size=size,
                        version=f"{facts.get('size')}:{facts.get('modify')}",
                    )
                )
        return found

    def get(self, item: RemoteItem, sink: Sink) -> None:
        try:
            self.ftp.retrbinary(f"RETR {self.root / item.identity}", sink.write)
        except (TimeoutError, *_ERRORS) as exc:
            raise self._fail(exc, f"get {item.identity}") from exc

    def put(self, source: Path, name: str) -> str:
        dest = self.root / name
        tmp = dest.with_name(f".{dest.name}.part")
        try:
            with source.open("rb") as fh:
                self.ftp.storbinary(f"STOR {tmp}", fh)
            self.ftp.rename(str(tmp), str(dest))
        except (TimeoutError, *_ERRORS) as exc:
            raise self._fail(exc, f"put {name}") from exc
        return dest.relative_to(self.root).as_posix()
