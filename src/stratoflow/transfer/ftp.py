"""FTP and FTPS (ftplib): list, get, put.

Listing uses ``MLSD`` (RFC 3659: machine-readable size and modification time); the version
marker is size+modify. Servers without ``MLSD`` (vsftpd, many older ones) answer it with
``500``/``501``/``502``; their ``LIST`` output (Unix ``ls -l`` or DOS style) is parsed instead,
with the modification time from ``MDTM``, so the marker is the same either way.

A file the provider is still writing is left for a later run: a new file is taken once its
size and modification time stayed the same for ``settle`` seconds and it is at least
``min_age`` seconds old (see :class:`~stratoflow.transfer.base.Settle`; the age needs the
time from ``MLSD`` or ``MDTM``, and is measured by this machine's clock: no FTP command tells
the server's time, so a server whose clock is behind makes its files look older).

Uploads clean up after uploads that a killed process or a lost connection left (hidden
``.part`` temporaries, files moved aside): those names are found by ``MLSD``, else by
``LIST -a``, as servers hide dot-files from a plain ``NLST``/``LIST``.

``tls=True`` uses explicit FTPS (``AUTH TLS``) and protects the data channel too
(``PROT P``). Uploads go to a temporary name and are renamed into place; a server that does not
rename onto an existing file gets the old file moved aside first, and back if the new one
cannot be renamed in (:func:`~stratoflow.transfer.base.replace_keeping_old`).

The server's certificate is always verified, host name included, before the password is sent.
Data centres often run FTPS with a certificate from their own CA: ``ca_file`` names a PEM file
with that CA (or the server's self-signed certificate, which pins it) and is then the only
trust anchor. An untrusted certificate fails at once with an
:class:`~stratoflow.errors.AuthError` naming host and port, like a wrong SSH host key. Only an
explicit ``insecure_skip_tls_verify=True`` disables the check, and it logs a warning at every
connection.
"""

from __future__ import annotations

import builtins
import contextlib
import ftplib
import logging
import re
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any

from stratoflow.errors import (
    AuthError,
    ConfigError,
    GoneError,
    SecretError,
    TransferError,
    TransientTransferError,
)
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

__all__ = ["FTPServer"]

log = logging.getLogger(__name__)
_ERRORS = (ftplib.Error, OSError, EOFError)
#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH
_NAME_MISMATCH = frozenset({62, 64})
#: Replies of a server that does not know a command (or its ``OPTS``).
_UNKNOWN_COMMAND = ("500", "501", "502", "504")
#: ``-rw-r--r--   1 owner group  1234 Nov 29 10:30 name`` (the group column is optional)
_UNIX_LINE = re.compile(
    r"^(?P<type>[-dlbcps])\S{9}\S*\s+\d+\s+\S+(?:\s+\S+)?\s+(?P<size>\d+)\s+"
    r"(?P<date>[A-Za-z]{3}\s+\d{1,2}\s+(?:\d{1,2}:\d{2}|\d{4}))\s(?P<name>.+)$"
)
#: ``11-29-26  10:30AM       <DIR>          name`` (IIS)
_DOS_LINE = re.compile(
    r"^(?P<date>\d{2}-\d{2}-\d{2,4}\s+\d{1,2}:\d{2}\s*[AaPp][Mm])\s+"
    r"(?P<size><DIR>|\d+)\s+(?P<name>.+)$"
)


def _time_val(value: str | None) -> float | None:
    """POSIX seconds of an RFC 3659 time-val (``20261129103000`` or with ``.fff``, UTC), as
    ``MLSD`` and ``MDTM`` give it; ``None`` for anything else (a ``LIST`` date)."""
    if value is None or not re.fullmatch(r"\d{14}(\.\d+)?", value):
        return None
    try:
        whole = datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return whole.timestamp() + float("0" + value[14:])  # "0" or "0.123"


def _parse_list_line(line: str) -> tuple[str, str, int | None, str] | None:
    """``(name, kind, size, date)`` of one ``LIST`` line (kind ``file``/``dir``/``link``)."""
    if m := _UNIX_LINE.match(line):
        kind = {"-": "file", "d": "dir", "l": "link"}.get(m["type"], "other")
        name = m["name"].split(" -> ", 1)[0] if kind == "link" else m["name"]
        return name, kind, int(m["size"]), m["date"]
    if m := _DOS_LINE.match(line):
        if m["size"] == "<DIR>":
            return m["name"], "dir", None, m["date"]
        return m["name"], "file", int(m["size"]), m["date"]
    return None


class FTPServer(TransferType):
    """Files under ``remote_dir`` on an FTP(S) server matching ``pattern``.

    Example config::

        {"type": "ftp", "host": "ftp.example.org", "remote_dir": "/pub/data",
         "pattern": "*.ames", "tls": true, "ca_file": "/etc/stratoflow/dc-ca.pem"}

    Without ``ca_file`` the system's CA store is used.
    """

    name = "ftp"
    protocol = "ftp"
    finds_uploads = True

    def __init__(
        self,
        *,
        host: str,
        port: int = 21,
        remote_dir: str = "/",
        pattern: str = "*",
        recursive: bool = False,
        tls: bool = False,
        ca_file: str | None = None,
        insecure_skip_tls_verify: bool = False,
        passive: bool = True,
        timeout: float = 30.0,
        min_speed: float = 1024.0,
        settle: float | None = None,
        min_age: float = 0.0,
    ) -> None:
        host = host_name(host, "transfer 'ftp'")
        if (ca_file is not None or insecure_skip_tls_verify) and not tls:
            # Certificate options on a plain connection would silently protect nothing.
            raise ConfigError(
                f"FTP {host_port(host, port)}: ca_file/insecure_skip_tls_verify need tls=true"
            )
        self.host, self.port, self.remote_dir = host, port, remote_dir
        self.pattern, self.recursive = pattern, recursive
        self.tls, self.passive = tls, passive
        what = f"FTP {host_port(host, port)}"
        self.timeout = timeout_seconds(timeout, what)
        self.min_speed = min_speed_bytes(min_speed, what)
        self._settle = settle  # None: the site default (kept so, not frozen into the config)
        self.settle_interval = settle_option(settle, what)
        self.min_age = min_age_seconds(min_age, what)
        self.ca_file, self.insecure_skip_tls_verify = ca_file, insecure_skip_tls_verify

    def options(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "remote_dir": self.remote_dir,
            "pattern": self.pattern,
            "recursive": self.recursive,
            "tls": self.tls,
            "ca_file": self.ca_file,
            "insecure_skip_tls_verify": self.insecure_skip_tls_verify,
            "passive": self.passive,
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
        scheme = "ftps" if self.tls else "ftp"
        return f"{scheme}://{host_port(self.host, self.port)}/{self.remote_dir.lstrip('/')}"

    def _tls_context(self, where: str) -> ssl.SSLContext:
        """Verify chain and host name; trust only ``ca_file`` when given."""
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise AuthError(
                f"{where}: cannot load ca_file {self.ca_file} ({detail}); it must hold the "
                "server's CA certificate(s) in PEM format"
            ) from exc
        if self.insecure_skip_tls_verify:
            log.warning(
                "%s: TLS certificate NOT verified (insecure_skip_tls_verify=True); "
                "the connection is encrypted but the server is not authenticated",
                where,
            )
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _trust_hint(self, exc: ssl.SSLCertVerificationError) -> str:
        if exc.verify_code in _NAME_MISMATCH:
            return f"the certificate is not issued for {self.host!r}"
        if self.ca_file:
            return f"ca_file {self.ca_file} does not hold the CA that signed it"
        return "set ca_file to the provider's CA certificate (PEM)"

    def connect(self, auth: ConnectionHandler) -> Connection:
        login = auth.ftp_login()
        where = f"{'FTPS' if self.tls else 'FTP'} {host_port(self.host, self.port)}"
        for what, value in (("user name", login.user), ("password", login.password)):
            if "\r" in value or "\n" in value:  # ftplib: a bare ValueError, mid-login
                raise SecretError(
                    f"{where}: the {what} holds a line break and cannot be sent; check the "
                    "secret's value"
                )
        ftp: ftplib.FTP = (
            ftplib.FTP_TLS(context=self._tls_context(where), timeout=self.timeout)
            if self.tls
            else ftplib.FTP(timeout=self.timeout)
        )
        try:
            ftp.connect(self.host, self.port, timeout=self.timeout)
            # FTP_TLS.login() runs AUTH TLS (handshake, certificate check) before USER/PASS,
            # so an untrusted server never sees the password.
            ftp.login(login.user, login.password)
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
            ftp.set_pasv(self.passive)
        except ftplib.error_perm as exc:
            ftp.close()
            if str(exc).startswith("530"):
                raise AuthError(f"{where}: login as {login.user!r} refused (530)") from exc
            hint = (
                "; the server requires TLS: set tls=true"
                if not self.tls and _wants_tls(exc)
                else ""
            )
            raise TransferError(f"{where}: {exc}{hint}") from exc
        except ssl.SSLCertVerificationError as exc:
            ftp.close()
            raise AuthError(
                f"{where}: TLS certificate not trusted ({exc.verify_message}); refusing to "
                f"connect; {self._trust_hint(exc)}"
            ) from exc
        except (*_ERRORS, ssl.SSLError) as exc:
            ftp.close()
            raise TransientTransferError(f"{where}: cannot connect: {exc}") from exc
        return _FTPConnection(self, ftp)


def _facts(reply: str) -> dict[str, str]:
    """The facts of an ``MLST`` reply (RFC 3659 §7.2: the line after the first, which starts
    with a space, ``type=file;size=1234;modify=20261129103000; /path``), names lower-cased."""
    for line in reply.splitlines()[1:]:
        if line.startswith(" "):
            facts = line[1:].split(" ", 1)[0]
            return {
                key.lower(): value
                for key, _, value in (f.partition("=") for f in facts.split(";"))
                if key
            }
    return {}


def _wants_tls(exc: ftplib.Error) -> bool:
    """Whether a refusal says the server insists on TLS (wording differs between servers)."""
    text = str(exc).upper()
    return any(word in text for word in ("TLS", "SSL", "AUTH ", "ENCRYPT"))


class _FTPConnection(Connection):
    def __init__(self, spec: FTPServer, ftp: ftplib.FTP) -> None:
        self.spec, self.ftp = spec, ftp
        self.where = spec.where
        self.root = PurePosixPath(spec.remote_dir)
        #: Whether the server knows MLSD (None: not asked yet).
        self._mlsd: bool | None = None

    def close(self) -> None:
        try:
            self.ftp.quit()
        except _ERRORS:
            self.ftp.close()

    def _fail(self, exc: BaseException, what: str, *, file: bool = False) -> TransferError:
        """The stratoflow error for ``exc``; ``file``: while downloading a file, where 550
        says it is not there (or not readable: a fresh listing tells, see ``fetch_new``)."""
        if file and isinstance(exc, ftplib.error_perm) and str(exc).startswith("550"):
            return GoneError(f"{self.where}: {what}: {exc}")
        if isinstance(exc, ftplib.error_perm):
            return TransferError(f"{self.where}: {what}: {exc}")
        return TransientTransferError(
            f"{self.where}: {what}: {failure_reason(exc, self.spec.timeout)}"
        )

    def list(self) -> Iterator[RemoteItem]:
        try:
            found = self._walk(self.root)
        except (TimeoutError, *_ERRORS) as exc:
            raise self._fail(exc, "list") from exc
        except UnicodeDecodeError as exc:
            raise TransferError(
                f"{self.where}: list: the server sent a file name that is not UTF-8 "
                f"({exc.object[max(0, exc.start - 20) : exc.end + 20]!r}); rename the file "
                "on the server (ftplib decodes names as UTF-8)"
            ) from exc
        yield from sorted(found, key=lambda item: item.identity)

    def _walk(self, directory: PurePosixPath) -> builtins.list[RemoteItem]:
        found: builtins.list[RemoteItem] = []
        for name, kind, size, modify in self._entries(directory):
            path = directory / name
            if kind == "dir" and self.spec.recursive:
                found.extend(self._walk_sub(directory, name))
            elif kind == "file" and fnmatch(name, self.spec.pattern) and not name.startswith("."):
                found.append(self._item(path, size, modify))
        return found

    def _item(self, path: PurePosixPath, size: int | None, modify: str | None) -> RemoteItem:
        return RemoteItem(
            identity=path.relative_to(self.root).as_posix(),
            name=path.name,
            size=size,
            version=f"{'' if size is None else size}:{modify}",
            mtime=_time_val(modify),
        )

    def stat(self, identity: str) -> RemoteItem:
        """One file as :meth:`list` shows it: by ``MLST`` (the facts ``MLSD`` gives, for one
        file), else from a ``LIST`` of its directory."""
        path = self.root / identity
        try:
            if self._mlsd is not False:
                try:
                    reply = self.ftp.sendcmd(f"MLST {path}")
                except ftplib.error_perm as exc:
                    if not str(exc).startswith(_UNKNOWN_COMMAND):
                        raise
                else:
                    facts = _facts(reply)
                    size = facts.get("size", "")
                    return self._item(
                        path, int(size) if size.isdigit() else None, facts.get("modify")
                    )
            for name, kind, size_, modify in self._entries(path.parent, only=path.name):
                if name == path.name and kind == "file":
                    return self._item(path, size_, modify)
        except (TimeoutError, *_ERRORS) as exc:
            raise self._fail(exc, f"stat {identity}", file=True) from exc
        raise GoneError(f"{self.where}: stat {identity}: not listed")

    def _walk_sub(self, parent: PurePosixPath, name: str) -> builtins.list[RemoteItem]:
        """``_walk`` of a sub-directory; one that vanished since its parent was listed (the
        provider cleaning up) is skipped. FTP says 550 (or 501) for a missing directory and
        for one we may not read alike: the parent, listed again, tells which it was."""
        try:
            return self._walk(parent / name)
        except ftplib.error_perm:
            if any(entry[0] == name for entry in self._entries(parent)):
                raise
            log.info("%s: directory %s vanished while listing; skipped", self.where, parent / name)
            return []

    def _entries(
        self, directory: PurePosixPath, only: str | None = None
    ) -> builtins.list[tuple[str, str, int | None, str | None]]:
        """``(name, kind, size, modify)`` of each entry (``only``: of that name), by MLSD or
        else by LIST."""
        if self._mlsd is not False:
            try:
                facts = builtins.list(
                    self.ftp.mlsd(str(directory), facts=["type", "size", "modify"])
                )
            except ftplib.error_perm as exc:
                if self._mlsd or not str(exc).startswith(_UNKNOWN_COMMAND):
                    raise
                log.info("%s: the server does not support MLSD (%s); using LIST", self.where, exc)
                self._mlsd = False
            else:
                self._mlsd = True
                return [
                    (
                        name,
                        fact.get("type", ""),
                        int(fact["size"]) if fact.get("size", "").isdigit() else None,
                        fact.get("modify"),
                    )
                    for name, fact in facts
                    if only is None or name == only
                ]
        return self._list_entries(directory, only)

    def _list_entries(
        self, directory: PurePosixPath, only: str | None = None
    ) -> builtins.list[tuple[str, str, int | None, str | None]]:
        lines: builtins.list[str] = []
        self.ftp.retrlines(f"LIST {directory}", lines.append)
        entries: builtins.list[tuple[str, str, int | None, str | None]] = []
        for line in lines:
            parsed = _parse_list_line(line)
            if parsed is None:
                if line.strip() and not line.lower().startswith("total"):
                    log.warning("%s: cannot read LIST line %r; skipped", self.where, line)
                continue
            name, kind, size, date = parsed
            if name in (".", "..") or (kind != "dir" and not fnmatch(name, self.spec.pattern)):
                continue
            if only is not None and name != only:
                continue  # no MDTM for each file of the directory
            path = directory / name
            if kind == "link":  # a link to a file has a size; to a directory, not
                try:
                    size, kind = self._size(path), "file"
                except ftplib.error_perm:
                    continue
            if kind == "file":
                try:
                    modify = self.ftp.sendcmd(f"MDTM {path}").split()[-1]
                except ftplib.error_perm:  # no MDTM: the listing's own (coarser) date
                    modify = " ".join(date.split())
                entries.append((name, kind, size, modify))
            elif kind == "dir":
                entries.append((name, kind, None, None))
        return entries

    def _size(self, path: PurePosixPath) -> int | None:
        """``SIZE`` (RFC 3659), asked in binary mode (many servers refuse it in ASCII mode)."""
        self.ftp.voidcmd("TYPE I")
        return self.ftp.size(str(path))

    def get(self, item: RemoteItem, sink: Sink) -> None:
        try:
            self.ftp.retrbinary(f"RETR {self.root / item.identity}", sink.write)
        except (TimeoutError, *_ERRORS) as exc:
            raise self._fail(exc, f"get {item.identity}", file=True) from exc

    def get_from(self, item: RemoteItem, sink: ResumedSink, offset: int) -> None:
        """``REST offset`` then ``RETR`` (RFC 3659), unless the file changed since it was
        listed or the server does not restart transfers: then from the start.

        "Changed" is the listing's marker, size and modification time: a file rewritten with
        the same size (a corrected value) would otherwise be continued from the old bytes.
        A server that tells neither ``SIZE`` nor ``MDTM`` cannot show that; it starts over.
        """
        path = self.root / item.identity
        try:
            size = self._size(path)
            modify = self.ftp.sendcmd(f"MDTM {path}").split()[-1]
        except ftplib.error_perm:
            size = modify = None
        except (TimeoutError, *_ERRORS) as exc:
            raise self._fail(exc, f"get {item.identity}") from exc
        if size is None or modify is None or item.version != f"{size}:{modify}":
            sink.restart()
            self.get(item, sink)
            return
        try:
            self.ftp.retrbinary(f"RETR {path}", sink.write, rest=offset)
        except (ftplib.error_perm, ftplib.error_reply) as exc:
            if not str(exc).startswith(_UNKNOWN_COMMAND) and not isinstance(
                exc, ftplib.error_reply
            ):
                raise self._fail(exc, f"get {item.identity}", file=True) from exc
            # REST unknown to this server (or not answered 350): no restarts here
            log.info("%s: get %s: cannot resume (%s); from the start", self.where, path, exc)
            sink.restart()
            self.get(item, sink)
        except (TimeoutError, *_ERRORS) as exc:
            raise self._fail(exc, f"get {item.identity}") from exc

    def _is_file(self, path: str) -> bool:
        """Whether ``path`` is a file: ``SIZE`` answers for files only (550 for a folder).

        A server without ``SIZE`` is asked whether it is a folder (``CWD`` into it, and back).
        """
        try:
            return self._size(PurePosixPath(path)) is not None
        except ftplib.error_perm as exc:
            if not str(exc).startswith(_UNKNOWN_COMMAND):
                return False
        here = self.ftp.pwd()
        try:
            self.ftp.cwd(path)
        except ftplib.error_perm:
            return True  # not a folder (a missing file is found out by the rename)
        self.ftp.cwd(here)
        return False

    def _names(self, directory: PurePosixPath) -> builtins.list[str]:
        """Every name in ``directory``, hidden ones (``.name``) included, for the clean-up
        of uploads (:func:`~stratoflow.transfer.base.restore_moved_aside`,
        :func:`~stratoflow.transfer.base.remove_stale_uploads`).

        The files it looks for (upload temporaries, files moved aside) have hidden names,
        and vsftpd, ProFTPD and Pure-FTPd leave such names out of ``NLST`` and ``LIST``
        unless asked with ``-a``: they piled up unseen. ``MLSD`` lists every name (RFC
        3659), but some servers hide them there too; so when ``MLSD`` shows no hidden name,
        or the server has no ``MLSD``, ``LIST -a`` is asked in the folder (``CWD`` there and
        back: an option before a path is not understood everywhere), its names added to
        those of ``MLSD`` or ``NLST`` (a server that takes ``-a`` for a file name lists
        nothing, or refuses).
        """
        names: set[str] = set()
        if self._mlsd is not False:
            try:
                entries = builtins.list(self.ftp.mlsd(str(directory), facts=["type"]))
            except ftplib.error_perm as exc:
                if self._mlsd or not str(exc).startswith(_UNKNOWN_COMMAND):
                    raise
                self._mlsd = False
            else:
                self._mlsd = True
                names.update(
                    PurePosixPath(name).name
                    for name, facts in entries
                    if name not in (".", "..")
                    and facts.get("type", "").lower() not in ("cdir", "pdir")
                )
                if any(name.startswith(".") for name in names):
                    return sorted(names)  # it shows hidden names
        if self._mlsd is False:
            with contextlib.suppress(ftplib.error_perm, ftplib.error_temp):
                names.update(PurePosixPath(n).name for n in self.ftp.nlst(str(directory)))
        lines: builtins.list[str] = []
        here = self.ftp.pwd()
        try:
            self.ftp.cwd(str(directory))
        except ftplib.error_perm:
            return sorted(names)  # (the names NLST gave, if any)
        try:
            with contextlib.suppress(ftplib.error_perm, ftplib.error_temp):
                self.ftp.retrlines("LIST -a", lines.append)
        finally:
            self.ftp.cwd(here)
        for line in lines:
            parsed = _parse_list_line(line)
            if parsed is not None and parsed[0] not in (".", ".."):
                names.add(parsed[0])
        return sorted(names)

    def find_upload(self, name: str) -> UploadTrace:
        """The file ``name`` and its size (``SIZE``), and the unfinished uploads of it, found
        among every name of its folder, hidden ones included (:meth:`_names`). FTP gives no
        checksum that servers agree on (``HASH`` is a draft few implement)."""
        dest = self.root / name
        try:
            try:
                names = self._names(dest.parent)
            except ftplib.error_perm as exc:
                if not str(exc).startswith("550"):
                    raise
                return UploadTrace(name=name, exists=False)  # no upload ever made the folder
            leftovers = upload_leftovers(names, dest.name)
            if dest.name not in names:
                return UploadTrace(name=name, exists=False, leftovers=leftovers)
            try:
                size = self._size(dest)
            except ftplib.error_perm as exc:
                if not str(exc).startswith(_UNKNOWN_COMMAND):
                    # 550: a folder of that name (SIZE answers for files only)
                    return UploadTrace(name=name, exists=False, leftovers=leftovers)
                size = None  # the server has no SIZE: the size is not told
        except (TimeoutError, *_ERRORS) as exc:
            raise self._fail(exc, f"look for {name}") from exc
        return UploadTrace(name, exists=True, size=size, leftovers=leftovers)

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
                    lambda: self._names(dest.parent),
                    self.ftp.rename,
                    self.ftp.delete,
                    self._is_file,
                    dest.parent,
                    errors=(TimeoutError, *_ERRORS),
                    what=f"{self.where}: put {name}",
                )
                # storbinary sends 8 KiB blocks as it reads them: the file is never held whole.
                self.ftp.storbinary(f"STOR {tmp}", fh)
            try:
                self.ftp.rename(str(tmp), str(dest))
            except ftplib.error_perm:
                # Servers that do not rename onto an existing file (IIS; ProFTPD's default
                # AllowOverwrite off): the old file is moved aside, never deleted first.
                replace_keeping_old(
                    self.ftp.rename,
                    self.ftp.delete,
                    self._is_file,
                    tmp,
                    dest,
                    errors=_ERRORS,
                    fail=self._fail,
                    what=f"put {name}",
                )
        except (TimeoutError, *_ERRORS) as exc:
            if isinstance(exc, ftplib.Error):
                # The server answered (quota full, rename refused): the connection still
                # works, so the partial upload is removed, not left at the partner's.
                with contextlib.suppress(TimeoutError, *_ERRORS):
                    self.ftp.delete(str(tmp))
            raise self._fail(exc, f"put {name}") from exc
        remove_stale_uploads(
            lambda: self._names(dest.parent),
            self.ftp.delete,
            dest,
            errors=(TimeoutError, *_ERRORS),
        )
        return dest.relative_to(self.root).as_posix()
