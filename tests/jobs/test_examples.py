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
def pi(django_user_model: type) -> None:
    django_user_model.objects.create(username="pi", email="pi@example.org")


def test_example_jobs_load_and_reload_unchanged(
    pi: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.catalog.models import QCConfiguration
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
    # the QC configuration the jobs name came with them, as the file beside them says
    stored = QCConfiguration.objects.get(name="iagos-standard")
    assert stored.text == (EXAMPLES / "qc-iagos-standard.yaml").read_text(encoding="utf-8")
    assert stored.version == 1
    # secrets stay references in the database
    for row in TransferHandler.objects.exclude(auth="none"):
        for key, value in row.auth_options.items():
            if key in ("password", "key", "client_secret", "token"):
                assert str(value).startswith(("env:", "file:")), (row.name, key)
    capsys.readouterr()
    assert main(["job", "load", str(path)]) == 0
    out = capsys.readouterr().out
    assert "created" not in out and "updated" not in out
    assert QCConfiguration.objects.get(name="iagos-standard").version == 1


def test_a_changed_qc_file_is_a_new_version_and_a_broken_one_is_refused(
    pi: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.catalog.models import QCConfiguration, QCConfigurationVersion

    jobs = tmp_path / "jobs.yaml"
    jobs.write_text((EXAMPLES / "jobs.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    qc = tmp_path / "qc-iagos-standard.yaml"
    text = (EXAMPLES / "qc-iagos-standard.yaml").read_text(encoding="utf-8")
    qc.write_text(text, encoding="utf-8")
    assert main(["job", "load", str(jobs)]) == 0, capsys.readouterr().err
    qc.write_text(text.replace("doubtful_max: 800", "doubtful_max: 700"), encoding="utf-8")
    assert main(["job", "load", str(jobs)]) == 0, capsys.readouterr().err
    assert "updated: QC configuration iagos-standard\n" in capsys.readouterr().out
    assert QCConfiguration.objects.get(name="iagos-standard").version == 2
    assert QCConfigurationVersion.objects.filter(name="iagos-standard").count() == 2
    # a broken text: the load is refused naming the key and the defect, nothing changes
    qc.write_text(text.replace("test: hampel", "test: hampell"), encoding="utf-8")
    assert main(["job", "load", str(jobs)]) == 1
    err = capsys.readouterr().err
    assert "qc_configurations[0].file:" in err and "hampell" in err, err
    assert QCConfiguration.objects.get(name="iagos-standard").version == 2
    qc.unlink()
    assert main(["job", "load", str(jobs)]) == 1
    assert "qc_configurations[0].file:" in capsys.readouterr().err


def test_example_jobs_need_the_responsible_user(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["job", "load", str(EXAMPLES / "jobs.yaml")]) == 1
    assert "responsible: no user named 'pi'" in capsys.readouterr().err
