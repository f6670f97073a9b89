"""SFTP (paramiko): list, get, put, with the server's host key verified.

The host key must be in ``known_hosts`` (OpenSSH format; for a non-standard port the entry is
``[host]:port``). An unknown or different key fails at once with an
:class:`~stratoflow.errors.AuthError` naming host and port: that is how a man-in-the-middle
looks. Only an explicit ``insecure_skip_host_key_check=True`` disables the check, and it logs a
warning at every connection.

Uploads go to a temporary name and are renamed into place, so the receiving side never sees a
partial file; without the server's posix-rename extension the old file is moved aside first,
and back if the new one cannot be renamed in
(:func:`~stratoflow.transfer.base.replace_keeping_old`).
Downloads leave a file the provider is still writing for a later run: a new file is taken once
its size and modification time stayed the same for ``settle`` seconds and it is at least
``min_age`` seconds old (see :class:`~stratoflow.transfer.base.Settle`; by this machine's
clock: SFTP tells file times, not the server's time).
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import stat as statmod
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any

import paramiko

from stratoflow.errors import AuthError, GoneError, TransferError, TransientTransferError
from stratoflow.transfer.auth.base import ConnectionHandler
from stratoflow.transfer.base import (
    Connection,
    RemoteItem,
    Settle,
    TransferType,
    UploadTrace,
    failure_reason,
    host_port,
    remove_stale_uploads,
    replace_keeping_old,
    restore_moved_aside,
    upload_leftovers,
    upload_name,
)
from stratoflow.transfer.config import (
    host_name,
    min_age_seconds,
    min_speed_bytes,
    settle_option,
    timeout_seconds,
)
from stratoflow.transfer.staging import ResumedSink, Sink

__all__ = ["SFTPServer"]

log = logging.getLogger(__name__)
_CHUNK = 1 << 15


class _AcceptAndWarn(paramiko.MissingHostKeyPolicy):
    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        log.warning(
            "SFTP %s: host key NOT verified (insecure_skip_host_key_check=True); %s %s",
            hostname,
            key.get_name(),
            key.fingerprint,
        )


class SFTPServer(TransferType):
    """Files under ``remote_dir`` on ``host:port`` matching ``pattern``.

    Example config::

        {"type": "sftp", "host": "sftp.example.org", "remote_dir": "/outgoing",
         "pattern": "*.nc", "known_hosts": "/etc/stratoflow/known_hosts"}
    """

    name = "sftp"
    protocol = "sftp"
    finds_uploads = True

    def __init__(
        self,
        *,
        host: str,
        port: int = 22,
        remote_dir: str = ".",
        pattern: str = "*",
        recursive: bool = False,
        known_hosts: str | None = None,
        insecure_skip_host_key_check: bool = False,
        timeout: float = 30.0,
        min_speed: float = 1024.0,
        settle: float | None = None,
        min_age: float = 0.0,
    ) -> None:
        host = host_name(host, "transfer 'sftp'")
        self.host, self.port, self.remote_dir = host, port, remote_dir
        self.pattern, self.recursive = pattern, recursive
        self.known_hosts = known_hosts
        self.insecure_skip_host_key_check = insecure_skip_host_key_check
        what = f"SFTP {host_port(host, port)}"
        self.timeout = timeout_seconds(timeout, what)
        self.min_speed = min_speed_bytes(min_speed, what)
        self._settle = settle  # None: the site default (kept so, not frozen into the config)
        self.settle_interval = settle_option(settle, what)
        self.min_age = min_age_seconds(min_age, what)

    def options(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "remote_dir": self.remote_dir,
            "pattern": self.pattern,
            "recursive": self.recursive,
            "known_hosts": self.known_hosts,
            "insecure_skip_host_key_check": self.insecure_skip_host_key_check,
            "timeout": self.timeout,
            "min_speed": self.min_speed,
            "settle": self._settle,
            "min_age": self.min_age,
        }

    def pace(self) -> tuple[float, float] | None:
        return (self.min_speed, self.timeout) if self.min_speed else None

    def settle(self) -> Settle | None:
        return Settle.of(self.settle_interval, self.min_age)

    @property
    def where(self) -> str:
        return f"sftp://{host_port(self.host, self.port)}/{self.remote_dir.lstrip('/')}"

    def connect(self, auth: ConnectionHandler) -> Connection:
        login = auth.ssh_login()
        client = paramiko.SSHClient()
        if self.insecure_skip_host_key_check:
            client.set_missing_host_key_policy(_AcceptAndWarn())
        else:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            known = (
                Path(self.known_hosts).expanduser()
                if self.known_hosts
                else Path("~/.ssh/known_hosts").expanduser()
            )
            try:
                client.load_host_keys(str(known))
            except OSError as exc:
                client.close()
                raise AuthError(
                    f"SFTP {host_port(self.host, self.port)}: cannot read known_hosts {known} "
                    f"({exc.strerror}); add the server's host key there"
                ) from exc
        where = f"SFTP {host_port(self.host, self.port)}"
        try:
            client.connect(
                self.host,
                port=self.port,
                username=login.username,
                password=login.password,
                pkey=login.pkey,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                allow_agent=False,
                look_for_keys=False,
            )
            sftp = client.open_sftp()
            channel = sftp.get_channel()
            if channel is not None:
                channel.settimeout(self.timeout)
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise AuthError(
                f"{where}: host key mismatch (server offered {exc.key.get_name()} "
                f"{exc.key.fingerprint}); refusing to connect"
            ) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise AuthError(
                f"{where}: user {login.username!r} was refused ({type(exc).__name__})"
            ) from exc
        except paramiko.SSHException as exc:
            client.close()
            if "known_hosts" in str(exc) or "not found in" in str(exc):
                raise AuthError(
                    f"{where}: host key unknown; add it to known_hosts "
                    f"({self.known_hosts or '~/.ssh/known_hosts'})"
                ) from exc
            raise TransientTransferError(f"{where}: SSH error: {exc}") from exc
        except (OSError, EOFError) as exc:
            client.close()
            raise TransientTransferError(f"{where}: cannot connect: {exc}") from exc
        return _SFTPConnection(self, client, sftp)


class _SFTPConnection(Connection):
    def __init__(
        self, spec: SFTPServer, client: paramiko.SSHClient, sftp: paramiko.SFTPClient
    ) -> None:
        self.spec, self.client, self.sftp = spec, client, sftp
        self.where = spec.where
        self.root = PurePosixPath(spec.remote_dir)

    def close(self) -> None:
        """Close; a server that already hung up makes paramiko's channel close raise (it
        still tries to say goodbye), which must not replace the error that is being
        handled, nor stop the retry that reconnects."""
        try:
            self.sftp.close()
        except (OSError, EOFError, paramiko.SSHException) as exc:
            log.debug("%s: closing a dead connection: %s", self.where, failure_reason(exc, 0))
        finally:
            self.client.close()

    def _fail(self, exc: BaseException, what: str, *, file: bool = False) -> TransferError:
        """The stratoflow error for ``exc``; ``file``: while downloading a file, where "no
        such file" means the server does not have it (any more)."""
        if file and isinstance(exc, FileNotFoundError):
            return GoneError(f"{self.where}: {what}: {exc.strerror or exc}")
        if isinstance(exc, FileNotFoundError | PermissionError):
            return TransferError(f"{self.where}: {what}: {exc.strerror or exc}")
        return TransientTransferError(
            f"{self.where}: {what}: {failure_reason(exc, self.spec.timeout)}"
        )

    def list(self) -> Iterator[RemoteItem]:
        try:
            yield from sorted(self._walk(self.root), key=lambda item: item.identity)
        except (TimeoutError, OSError, EOFError, paramiko.SSHException) as exc:
            raise self._fail(exc, "list") from exc
        except UnicodeDecodeError as exc:
            raise TransferError(
                f"{self.where}: list: the server sent a file name that is not UTF-8 "
                f"({exc.object[max(0, exc.start - 20) : exc.end + 20]!r}); rename the file "
                "on the server (paramiko decodes names as UTF-8)"
            ) from exc

    def _walk(self, directory: PurePosixPath) -> builtins.list[RemoteItem]:
        """The matching files under ``directory``.

        A symbolic link (servers such as OpenSSH list links as links) counts as what it
        points to when that is a file; links to directories are not followed (as ``find``
        does not), so a link up the tree cannot make the walk endless. A sub-directory that
        disappears before it is listed (the provider cleaning up) is skipped.
        """
        found: builtins.list[RemoteItem] = []
        try:
            entries = self.sftp.listdir_attr(str(directory))
        except FileNotFoundError:
            if directory == self.root:
                raise
            log.info("%s: directory %s vanished while listing; skipped", self.where, directory)
            return found
        for attr in entries:
            path = directory / attr.filename
            mode = attr.st_mode or 0
            if statmod.S_ISLNK(mode) and fnmatch(attr.filename, self.spec.pattern):
                try:
                    attr = self.sftp.stat(str(path))  # the target
                except FileNotFoundError:  # a dangling link
                    continue
                attr.filename = path.name
                if not statmod.S_ISREG(attr.st_mode or 0):
                    continue
                mode = attr.st_mode or 0
            if statmod.S_ISDIR(mode):
                if self.spec.recursive:
                    found.extend(self._walk(path))
            elif statmod.S_ISREG(mode) and fnmatch(attr.filename, self.spec.pattern):
                if attr.filename.startswith("."):
                    continue
                found.append(self._item(path, attr))
        return found

    def _item(self, path: PurePosixPath, attr: paramiko.SFTPAttributes) -> RemoteItem:
        return RemoteItem(
            identity=path.relative_to(self.root).as_posix(),
            name=path.name,
            size=attr.st_size,
            version=f"{attr.st_size}:{attr.st_mtime}",
            mtime=None if attr.st_mtime is None else float(attr.st_mtime),
        )

    def stat(self, identity: str) -> RemoteItem:
        """One file as :meth:`list` shows it (a link: what it points to)."""
        path = self.root / identity
        try:
            return self._item(path, self.sftp.stat(str(path)))
        except (TimeoutError, OSError, EOFError, paramiko.SSHException) as exc:
            raise self._fail(exc, f"stat {identity}", file=True) from exc

    def get(self, item: RemoteItem, sink: Sink) -> None:
        self._read(item, sink, 0)

    def get_from(self, item: RemoteItem, sink: ResumedSink, offset: int) -> None:
        """Read on from ``offset``, unless the file changed since it was listed."""
        try:
            attr = self.sftp.stat(str(self.root / item.identity))
        except (TimeoutError, OSError, EOFError, paramiko.SSHException) as exc:
            raise self._fail(exc, f"get {item.identity}", file=True) from exc
        if item.version is None or f"{attr.st_size}:{attr.st_mtime}" != item.version:
            sink.restart()
            offset = 0
        self._read(item, sink, offset)

    def _read(self, item: RemoteItem, sink: Sink, offset: int) -> None:
        try:
            with self.sftp.open(str(self.root / item.identity), "rb") as remote:
                if offset:
                    remote.seek(offset)
                remote.prefetch()
                while block := remote.read(_CHUNK):
                    sink.write(block)
        except (TimeoutError, OSError, EOFError, paramiko.SSHException) as exc:
            raise self._fail(exc, f"get {item.identity}", file=True) from exc
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            # paramiko's read() reports a lost connection as end of file: a short file that
            # would look complete when the listing gave no size.
            raise TransientTransferError(
                f"{self.where}: get {item.identity}: the server closed the connection "
                "before the end of the file"
            )

    def _is_file(self, path: str) -> bool:
        """Whether ``path`` is a file (or a link to one)."""
        try:
            return statmod.S_ISREG(self.sftp.stat(path).st_mode or 0)
        except FileNotFoundError:
            return False

    def find_upload(self, name: str) -> UploadTrace:
        """The file ``name`` and its size, and the unfinished uploads of it, from one
        listing of its folder (SFTP gives no checksum: OpenSSH has no ``check-file``)."""
        dest = self.root / name
        try:
            try:
                entries = self.sftp.listdir_attr(str(dest.parent))
            except FileNotFoundError:  # no upload ever made the folder
                return UploadTrace(name=name, exists=False)
            leftovers = upload_leftovers((a.filename for a in entries), dest.name)
            found = next((a for a in entries if a.filename == dest.name), None)
            if found is not None and statmod.S_ISLNK(found.st_mode or 0):
                found = self.sftp.stat(str(dest))  # a link counts as what it points to
        except (TimeoutError, OSError, EOFError, paramiko.SSHException) as exc:
            raise self._fail(exc, f"look for {name}") from exc
        if found is None or not statmod.S_ISREG(found.st_mode or 0):
            return UploadTrace(name=name, exists=False, leftovers=leftovers)
        return UploadTrace(name, exists=True, size=found.st_size, leftovers=leftovers)

    def put(self, source: Path, name: str) -> str:
        dest = self.root / name
        with upload_name(dest) as tmp:
            return self._put(source, name, dest, tmp)

    def _put(self, source: Path, name: str, dest: PurePosixPath, tmp: PurePosixPath) -> str:
        try:
            # Opened before any remote step: a missing export is an error, not worth a retry.
            fh = source.open("rb")
        except OSError as exc:
            raise TransferError(
                f"{self.where}: put {name}: cannot read local file {source}: {exc.strerror}"
            ) from exc
        try:
            with fh:
                # an earlier replacement's file left moved aside: back, or away, before this upload
                restore_moved_aside(
                    lambda: self.sftp.listdir(str(dest.parent)),
                    self.sftp.rename,
                    self.sftp.remove,
                    self._is_file,
                    dest.parent,
                    errors=(TimeoutError, OSError, EOFError, paramiko.SSHException),
                    what=f"{self.where}: put {name}",
                )
                # putfo reads and sends 32 KiB blocks, pipelined: the file is never held whole.
                self.sftp.putfo(fh, str(tmp), confirm=True)
            try:
                self.sftp.posix_rename(str(tmp), str(dest))
            except OSError:
                # Servers without the posix-rename extension: plain rename onto a free name,
                # the old file moved aside (never deleted before the new one is in place).
                replace_keeping_old(
                    self.sftp.rename,
                    self.sftp.remove,
                    self._is_file,
                    tmp,
                    dest,
                    errors=(OSError, EOFError, paramiko.SSHException),
                    fail=self._fail,
                    what=f"put {name}",
                )
        except (TimeoutError, OSError, EOFError, paramiko.SSHException) as exc:
            channel = self.sftp.get_channel()
            if channel is not None and not channel.closed and not isinstance(exc, TimeoutError):
                # The server answered (disk full, rename refused): the connection still
                # works, so the partial upload is removed, not left at the partner's.
                with contextlib.suppress(TimeoutError, OSError, EOFError, paramiko.SSHException):
                    self.sftp.remove(str(tmp))
            raise self._fail(exc, f"put {name}") from exc
        remove_stale_uploads(
            lambda: self.sftp.listdir(str(dest.parent)),
            self.sftp.remove,
            dest,
            errors=(TimeoutError, OSError, EOFError, paramiko.SSHException),
        )
        return dest.relative_to(self.root).as_posix()
