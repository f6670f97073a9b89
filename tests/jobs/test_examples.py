"""The job definitions shipped in ``examples/`` load, and keep loading as the code changes.

An example that no longer loads is worse than none: users copy it. Loading checks every
transfer (type, options, authentication), schedule, manager kind and stored QC configuration
name, so this test fails as soon as the example and the code drift apart.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stratoflow.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.django_db


@pytest.fixture
def qc_configuration(django_user_model: type) -> None:
    from stratoflow.server.catalog.models import QCConfiguration
    from stratoflow.server.catalog.qc_configurations import default_text, qc_configuration_save

    pi = django_user_model.objects.create(username="pi", email="pi@example.org")
    qc_configuration_save(QCConfiguration(name="iagos-standard", text=default_text()), user=pi)


def test_example_jobs_load_and_reload_unchanged(
    qc_configuration: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.workflow.models import Job, TaskManager, TransferHandler

    path = EXAMPLES / "jobs.yaml"
    assert main(["job", "load", str(path)]) == 0, capsys.readouterr().err
    assert set(Job.objects.values_list("name", flat=True)) == {"fairo-flights", "iagos-l2"}
    kinds = list(
        TaskManager.objects.filter(job__name="fairo-flights")
        .order_by("order")
        .values_list("kind", flat=True)
    )
    assert kinds == ["metadata", "import", "export"]
    # secrets stay references in the database
    for row in TransferHandler.objects.exclude(auth="none"):
        for key, value in row.auth_options.items():
            if key in ("password", "key", "client_secret", "token"):
                assert str(value).startswith(("env:", "file:")), (row.name, key)
    capsys.readouterr()
    assert main(["job", "load", str(path)]) == 0
    out = capsys.readouterr().out
    assert "created" not in out and "updated" not in out


def test_example_jobs_need_the_named_qc_configuration(
    django_user_model: type, capsys: pytest.CaptureFixture[str]
) -> None:
    django_user_model.objects.create(username="pi", email="pi@example.org")
    assert main(["job", "load", str(EXAMPLES / "jobs.yaml")]) == 1
    assert "no stored QC configuration 'iagos-standard'" in capsys.readouterr().err
