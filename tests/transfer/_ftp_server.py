"""A real FTP server on 127.0.0.1 (pyftpdlib), with faults injected per file name.

Faults apply to downloads (``RETR``), in order, one per request
(``server.faults["b.nc"] = ["drop:40000"]``):

- ``drop:N``  the first N bytes go over the data connection, then the server hangs up the
  control connection instead of confirming the transfer
- ``truncate:N``  only the first N bytes are sent, and the server reports success (226)
- ``stall``  the server never answers the ``RETR`` (the client's timeout has to fire)
- ``450``  a transient refusal ("450 file busy")
- ``vanish``  the file is deleted just before the ``RETR`` is served (the server's own 550)
- ``hold:N``  the first N bytes go over the data connection, and the transfer is never
  confirmed (the client waits for the reply until its timeout): a download in progress

``server.retrieved`` lists every file name asked for with ``RETR``, so tests can count attempts.
Permanent refusals need no fault: pyftpdlib's own per-directory permissions
(``server.authorizer.override_perm``) answer 550 as a production server would.

``without=("MLSD", "MLST")`` makes a server that does not know those commands (it answers
``500 Command not understood``), like vsftpd and many older data-centre servers.

``server.no_overwrite = True`` makes ``RNTO`` onto an existing file fail with 550, as IIS and
ProFTPD (``AllowOverwrite off``, its default) answer. ``server.refused_renames`` holds
``fnmatch`` patterns of file names whose renaming (``RNFR`` name, ``RNTO``) is refused with
550, as a full quota or a server rule would refuse it. ``server.drop_on_rename`` and
``server.drop_on_delete`` hold patterns of source names (``RNFR``) and deleted names (``DELE``)
at which the server hangs up instead of renaming (a rename that would go through) or deleting:
a connection lost at that step. Each pattern hangs up once, then is dropped from the list.

``server.hide_dot_files = True`` leaves names that start with ``.`` out of ``NLST`` and
``LIST`` unless ``LIST`` is asked with ``-a`` (``LIST -a``, ``LIST -la /dir``), as vsftpd,
ProFTPD and Pure-FTPd do by default; ``MLSD`` lists them (RFC 3659), unless
``server.hide_from_mlsd`` is set too (as some servers do). ``server.list_args`` holds the
argument of every ``LIST``.

``server.hold_renames[pattern] = (held, go)`` holds the first ``RNFR`` of a name matching the
``fnmatch`` pattern (after ``server.skip_renames[pattern]`` such renames, if given): ``held``
is set and the answer waits until ``go`` is set (at most 10 s), the server serving other
sessions meanwhile: a client caught between its last look at the folder and its rename, for
forcing the interleaving of two uploads.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from ._helpers import take_match

with warnings.catch_warnings():
    # pyftpdlib imports asynchat/asyncore, deprecated on Python 3.11 (stdlib, not ours)
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.filesystems import AbstractedFS
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer as PyFTPServer


class FTPTestServer:
    """``with FTPTestServer(root, user, password) as server:`` -> ``server.port``."""

    def __init__(
        self,
        root: Path,
        user: str,
        password: str,
        *,
        without: tuple[str, ...] = (),
        host: str = "127.0.0.1",
    ) -> None:
        self.faults: dict[str, list[str]] = {}
        self.retrieved: list[str] = []
        #: the argument of every REST command (a download resumed at that offset)
        self.rests: list[str] = []
        #: Called (in the server's thread) just before a ``drop`` hangs up.
        self.on_drop: Callable[[str], None] | None = None
        #: Called (in the server's thread) with the argument of a listing command (MLSD,
        #: LIST, NLST) before the server reads the directory.
        self.on_list: Callable[[str], None] | None = None
        #: Refuse to rename onto an existing file (550), like IIS and ProFTPD's default.
        self.no_overwrite = False
        #: ``fnmatch`` patterns of source names (base names) whose rename is refused (550).
        self.refused_renames: list[str] = []
        #: ``fnmatch`` patterns (once each) of renames and deletes the server hangs up at.
        self.drop_on_rename: list[str] = []
        self.drop_on_delete: list[str] = []
        #: Hide ``.name`` from NLST and LIST (not from ``LIST -a`` nor MLSD).
        self.hide_dot_files = False
        self.hide_from_mlsd = False
        self.list_args: list[str] = []
        self.hold_renames: dict[str, tuple[threading.Event, threading.Event]] = {}
        self.skip_renames: dict[str, int] = {}
        self._lock = threading.Lock()
        self.authorizer = DummyAuthorizer()
        self.authorizer.add_user(user, password, str(root), perm="elradfmwMT")
        handler = type(
            "Handler",
            (_FaultyHandler,),
            {
                "authorizer": self.authorizer,
                "timeout": 10,
                "auth_failed_timeout": 0.01,
                "abstracted_fs": _HidingFS,
                "proto_cmds": {k: v for k, v in FTPHandler.proto_cmds.items() if k not in without},
            },
        )
        handler.test_server = self
        self._server = PyFTPServer((host, 0), handler)
        self.port: int = self._server.address[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve)

    def asked_for(self, name: str) -> None:
        with self._lock:
            self.retrieved.append(name)

    def drops_at(self, patterns: list[str], path: str) -> bool:
        """Whether ``path``'s base name matches one of ``patterns`` (which is then used up)."""
        return take_match(patterns, path, self._lock)

    def rename_hold(self, path: str) -> tuple[threading.Event, threading.Event] | None:
        """The (held, go) events for an ``RNFR`` of ``path``, used up; None: not held."""
        with self._lock:
            for pattern in list(self.hold_renames):
                if fnmatch(os.path.basename(path), pattern):
                    if self.skip_renames.get(pattern, 0) > 0:
                        self.skip_renames[pattern] -= 1
                        continue
                    return self.hold_renames.pop(pattern)
        return None

    def next_fault(self, name: str) -> str | None:
        with self._lock:
            queue = self.faults.get(name)
            return queue.pop(0) if queue else None

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        self._server.close_all()

    def __enter__(self) -> FTPTestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class _HidingFS(AbstractedFS):  # type: ignore[misc]
    """Leaves ``.name`` out of a directory read for a listing that hides them."""

    def listdir(self, path: str) -> list[str]:
        names: list[str] = super().listdir(path)
        if getattr(self.cmd_channel, "hiding", False):
            return [name for name in names if not name.startswith(".")]
        return names


class _FaultyHandler(FTPHandler):  # type: ignore[misc]
    test_server: FTPTestServer
    _hang_up = False
    _hold = False
    hiding = False

    def pre_process_command(self, line: str, cmd: str, arg: str) -> Any:
        command = cmd.upper()
        options = ""
        if command == "LIST":
            self.test_server.list_args.append(arg)
            if arg.startswith("-"):  # ls options before the path, as vsftpd reads them
                options, _, arg = arg.partition(" ")
        self.hiding = (
            self.test_server.hide_dot_files
            and command in ("NLST", "LIST")
            and "a" not in options.lower()
        ) or (self.test_server.hide_from_mlsd and command == "MLSD")
        # Here, before pyftpdlib checks permissions, so that refused requests count too.
        if cmd.upper() == "RETR":
            self.test_server.asked_for(arg.rstrip("/").rsplit("/", 1)[-1])
        if cmd.upper() == "REST":
            self.test_server.rests.append(arg)
        if cmd.upper() in ("MLSD", "LIST", "NLST") and self.test_server.on_list is not None:
            self.test_server.on_list(arg)
        return super().pre_process_command(line, cmd, arg)

    def ftp_RETR(self, file: str) -> Any:  # noqa: N802 (pyftpdlib names its commands so)
        fault = self.test_server.next_fault(os.path.basename(file))
        kind, _, arg = (fault or "").partition(":")
        if kind == "stall":
            return None  # no reply at all
        if kind == "vanish":
            os.remove(file)
        if kind == "450":
            self.respond("450 File busy, try again later.")
            return None
        if kind in ("drop", "truncate", "hold"):
            with open(file, "rb") as fh:
                head = fh.read(int(arg))
            if kind == "hold":
                self._hold = True
            if kind == "drop":
                self._hang_up = True
                if self.test_server.on_drop is not None:
                    self.test_server.on_drop(file)
            self.push_dtp_data(head, cmd="RETR")
            return file
        return super().ftp_RETR(file)

    def ftp_RNFR(self, path: str) -> Any:  # noqa: N802
        hold = self.test_server.rename_hold(path)
        if hold is None:
            return super().ftp_RNFR(path)
        held, go = hold
        held.set()
        deadline = time.monotonic() + 10

        def answer() -> None:  # polled on the server's loop: other sessions go on meanwhile
            if go.is_set() or time.monotonic() > deadline:
                FTPHandler.ftp_RNFR(self, path)
            else:
                self.ioloop.call_later(0.01, answer)

        answer()
        return None

    def ftp_RNTO(self, path: str) -> Any:  # noqa: N802
        source = os.path.basename(self._rnfr or "")
        if any(fnmatch(source, p) for p in self.test_server.refused_renames):
            self._rnfr = None
            self.respond("550 Rename refused.")
            return None
        if self.test_server.no_overwrite and self._rnfr and os.path.exists(path):
            self._rnfr = None
            self.respond("550 File exists.")
            return None
        if self.test_server.drops_at(self.test_server.drop_on_rename, self._rnfr or ""):
            self.close()  # the connection is lost: no rename, no reply
            return None
        return super().ftp_RNTO(path)

    def ftp_DELE(self, path: str) -> Any:  # noqa: N802
        if self.test_server.drops_at(self.test_server.drop_on_delete, path):
            self.close()  # the connection is lost: no delete, no reply
            return None
        return super().ftp_DELE(path)

    def respond(self, resp: str, *args: Any, **kwargs: Any) -> None:
        if self._hold and resp.startswith("226"):
            self._hold = False
            return  # never confirmed
        if self._hang_up and resp.startswith("226"):
            self.close()  # the data went out; the confirmation never comes
            return
        super().respond(resp, *args, **kwargs)
