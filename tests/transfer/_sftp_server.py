"""A real SFTP server on 127.0.0.1: paramiko's server side, serving a directory.

Password and public-key authentication; the host key is generated per test session so that a
known_hosts file with another key is a genuine mismatch.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import paramiko
from paramiko.sftp_server import SFTPServer as ParamikoSFTPServer


class _Auth(paramiko.ServerInterface):
    def __init__(self, passwords: dict[str, str], keys: dict[str, paramiko.PKey]) -> None:
        self.passwords, self.keys = passwords, keys

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
    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))  # type: ignore[attr-defined]
        except OSError as exc:
            return ParamikoSFTPServer.convert_errno(exc.errno)


class _Files(paramiko.SFTPServerInterface):
    """The server's file system: paths are confined to ``root``."""

    def __init__(self, server: paramiko.ServerInterface, *, root: str) -> None:
        super().__init__(server)
        self.root = root

    def _real(self, path: str) -> str:
        return os.path.join(self.root, self.canonicalize(path).lstrip("/"))

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        real = self._real(path)
        try:
            return [
                paramiko.SFTPAttributes.from_stat(os.stat(os.path.join(real, name)), name)
                for name in os.listdir(real)
            ]
        except OSError as exc:
            return ParamikoSFTPServer.convert_errno(exc.errno)

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(self._real(path)))
        except OSError as exc:
            return ParamikoSFTPServer.convert_errno(exc.errno)

    lstat = stat

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> _Handle | int:
        real = self._real(path)
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
        return handle

    def remove(self, path: str) -> int:
        try:
            os.remove(self._real(path))
        except OSError as exc:
            return ParamikoSFTPServer.convert_errno(exc.errno)
        return paramiko.SFTP_OK

    def rename(self, oldpath: str, newpath: str) -> int:
        if os.path.exists(self._real(newpath)):
            return paramiko.SFTP_FAILURE
        os.rename(self._real(oldpath), self._real(newpath))
        return paramiko.SFTP_OK

    def posix_rename(self, oldpath: str, newpath: str) -> int:
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
    ) -> None:
        self.root, self.host_key = root, host_key
        self.passwords, self.keys = passwords, keys
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
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
            transport.set_subsystem_handler("sftp", ParamikoSFTPServer, _Files, root=str(self.root))
            self._transports.append(transport)
            try:
                transport.start_server(server=_Auth(self.passwords, self.keys))
            except (paramiko.SSHException, EOFError, OSError):
                transport.close()

    def __enter__(self) -> SFTPTestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()
        for transport in self._transports:
            transport.close()
