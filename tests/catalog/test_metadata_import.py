"""Metadata import: YAML -> catalog, idempotent re-import, audit trail, job manager kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import LazySettings

from stratoflow.cli import main
from stratoflow.errors import CatalogError

from ._helpers import metadata_job

METADATA = """
projects:
  - {name: IAGOS, kind: infrastructure}
campaigns:
  - {name: winter-2019, project: IAGOS, start: 2019-01-01, end: 2019-03-01}
aircraft:
  - registration: D-AIGT
    airline: Lufthansa
    type: A340-300
    serial_number: "0354"
    platform: IAGOS-01
    active_from: 2011-07-01T00:00:00Z
locations:
  - {name: avionics bay, aircraft: D-AIGT}
component_types:
  - {name: P1 package, quantity: O3 and CO, units: "1"}
  - {name: O3 photometer, quantity: ozone, units: "1e-9"}
component_classes:
  - {name: instrument}
  - {name: sensor}
components:
  - {type: P1 package, class: instrument, serial: P1-001}
  - {type: O3 photometer, class: sensor, serial: S-7, status: operational}
installations:
  - {component: O3 photometer/S-7, parent: P1 package/P1-001, from: 2019-01-01}
deployments:
  - instrument: P1 package/P1-001
    aircraft: D-AIGT
    location: avionics bay
    campaign: winter-2019
    start: 2019-01-02T00:00:00Z
    end: 2019-02-01T00:00:00Z
calibrations:
  - component: O3 photometer/S-7
    time: 2019-01-01T06:00:00Z
    function: linear
    parameters: {offset: {value: 0.5, units: "1e-9"}, slope: {value: 1.01, units: "1"}}
  - component: O3 photometer/S-7
    time: 2019-02-03T06:00:00Z
    function: linear
    parameters: {offset: {value: 0.7, units: "1e-9"}, slope: {value: 1.02, units: "1"}}
"""


@pytest.mark.django_db
def test_reimport_changes_nothing_and_changes_are_audited(tmp_path: Path) -> None:
    from stratoflow.server.catalog.metadata import metadata_import_file
    from stratoflow.server.catalog.models import Component, Deployment, MetadataChange
    from stratoflow.server.catalog.selectors import calibrations_for_deployment

    path = tmp_path / "fleet.yaml"
    path.write_text(METADATA)
    first = metadata_import_file(path, who="alice")
    assert first.created["components"] == 2 and first.created["calibrations"] == 2
    n_changes = MetadataChange.objects.count()
    assert n_changes == len(first.changes) == 14

    again = metadata_import_file(path, who="bob")
    assert not again.changed and again.unchanged["calibrations"] == 2
    assert MetadataChange.objects.count() == n_changes

    deployment = Deployment.objects.get()
    pre, post = calibrations_for_deployment(
        deployment, component=Component.objects.get(serial_number="S-7")
    )
    assert pre is not None and post is not None
    assert pre.parameters["slope"]["value"] == 1.01 and post.parameters["slope"]["value"] == 1.02

    path.write_text(
        METADATA.replace("{value: 1.02,", "{value: 1.03,").replace(
            "serial: S-7, status: operational", "serial: S-7, status: defective"
        )
    )
    third = metadata_import_file(path, who="carol")
    assert third.updated == {"components": 1, "calibrations": 1}
    log = list(MetadataChange.objects.filter(who="carol").order_by("id"))
    assert [(c.model, c.action) for c in log] == [
        ("Component", "update"),
        ("Calibration", "update"),
    ]
    assert log[0].changes == {"status": ["operational", "defective"]}
    assert log[1].changes["parameters"][1]["slope"]["value"] == 1.03
    assert log[1].source.startswith("fleet.yaml@") and log[1].at is not None


@pytest.mark.django_db
def test_bad_metadata_is_rejected_whole(tmp_path: Path) -> None:
    from stratoflow.server.catalog.metadata import metadata_import_file
    from stratoflow.server.catalog.models import Component, MetadataChange

    path = tmp_path / "bad.yaml"
    path.write_text(
        METADATA.replace(
            "deployments:\n",
            "deployments:\n  - {instrument: P1 package/P1-001, aircraft: D-AIGT, "
            "start: 2019-01-20T00:00:00Z}\n",
        )
    )
    with pytest.raises(CatalogError, match=r"bad\.yaml.*deployments.*overlaps"):
        metadata_import_file(path, who="alice")
    assert Component.objects.count() == 0 and MetadataChange.objects.count() == 0
    path.write_text("components:\n  - {type: nope, class: x, serial: 1}\n")
    with pytest.raises(CatalogError, match=r"components\[0\]: unknown ComponentType"):
        metadata_import_file(path, who="alice")
    path.write_text("instruments: []\n")
    with pytest.raises(CatalogError, match="unknown section"):
        metadata_import_file(path, who="alice")
    path.write_text("components: [{type: nope\n")  # PyYAML's message spans several lines
    with pytest.raises(CatalogError) as info:
        metadata_import_file(path, who="alice")
    assert str(info.value).startswith(f"{path}: metadata: line 2, column 1: not valid YAML: ")
    assert "\n" not in str(info.value)


@pytest.mark.django_db(transaction=True)
def test_metadata_manager_kind_in_a_job_and_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], settings: LazySettings
) -> None:
    from stratoflow.server.catalog.models import Component
    from stratoflow.server.workflow.managers import get
    from stratoflow.server.workflow.services import job_run

    settings.STAGING_DIR = tmp_path / "staging"
    folder = tmp_path / "metadata"
    folder.mkdir()
    (folder / "fleet.yaml").write_text(METADATA)
    job = metadata_job(folder, "*.yaml")
    assert get("metadata") is not None
    report = job_run(job)
    assert report.state != "failed", report
    assert Component.objects.count() == 2

    assert main(["import-metadata", str(folder / "fleet.yaml"), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"created": {}' in out and '"calibrations": 2' in out


@pytest.mark.django_db
def test_unquoted_serial_numbers_are_kept_as_written(tmp_path: Path) -> None:
    """YAML 1.1 reads an unquoted ``0354`` as the octal number 236 and ``007`` as 7: the
    component was catalogued under a serial nobody wrote, and a data file naming the
    instrument 'O3 photometer/0354' found nothing (or another component)."""
    from stratoflow.importers.series import _instrument
    from stratoflow.server.catalog.metadata import metadata_import_file
    from stratoflow.server.catalog.models import Aircraft, Component

    path = tmp_path / "catalog.yaml"
    path.write_text(
        "aircraft:\n  - {registration: D-AIGT, serial_number: 0354}\n"
        "component_types: [{name: O3 photometer, units: 1e-9}]\n"
        "component_classes: [{name: sensor}]\n"
        "components:\n"
        "  - {type: O3 photometer, class: sensor, serial: 0354, notes: no}\n"
        "  - {type: O3 photometer, class: sensor, serial: 007, name: 12:30}\n"
    )
    metadata_import_file(path, who="test")
    found = Component.objects.order_by("serial_number")
    assert [(c.serial_number, c.name, c.notes) for c in found] == [
        ("007", "12:30", ""),
        ("0354", "", "no"),
    ]
    assert Aircraft.objects.get().serial_number == "0354"
    assert _instrument("O3 photometer/0354") == found[1]
    assert not metadata_import_file(path, who="test").changed
