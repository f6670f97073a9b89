"""Stored QC configurations: admin editing with schema errors, versions, use by name in imports."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pytest
from django.conf import LazySettings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client

from _jobs import transfer_handler
from stratoflow import open_dataset, write_dataset
from stratoflow.errors import QCConfigError
from stratoflow.flags import Flag
from stratoflow.samples import generate_flight

ADD_URL = "/admin/catalog/qcconfiguration/add/"

# O3 above 150 ppb is bad here; the shipped defaults only call it bad above 2000 ppb
TIGHT_O3 = """\
evaluation:
  method: worst
O3:
  match:
    name: ["O3_*"]
  tests:
    - test: gross_range
      id: tight
      critical: false
      doubtful_max: 100
      bad_max: 150
"""

BAD_VALUE = """\
O3:
  match:
    name: ["O3_*"]
  tests:
    - test: missing
    - test: gross_range
      doubtful_max: 100
      bad_max: lots
"""


def _post(client: Client, url: str, **fields: str) -> str:
    data = {"name": "", "description": "", "text": "", "change_comment": "", **fields}
    response = client.post(url, data)
    assert response.status_code in (200, 302), response.status_code
    return response.content.decode() if response.status_code == 200 else ""


def _sample(directory: Path, flight_id: str = "qc-config-1") -> Path:
    """A generated IAGOS-like flight as netCDF: O3_P1 spans ~40-250 ppb over 851 points."""
    path = directory / f"IAGOS_timeseries_{flight_id}.nc"
    ds = generate_flight(seed=11, origin="FRA", destination="MUC", step_s=4).dataset
    ds.attrs["flight_id"] = flight_id
    write_dataset(ds, path, writer="netcdf", layout="iagos")
    return path


def _o3_flags(flight: str) -> np.ndarray:
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.review.stored import stored_qc

    series = Series.objects.get(flight__identifier=flight, variable="O3_P1", is_current=True)
    return stored_qc(series).flags


# --- validation without a database --------------------------------------------------------


def test_schema_error_names_the_key_and_its_line() -> None:
    from stratoflow.server.catalog.qc_configurations import qc_text_parse

    with pytest.raises(QCConfigError) as info:
        qc_text_parse(BAD_VALUE)
    assert str(info.value) == (
        "QC configuration: line 8, column 7: O3.tests[1].bad_max: must be a number"
    )
    assert BAD_VALUE.splitlines()[7].strip() == "bad_max: lots"


def test_yaml_syntax_error_names_line_and_column() -> None:
    from stratoflow.server.catalog.qc_configurations import qc_text_parse

    with pytest.raises(
        QCConfigError, match=r"^QC configuration: line 4, column \d+: not valid YAML"
    ):
        qc_text_parse("O3:\n  tests:\n    - test: missing\n   bad: [1, 2\n")


def test_unknown_test_points_at_its_entry() -> None:
    from stratoflow.server.catalog.qc_configurations import qc_text_parse

    text = "CO:\n  tests:\n    - test: missing\n    - test: no_such_test\n"
    with pytest.raises(
        QCConfigError, match=r"^QC configuration: line 4, column 7: CO\.tests\[1\]\.test: "
    ):
        qc_text_parse(text)


# --- admin -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_add_starts_from_the_shipped_defaults(admin_client: Client) -> None:
    from stratoflow.server.catalog.qc_configurations import default_text

    page = html.unescape(admin_client.get(ADD_URL).content.decode())
    assert default_text().strip() in page
    assert "font-family: monospace" in page


@pytest.mark.django_db
def test_admin_refuses_invalid_yaml_naming_the_key(admin_client: Client) -> None:
    from stratoflow.server.catalog.models import QCConfiguration

    page = _post(admin_client, ADD_URL, name="broken", text=BAD_VALUE)
    assert (
        "QC configuration 'broken': line 8, column 7: O3.tests[1].bad_max: must be a number"
        in html.unescape(page)
    )
    assert 'class="errorlist' in page
    page = _post(admin_client, ADD_URL, name="broken", text="O3: [1, 2\n")
    assert "QC configuration 'broken': line 2, column 1: not valid YAML" in html.unescape(page)
    page = _post(admin_client, ADD_URL, name="not/a name", text=TIGHT_O3)
    assert "no &#x27;/&#x27;" in page or "no '/'" in html.unescape(page)
    assert not QCConfiguration.objects.exists()


@pytest.mark.django_db
def test_admin_refuses_yaml_that_contains_itself_or_explodes(admin_client: Client) -> None:
    from stratoflow.server.catalog.models import QCConfiguration

    for text, says in [
        ("O3: &v\n  tests: [*v]\n", "contains itself"),
        ("variables: &v {O3: *v}\n", "contains itself"),
        (
            "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
            + "".join(
                f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n"
                for p, c in zip("abcd", "bcde", strict=True)
            )
            + "O3:\n  tests:\n    - {test: missing, fill_values: *e}\n",
            "billion laughs",
        ),
    ]:
        page = html.unescape(_post(admin_client, ADD_URL, name="self", text=text))
        assert "not valid YAML" in page and says in page, page[-2000:]
    assert not QCConfiguration.objects.exists()


def test_admin_add_and_change_keep_versions(admin_client: Client) -> None:
    from stratoflow.server.catalog.models import QCConfiguration, QCConfigurationVersion

    assert _post(admin_client, ADD_URL, name="tight-o3", text=TIGHT_O3) == ""
    config = QCConfiguration.objects.get(name="tight-o3")
    admin = User.objects.get(username="admin")
    assert (config.version, config.updated_by) == (1, admin)
    first = QCConfigurationVersion.objects.get(configuration=config)
    assert (first.version, first.text, first.created_by) == (1, TIGHT_O3, admin)

    url = f"/admin/catalog/qcconfiguration/{config.pk}/change/"
    page = html.unescape(admin_client.get(url).content.decode())
    # the read-only summary: profile, what it matches, its tests
    assert "O3_*" in page and "tight (gross_range), non-critical" in page

    # a description-only change is no new version
    _post(admin_client, url, name="tight-o3", description="for P1", text=TIGHT_O3)
    assert QCConfigurationVersion.objects.filter(configuration=config).count() == 1

    changed = TIGHT_O3.replace("bad_max: 150", "bad_max: 120")
    assert _post(admin_client, url, name="tight-o3", text=changed, change_comment="new") == ""
    config.refresh_from_db()
    assert config.version == 2 and config.description == ""
    second = QCConfigurationVersion.objects.get(configuration=config, version=2)
    assert second.comment == "new" and second.text == changed

    # an invalid change is refused and changes nothing
    page = _post(admin_client, url, name="tight-o3", text=BAD_VALUE)
    assert "O3.tests[1].bad_max: must be a number" in html.unescape(page)
    config.refresh_from_db()
    assert config.version == 2 and config.text == changed

    # the version page shows what changed
    page = html.unescape(
        admin_client.get(
            f"/admin/catalog/qcconfigurationversion/{second.pk}/change/"
        ).content.decode()
    )
    assert "-      bad_max: 150" in page and "+      bad_max: 120" in page
    assert admin_client.get("/admin/catalog/qcconfigurationversion/add/").status_code == 403


# --- services and use by name -----------------------------------------------------------


@pytest.mark.django_db
def test_a_configuration_file_given_to_a_job_fails_as_for_stratoflow_qc(tmp_path: Path) -> None:
    """A job's `config: path.yaml` is read like `stratoflow qc --config`: a binary file was a
    UnicodeDecodeError traceback, and its errors are the same line."""
    from stratoflow.qc import load_config
    from stratoflow.server.catalog.qc_configurations import qc_config_resolve

    path = tmp_path / "qc.yaml"
    for content in (b"\x89HDF\r\n\x1a\n\x00", b"O3: [1, 2\n", BAD_VALUE.encode()):
        path.write_bytes(content)
        with pytest.raises(QCConfigError) as job:
            qc_config_resolve(str(path))
        with pytest.raises(QCConfigError) as cli:
            load_config(path)
        assert str(job.value) == str(cli.value)
        assert str(job.value).startswith(f"{path}: QC configuration")


@pytest.mark.django_db
def test_one_default_and_unknown_names_explained() -> None:
    from stratoflow.server.catalog.models import QCConfiguration
    from stratoflow.server.catalog.qc_configurations import (
        BUILTIN_NAME,
        qc_config_resolve,
        qc_configuration_save,
    )

    assert qc_config_resolve(None).record["name"] == BUILTIN_NAME
    a = QCConfiguration(name="a", text=TIGHT_O3, is_default=True)
    qc_configuration_save(a, user=None)
    b = QCConfiguration(name="b", text=TIGHT_O3, is_default=True)
    qc_configuration_save(b, user=None)
    assert list(QCConfiguration.objects.filter(is_default=True)) == [b]
    assert qc_config_resolve(None).record["name"] == "b"

    with pytest.raises(QCConfigError, match=r"'nope' is neither a stored .*stored: a, b"):
        qc_config_resolve("nope")
    with pytest.raises(QCConfigError, match=r"'a' has no version 5 \(versions: \[1\]\)"):
        qc_config_resolve("a@5")
    with pytest.raises(QCConfigError) as info:
        qc_configuration_save(QCConfiguration(name="c", text=BAD_VALUE), user=None)
    assert str(info.value) == (
        "QC configuration 'c': line 8, column 7: O3.tests[1].bad_max: must be a number"
    )


@pytest.mark.django_db
def test_import_with_a_stored_configuration_by_name(tmp_path: Path) -> None:
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import QCConfiguration, QCConfigurationVersion, QCRun
    from stratoflow.server.catalog.qc_configurations import qc_configuration_save

    path = _sample(tmp_path)
    values = np.asarray(open_dataset(path)["O3_P1"].values, dtype=float)
    finite = np.isfinite(values)
    assert (finite & (values > 150)).sum() > 100  # the tight limit matters on this flight

    default = import_file(path, identity="portal/default")
    default_bad = int((_o3_flags(default.flight) == int(Flag.BAD)).sum())
    run = QCRun.objects.get(series__variable="O3_P1", is_current=True)
    assert run.config["qc_configuration"]["source"] == "builtin"
    assert "qc_config" not in run.config  # the review code falls back to the shipped file

    config = QCConfiguration(name="tight-o3", text=TIGHT_O3)
    qc_configuration_save(config, user=None, comment="first")
    # the same values as another flight, QC'd with the stored configuration
    copy = _sample(tmp_path, "qc-config-2")
    tight = import_file(copy, identity="portal/tight", qc={"config": "tight-o3"})
    assert (default.flight, tight.flight) == ("qc-config-1", "qc-config-2")
    flags = _o3_flags(tight.flight)
    assert (flags[finite & (values > 150)] == int(Flag.BAD)).all()
    assert int((flags == int(Flag.BAD)).sum()) > default_bad + 100

    run = QCRun.objects.get(
        series__flight__identifier=tight.flight, series__variable="O3_P1", is_current=True
    )
    version = QCConfigurationVersion.objects.get(configuration=config, version=1)
    recorded = run.config["qc_configuration"]
    assert recorded == {
        "source": "stored",
        "name": "tight-o3",
        "version": 1,
        "version_id": version.pk,
        "checksum": version.checksum,
    }
    assert run.config["qc_config"]["O3"]["tests"][0]["bad_max"] == 150
    assert [t.test for t in run.test_results.all()] == ["tight"]


@pytest.mark.django_db
def test_recorded_configuration_drives_reevaluation_and_pinned_versions(tmp_path: Path) -> None:
    """The run's recorded configuration says the tight test is non-critical: the 'critical'
    evaluation (review code, from stored results) then gives limited instead of bad."""
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Flight, QCConfiguration
    from stratoflow.server.catalog.qc_configurations import qc_configuration_save
    from stratoflow.server.review.services import flight_reevaluate

    path = _sample(tmp_path)
    values = np.asarray(open_dataset(path)["O3_P1"].values, dtype=float)
    high = np.isfinite(values) & (values > 150)
    config = QCConfiguration(name="tight-o3", text=TIGHT_O3)
    qc_configuration_save(config, user=None)
    config.text = TIGHT_O3.replace("bad_max: 150", "bad_max: 5000")
    assert qc_configuration_save(config, user=None) is not None
    assert config.version == 2

    # name@1 pins the first text, though the configuration has moved on
    result = import_file(path, identity="portal/pinned", qc={"config": "tight-o3@1"})
    assert (_o3_flags(result.flight)[high] == int(Flag.BAD)).all()
    flight = Flight.objects.get(identifier=result.flight)
    flight_reevaluate(flight, user=None, method="critical")
    assert (_o3_flags(result.flight)[high] == int(Flag.LIMITED)).all()


@pytest.mark.django_db
def test_task_manager_must_name_a_stored_configuration() -> None:
    from stratoflow.server.catalog.models import QCConfiguration
    from stratoflow.server.catalog.qc_configurations import qc_configuration_save
    from stratoflow.server.workflow.models import Job, TaskManager

    job = Job.objects.create(name="ozone")
    manager = TaskManager(
        job=job, name="import", kind=TaskManager.Kind.IMPORT, options={"qc": {"config": "tight"}}
    )
    with pytest.raises(ValidationError, match="no stored QC configuration 'tight'"):
        manager.full_clean()
    qc_configuration_save(QCConfiguration(name="tight", text=TIGHT_O3), user=None)
    manager.full_clean()
    manager.options = {"qc": {"config": "tight@2"}}
    with pytest.raises(ValidationError, match="'tight@2'"):
        manager.full_clean()
    manager.options = {"qc": {"config": "/etc/stratoflow/qc.yaml"}}  # paths: checked at run time
    manager.full_clean()


@pytest.mark.django_db(transaction=True)
def test_job_import_uses_the_configuration_its_options_name(
    tmp_path: Path, settings: LazySettings
) -> None:
    """The seed's path: a job's import manager names the configuration; its QC runs record it."""
    from stratoflow.server.catalog.models import QCConfiguration, QCRun
    from stratoflow.server.catalog.qc_configurations import qc_configuration_save
    from stratoflow.server.workflow.models import Job, TaskManager
    from stratoflow.server.workflow.services import job_run

    settings.STAGING_DIR = tmp_path / "staging"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = _sample(inbox, "qc-config-job")
    values = np.asarray(open_dataset(path)["O3_P1"].values, dtype=float)
    qc_configuration_save(QCConfiguration(name="tight-o3", text=TIGHT_O3), user=None)

    transfer = transfer_handler(
        "inbox",
        provider="portal",
        transfer_type="local",
        auth="none",
        transfer_options={"root": str(inbox), "pattern": "*.nc"},
    )
    job = Job.objects.create(name="ozone")
    manager = TaskManager(
        job=job,
        name="import",
        kind="import",
        transfer=transfer,
        options={"review": False, "qc": {"config": "tight-o3"}},
    )
    manager.full_clean()
    manager.save()
    assert job_run(job).state == "succeeded"

    flags = _o3_flags("qc-config-job")
    assert (flags[np.isfinite(values) & (values > 150)] == int(Flag.BAD)).all()
    run = QCRun.objects.get(series__variable="O3_P1", is_current=True)
    assert run.config["qc_configuration"]["name"] == "tight-o3"
    assert run.config["qc_configuration"]["version"] == 1
