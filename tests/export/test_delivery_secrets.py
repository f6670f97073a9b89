"""A delivery that fails on a quoted credential leaves it in no export record, task or log.

(The transfer tests check every table and the logs with ``assert_nowhere``; this is the
export record's own column.)
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from pathlib import Path

import httpx
import pytest

from _jobs import one_manager_job, transfer_handler
from stratoflow.errors import TransferError
from stratoflow.transfer.auth.bearer import BearerAuth
from stratoflow.transfer.secrets import Secret

from ._flights import Imported, approve

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "tok-upload-Wq47"


class _QuotingFlow(httpx.Auth):
    def __init__(self, token: Secret) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise TransferError(f"cannot sign the upload with {self.token.reveal()}")
        yield request  # pragma: no cover (a generator, as httpx expects)


class _QuotingAuth(BearerAuth):
    """An auth plugin whose library quotes the credential it was given when it fails."""

    name = "quoting-upload"

    def http_auth(self) -> httpx.Auth:
        return _QuotingFlow(self.token)


def test_a_failed_delivery_records_no_secret(
    imported: Imported,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from stratoflow import plugins
    from stratoflow.server.exports.models import ExportRecord
    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import job_run

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SF_TEST_UPLOAD_TOKEN", TOKEN)
    approve(imported.identifier)
    target = transfer_handler(
        "quoting-target",
        provider="partner",
        transfer_type="http",
        transfer_options={"base_url": "http://127.0.0.1:1/", "upload_path": "upload/{name}"},
        auth="quoting-upload",
        auth_options={"token": "env:SF_TEST_UPLOAD_TOKEN"},
    )
    job = one_manager_job(
        "export-quoting",
        manager="export",
        kind="export",
        transfer=target,
        options={"format": "icartt"},
    )
    plugins.register("auth", "quoting-upload", _QuotingAuth)
    try:
        report = job_run(job, workers=1)
    finally:
        plugins.unregister("auth", "quoting-upload")

    assert report.state == "failed"
    record = ExportRecord.objects.get()
    task = Task.objects.get(manager__job=job)
    assert record.state == "failed" and "cannot sign the upload with ***" in record.error
    texts = [record.error, task.error, *report.managers[0].errors, caplog.text]
    assert not [text for text in texts if TOKEN in text]
