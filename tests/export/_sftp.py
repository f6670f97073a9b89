"""An SFTP upload target on loopback for the export tests, whose uploads can be held."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko

from _jobs import one_manager_job, transfer_handler
from transfer._sftp_server import SFTPTestServer
from transfer.conftest import SFTP_PASSWORD, SFTP_USER, write_known_hosts

#: a timeout the export of the test flight is written within even on a busy machine
WRITES_WITHIN = 10


@dataclass
class Hold:
    """Holds the client at its ``at``-th listing of the target folder (1: before the upload,
    2: after the file was renamed in) until ``release`` is set (at most 60 s)."""

    at: int = 0
    listings: int = 0
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def on_list(self, path: str) -> None:
        self.listings += 1
        if self.listings == self.at:
            self.held.set()
            self.release.wait(60)


@dataclass
class Target:
    server: SFTPTestServer
    root: Path
    hold: Hold
    known_hosts: Path


@contextmanager
def sftp_target(tmp_path: Path) -> Iterator[Target]:
    """An SFTP server on 127.0.0.1 serving ``tmp_path/partner``, its uploads held by
    ``hold`` (the password: ``env:SF_TEST_SFTP_PW``, set by the caller)."""
    root = tmp_path / "partner"
    root.mkdir()
    host_key = paramiko.ECDSAKey.generate()
    hold = Hold()
    with SFTPTestServer(root, host_key, passwords={SFTP_USER: SFTP_PASSWORD}, keys={}) as server:
        server.faults.on_list = hold.on_list
        known = write_known_hosts(tmp_path / "known_hosts", server.port, host_key)
        try:
            yield Target(server, root, hold, known)
        finally:
            hold.release.set()  # a held listing ends before the server is closed


def make_job(target: Target, *, timeout: int, **export: Any) -> Any:
    """A job exporting L1 flights as ICARTT to ``target`` (one attempt per task)."""
    handler = transfer_handler(
        "data-centre",
        provider="data centre",
        transfer_type="sftp",
        transfer_options={
            "host": "127.0.0.1",
            "port": target.server.port,
            "known_hosts": str(target.known_hosts),
            "timeout": 90,  # longer than any hold: the client waits, it does not give up
        },
        auth="ssh",
        auth_options={"username": SFTP_USER, "password": "env:SF_TEST_SFTP_PW"},
    )
    return one_manager_job(
        "export-unconfirmed",
        manager="export",
        kind="export",
        transfer=handler,
        timeout=timeout,
        max_attempts=1,
        retry_delay=0.01,
        options={"format": "icartt", "retry": {"attempts": 1}, **export},
    )
