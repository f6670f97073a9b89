"""Set-up many tests share: a transfer handler on a target, a job with one task manager, and
the threads of the tasks a run gave up on.

Most job tests need "a job with one manager (import, export, noop ...) on one transfer";
each used to build the three rows by hand. These two factories build them, so that a test
says only what is its own (names, transfer options, manager options). Both need the database.
"""

from __future__ import annotations

import threading
from typing import Any


def transfer_handler(name: str, *, provider: Any, transfer_type: str, **fields: Any) -> Any:
    """The TransferHandler ``name`` of ``provider`` (a DataProvider, or the name of one,
    made if there is none yet), of ``transfer_type``, with the other model ``fields``
    (``transfer_options``, ``auth``, ``auth_options``) as given."""
    from stratoflow.server.workflow.models import DataProvider, TransferHandler

    if isinstance(provider, str):
        provider, _ = DataProvider.objects.get_or_create(name=provider)
    return TransferHandler.objects.create(
        name=name, provider=provider, transfer_type=transfer_type, **fields
    )


def one_manager_job(
    name: str,
    *,
    manager: str,
    kind: str,
    transfer: Any = None,
    job_fields: dict[str, Any] | None = None,
    **fields: Any,
) -> Any:
    """The Job ``name`` (with ``job_fields``, e.g. ``frequency``) and its one TaskManager
    ``manager`` of ``kind`` on ``transfer`` (a TransferHandler, or none), with the other
    manager ``fields`` (``options``, ``timeout``, ``max_attempts`` ...) as given."""
    from stratoflow.server.workflow.models import Job, TaskManager

    job = Job.objects.create(name=name, **(job_fields or {}))
    TaskManager.objects.create(job=job, name=manager, kind=kind, transfer=transfer, **fields)
    return job


def join_abandoned(before: set[threading.Thread], within: float = 60) -> None:
    """Wait (``within`` seconds each) for the task threads started since ``before`` that
    their run gave up on: they still use the database, which goes when the test ends."""
    for thread in set(threading.enumerate()) - before:
        if thread.name.startswith("stratoflow-task-"):
            thread.join(within)


def timed_out(task: Any) -> bool:
    """Whether ``task`` failed past its timeout: usually "timed out"; on a loaded machine a
    missed heartbeat can expire the lease first, which ends the task the same way ("worker
    stopped")."""
    return task.state == "failed" and ("timed out" in task.error or "worker stopped" in task.error)
