"""Set-up the transfer tests share: a job whose import manager fetches through a transfer
stored in the database, and the authentication configurations the portal enforces.

Kept here, beside the servers (``_portal``, ``_sftp_server``, ``_ftp_server``), so that every
test builds a job or an authenticated handler the same way and a change to the models or
to the auth settings is made once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
) -> Any:
    """A job ``name`` with one import manager (IAGOS netCDF reader, no review) fed by a
    ``transfer_type`` transfer without auth; provider and transfer are named after the job
    (``<name>-provider``, ``<name>-transfer``) unless named here. Needs the database."""
    from stratoflow.server.workflow.models import DataProvider, Job, TaskManager, TransferHandler

    row = TransferHandler.objects.create(
        name=transfer or f"{name}-transfer",
        provider=DataProvider.objects.create(name=provider or f"{name}-provider"),
        transfer_type=transfer_type,
        auth="none",
        transfer_options=options,
    )
    job = Job.objects.create(name=name)
    TaskManager.objects.create(
        job=job,
        name="import",
        kind="import",
        transfer=row,
        options={"reader": "iagos_netcdf", "review": False},
    )
    return job


def tasks_by_subject(job: Any) -> dict[str, Any]:
    """The tasks of every manager of ``job``, by subject (the file's identity)."""
    from stratoflow.server.workflow.models import Task

    return {t.subject: t for t in Task.objects.filter(manager__job=job)}
