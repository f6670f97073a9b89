"""A real SFTP server on 127.0.0.1: paramiko's server side, serving a directory.

Password and public-key authentication; the host key is generated per test session so that a
known_hosts file with another key is a genuine mismatch.

Faults are injected per file name, in order, when a client opens the file for reading
(``server.faults["b.nc"] = ["drop:40000"]``):

- ``drop:N``  after serving N bytes of the file, the server shuts the TCP connection down
- ``truncate:N``  the file ends after N bytes (reads past that return end-of-file)
- ``stall``  the first read is not answered until the server stops (or ``stall_seconds``)
- ``denied``  opening fails with "permission denied" (SSH_FX_PERMISSION_DENIED)
- ``vanish``  the file is deleted just before it is opened (the server's own "no such file")

``server.opened`` lists every file name opened for reading, so tests can count attempts.

Like OpenSSH's ``sftp-server``, a directory listing reports a symbolic link as a link (its
``lstat``), and ``LSTAT`` does not follow links while ``STAT`` does. ``faults.on_list`` is
called with the path of each directory the client is about to list (before it is read), so a
test can remove it at that moment.

Renames: plain ``RENAME`` refuses an existing target (SFTP v3, as OpenSSH does);
``faults.no_posix_rename`` makes the server lack the ``posix-rename@openssh.com`` extension
that replaces one; ``faults.refused_renames`` holds ``fnmatch`` patterns of file names whose
renaming is refused (permission denied), as a full quota or a server rule would refuse it.
``faults.drop_on_rename`` and ``faults.drop_on_remove`` hold patterns of source names and
removed names at which the server shuts the connection down instead of renaming (a rename
that would go through) or removing: a connection lost at that step. Each pattern hangs up
once, then is dropped from the list.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import paramiko
from paramiko.sftp_server import SFTPServer as ParamikoSFTPServer

from ._helpers import take_match


@dataclass
class Faults:
    """Fault queues and observations shared by every connection of one server."""

    queues: dict[str, list[str]] = field(default_factory=dict)
    opened: list[str] = field(default_factory=list)
    stall_seconds: float = 10.0
    release: threading.Event = field(default_factory=threading.Event)
    #: Called (in the server's thread) just before a ``drop`` hangs up.
    on_drop: Callable[[str], None] | None = None
    #: (file name, offset of the first read) for every file opened for reading
    first_reads: list[tuple[str, int]] = field(default_factory=list)
    #: Called (in the server's thread) with the path of a directory about to be listed.
    on_list: Callable[[str], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Without the posix-rename extension (plain renames onto free names only).
    no_posix_rename: bool = False
    #: ``fnmatch`` patterns of source names (base names) whose rename is refused.
    refused_renames: list[str] = field(default_factory=list)
    #: ``fnmatch`` patterns (once each) of renames and removals the server hangs up at.
    drop_on_rename: list[str] = field(default_factory=list)
    drop_on_remove: list[str] = field(default_factory=list)

    def drops_at(self, patterns: list[str], path: str) -> bool:
        """Whether ``path``'s base name matches one of ``patterns`` (which is then used up)."""
        return take_match(patterns, path, self.lock)

    def refuses_rename(self, path: str) -> bool:
        name = os.path.basename(path)
        return any(fnmatch(name, pattern) for pattern in self.refused_renames)

    def next(self, name: str) -> str | None:
        with self.lock:
            self.opened.append(name)
            queue = self.queues.get(name)
            return queue.pop(0) if queue else None


class _Auth(paramiko.ServerInterface):
    def __init__(
        self,
        passwords: dict[str, str],
        keys: dict[str, paramiko.PKey],
        sock: socket.socket | None = None,
    ) -> None:
        self.passwords, self.keys = passwords, keys
        self.sock = sock  # the connection's TCP socket, for faults that hang up

    def get_allowed_auths(self, username: str) -> str:
        return "password,publickey"

    def check_auth_password(self, username: str, password: str) -> int:
        if username in self.passwords and self.passwords[username] == password:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        known = self.keys.get(username)
        if known is not None and known.get_base64() == key.get_base64():
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _Handle(paramiko.SFTPHandle):
    fault: str | None = None
    faults: Faults | None = None
    sock: socket.socket | None = None
    served = 0
    read_yet = False

    def read(self, offset: int, length: int) -> bytes | int:
        if not self.read_yet and self.faults is not None:
            self.read_yet = True
            with self.faults.lock:
                name = os.path.basename(self.filename)  # type: ignore[attr-defined]
                self.faults.first_reads.append((name, offset))
        kind, _, arg = (self.fault or "").partition(":")
        if kind == "gone":
            return paramiko.SFTP_FAILURE
        if kind == "stall" and self.faults is not None:
            self.fault = None
            self.faults.release.wait(self.faults.stall_seconds)
        elif kind == "truncate":
            length = max(0, min(length, int(arg) - offset))
            if length == 0:
                return b""
        elif kind == "drop" and self.served + length > int(arg):
            self.fault = "gone"  # reads still queued behind this one just fail
            if self.faults is not None and self.faults.on_drop is not None:
                self.faults.on_drop(self.filename)  # type: ignore[attr-defined]
            if self.sock is not None:
                self.sock.shutdown(socket.SHUT_RDWR)  # the server hangs up mid-file
            return paramiko.SFTP_FAILURE
        data = super().read(offset, length)
        if isinstance(data, bytes):
            self.served += len(data)
        return data

    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))  # type: ignore[attr-defined]
        except OSError as exc:
            return ParamikoSFTPServer.convert_errno(exc.errno)


class _Files(paramiko.SFTPServerInterface):
    """The server's file system: paths are confined to ``root``."""

    def __init__(self, server: paramiko.ServerInterface, *, root: str, faults: Faults) -> None:
        super().__init__(server)
        self.root, self.faults = root, faults
        self.sock = server.sock if isinstance(server, _Auth) else None

    def _real(self, path: str) -> str:
        return os.path.join(self.root, self.canonicalize(path).lstrip("/"))

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        real = os.fsencode(self._real(path))
        if self.faults.on_list is not None:
            self.faults.on_list(self._real(path))
        try:
            # names as the file system holds them: bytes, sent as they are (not always UTF-8);
            # links as links (lstat), as OpenSSH's sftp-server does
            return [
                paramiko.SFTPAttributes.from_stat(os.lstat(os.path.join(real, name)), name)  # type: ignore[arg-type]
                for name in os.listdir(real)
            ]
        except OSError as exc:
            return ParamikoSFTPServer.convert_errno(exc.errno)

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(self._real(path)))
        except OSError as exc:
            return ParamikoSFTPServer.convert_errno(exc.errno)

    def lstat(self, path: str) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.lstat(self._real(path)))
        except OSError as exc:
            return ParamikoSFTPServer.convert_errno(exc.errno)

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> _Handle | int:
        real = self._real(path)
        fault = None
        if not flags & (os.O_WRONLY | os.O_RDWR):
            fault = self.faults.next(os.path.basename(real))
            if fault == "denied":
                return paramiko.SFTP_PERMISSION_DENIED
            if fault == "vanish":
                os.remove(real)
        try:
            fd = os.open(real, flags | getattr(os, "O_BINARY", 0), 0o644)
        except OSError as exc:
            return ParamikoSFTPServer.convert_errno(exc.errno)
        if flags & os.O_WRONLY:
            mode = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            mode = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            mode = "rb"
        fh = os.fdopen(fd, mode)
        handle = _Handle(flags)
        handle.filename = real  # type: ignore[attr-defined]
        handle.readfile = fh  # type: ignore[attr-defined]
        handle.writefile = fh  # type: ignore[attr-defined]
        handle.fault, handle.faults, handle.sock = fault, self.faults, self.sock
        return handle

    def _hang_up(self) -> int:
        if self.sock is not None:
            self.sock.shutdown(socket.SHUT_RDWR)  # the connection is lost at this step
        return paramiko.SFTP_FAILURE

    def remove(self, path: str) -> int:
        if self.faults.drops_at(self.faults.drop_on_remove, path):
            return self._hang_up()
        try:
            os.remove(self._real(path))
        except OSError as exc:
            return ParamikoSFTPServer.convert_errno(exc.errno)
        return paramiko.SFTP_OK

    def rename(self, oldpath: str, newpath: str) -> int:
        if self.faults.refuses_rename(oldpath):
            return paramiko.SFTP_PERMISSION_DENIED
        if os.path.exists(self._real(newpath)):
            return paramiko.SFTP_FAILURE
        if self.faults.drops_at(self.faults.drop_on_rename, oldpath):
            return self._hang_up()
        os.rename(self._real(oldpath), self._real(newpath))
        return paramiko.SFTP_OK

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        if self.faults.no_posix_rename:
            return paramiko.SFTP_OP_UNSUPPORTED
        if self.faults.refuses_rename(oldpath):
            return paramiko.SFTP_PERMISSION_DENIED
        if self.faults.drops_at(self.faults.drop_on_rename, oldpath):
            return self._hang_up()
        try:
            os.replace(self._real(oldpath), self._real(newpath))
        except OSError as exc:
            return ParamikoSFTPServer.convert_errno(exc.errno)
        return paramiko.SFTP_OK

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        try:
            os.mkdir(self._real(path))
        except OSError as exc:
            return ParamikoSFTPServer.convert_errno(exc.errno)
        return paramiko.SFTP_OK


class SFTPTestServer:
    """``with SFTPTestServer(root, host_key, ...) as server:`` -> ``server.port``."""

    def __init__(
        self,
        root: Path,
        host_key: paramiko.PKey,
        *,
        passwords: dict[str, str],
        keys: dict[str, paramiko.PKey],
        host: str = "127.0.0.1",
    ) -> None:
        self.root, self.host_key = root, host_key
        self.passwords, self.keys = passwords, keys
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, 0), family=family)
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.faults = Faults()
        self._stop = threading.Event()
        self._transports: list[paramiko.Transport] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler(
                "sftp", ParamikoSFTPServer, _Files, root=str(self.root), faults=self.faults
            )
            self._transports.append(transport)
            try:
                transport.start_server(server=_Auth(self.passwords, self.keys, conn))
            except (paramiko.SSHException, EOFError, OSError):
                transport.close()

    def __enter__(self) -> SFTPTestServer:
        self._thread.start()
        return self

    @property
    def opened(self) -> list[str]:
        """Every file name opened for reading, in order."""
        return self.faults.opened

    def __exit__(self, *exc: object) -> None:
        self.faults.release.set()  # end any stall
        self._stop.set()
        self._thread.join()
        self.sock.close()
        for transport in self._transports:
            transport.close()
