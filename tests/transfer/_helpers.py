"""Set-up the transfer tests share: a job whose import manager fetches through a transfer
stored in the database, and the authentication configurations the portal enforces.

Kept here, beside the servers (``_portal``, ``_sftp_server``, ``_ftp_server``), so that every
test builds a job or an authenticated handler the same way and a change to the models or
to the auth settings is made once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from _jobs import one_manager_job, transfer_handler

from . import _portal

#: For each method the portal enforces (``Portal.auth``): the ``auth`` configuration that
#: passes it, given the secret references of the ``secrets_env`` fixture.
AUTH_CASES: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
    "basic": lambda s: {"method": "basic", "username": _portal.USER, "password": s["basic"]},
    "bearer": lambda s: {"method": "bearer", "token": s["bearer"]},
    "apikey_header": lambda s: {"method": "apikey", "key": s["apikey"]},
    "apikey_query": lambda s: {
        "method": "apikey",
        "key": s["apikey"],
        "location": "query",
        "param": "api_key",
    },
    "hashtoken": lambda s: {"method": "hashtoken", "passphrase": s["passphrase"]},
}


def take_match(patterns: list[str], path: str, lock: threading.Lock) -> bool:
    """Whether ``path``'s base name matches one of the ``fnmatch`` ``patterns``; the pattern
    matched is taken off the list (a test server's fault that strikes once)."""
    with lock:
        for pattern in patterns:
            if fnmatch(os.path.basename(path), pattern):
                patterns.remove(pattern)
                return True
    return False


def portal_options(url: str, **extra: object) -> dict[str, Any]:
    """The stored ``transfer_options`` of an HTTP transfer listing the portal at ``url``."""
    return {"base_url": url, "list_path": "api/files", **extra}


def import_job(
    name: str,
    transfer_type: str,
    options: dict[str, Any],
    *,
    provider: str | None = None,
    transfer: str | None = None,
    auth: Mapping[str, Any] | None = None,
) -> Any:
    """A job ``name`` with one import manager (IAGOS netCDF reader, no review) fed by a
    ``transfer_type`` transfer with ``auth`` (an ``auth`` config such as :data:`AUTH_CASES`
    give; default none); provider and transfer are named after the job (``<name>-provider``,
    ``<name>-transfer``) unless named here. Needs the database."""
    auth_options = dict(auth or {"method": "none"})
    row = transfer_handler(
        transfer or f"{name}-transfer",
        provider=provider or f"{name}-provider",
        transfer_type=transfer_type,
        auth=auth_options.pop("method"),
        auth_options=auth_options,
        transfer_options=options,
    )
    return one_manager_job(
        name,
        manager="import",
        kind="import",
        transfer=row,
        options={"reader": "iagos_netcdf", "review": False},
    )


def tasks_by_subject(job: Any) -> dict[str, Any]:
    """The tasks of every manager of ``job``, by subject (the file's identity)."""
    from stratoflow.server.workflow.models import Task

    return {t.subject: t for t in Task.objects.filter(manager__job=job)}


def chain_texts(exc: BaseException | None) -> list[str]:
    """``str`` and ``repr`` of ``exc`` and of every exception it was raised from or while
    handling: third-party causes included, as a traceback or a careless caller shows them."""
    texts: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts += [str(exc), repr(exc)]
        exc = exc.__cause__ or exc.__context__
    return texts


def assert_nowhere(
    secret: str,
    *,
    texts: Iterable[str] = (),
    caplog: pytest.LogCaptureFixture | None = None,
    database: bool = False,
    dirs: Iterable[Path] = (),
) -> None:
    """Fail, saying where, if ``secret`` appears in any of ``texts`` (messages, CLI output,
    mails), in the captured log records (messages and tracebacks, every logger: set the
    level to DEBUG first), in any text or JSON column of any row of the database, or in the
    name or content of any file under ``dirs`` (staging areas, the home directory)."""
    found: list[str] = []

    def look(where: str, text: str) -> None:
        if secret in text:
            at = text.index(secret)
            found.append(f"{where}: ...{text[max(0, at - 80) : at + len(secret) + 40]!r}...")

    for i, text in enumerate(texts):
        look(f"text {i}", text)
    if caplog is not None:
        look("log output", caplog.text)
        for record in caplog.records:
            look(f"log record {record.name}", record.getMessage())
    if database:
        from django.apps import apps
        from django.db import models

        kinds = (models.CharField, models.TextField, models.JSONField)
        for model in apps.get_models():
            fields = [f.attname for f in model._meta.concrete_fields if isinstance(f, kinds)]
            if not fields:
                continue
            for row in model._default_manager.values(*fields):
                look(f"table {model._meta.db_table}", json.dumps(row, default=str))
    for folder in dirs:
        for path in sorted(folder.rglob("*")):
            look("file name", str(path))
            if path.is_file():
                look(f"file {path}", path.read_bytes().decode("utf-8", "replace"))
    assert not found, f"{secret!r} found in:\n" + "\n".join(found)


def dead_pid() -> int:
    """The id of a process of this machine that has ended (a killed uploader's)."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(gone.stdout)
