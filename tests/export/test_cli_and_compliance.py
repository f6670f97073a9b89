"""``stratoflow export`` on the test database, and compliance-checker on exported files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from stratoflow import open_dataset
from stratoflow.cli import main

from ._flights import Imported, approve

pytestmark = pytest.mark.django_db

Check = Callable[[Path], dict[str, dict[str, list[str]]]]


def test_cli_exports_and_reports_json(
    imported: Imported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.exports.models import ExportRecord

    out = tmp_path / "out"
    args = ["export", "--flight", imported.identifier, "--format", "netcdf", "--out", str(out)]
    assert main(args) == 1  # not released yet
    assert "released to L1" in capsys.readouterr().err
    approve(imported.identifier)
    assert (
        main(
            [
                *args,
                "--resample",
                "1min",
                "--aggregate",
                "majority",
                "--valid",
                "good,limited",
                "--variables",
                "O3_P1,CO_P1",
                "--json",
            ]
        )
        == 0
    )
    (item,) = json.loads(capsys.readouterr().out)
    assert item["version"] == 1 and Path(item["file"]).is_file()
    assert {s["variable"] for s in item["series"]} == {"O3_P1", "CO_P1"}
    record = ExportRecord.objects.get(pk=item["record"])
    assert record.processing == {
        "resample": "1min",
        "aggregate": "majority",
        "valid_flags": ["good", "limited"],
        "ddof": 1,
    }
    assert record.requested_by.startswith("cli:") and record.state == "written"
    ds = open_dataset(item["file"])
    assert {"O3_P1_std", "O3_P1_count", "O3_P1_flag", "CO_P1"} <= set(ds.data_vars)
    assert main([*args, "--resample", "ten seconds"]) == 1
    assert "resolution" in capsys.readouterr().err


def test_cli_refuses_what_it_cannot_do_as_asked(
    imported: Imported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Options that would be ignored, a file as --out, a variable nobody stored: said so."""
    approve(imported.identifier)
    args = ["export", "--flight", imported.identifier, "--format", "csv"]
    assert main([*args, "--out", str(tmp_path), "--aggregate", "majority"]) == 1
    assert "--aggregate only applies to resampled exports" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path), "--valid", "good"]) == 1
    assert "--valid only applies" in capsys.readouterr().err
    afile = tmp_path / "exports.txt"
    afile.write_text("keep me")
    assert main([*args, "--out", str(afile)]) == 1
    err = capsys.readouterr().err
    assert "is a file" in err and "Traceback" not in err and afile.read_text() == "keep me"
    assert main([*args, "--out", str(tmp_path / "o"), "--variables", "NOPE,O3_P1"]) == 0
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "o"), "--variables", "NOPE"]) == 1
    err = capsys.readouterr().err
    assert "no series of variable(s) NOPE" in err and "O3_P1" in err


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["netcdf", "iagos-netcdf"])
@pytest.mark.parametrize("resample", [None, "10s"])
def test_exported_netcdf_passes_compliance_checker(
    imported: Imported, tmp_path: Path, compliance: Check, fmt: str, resample: str | None
) -> None:
    from stratoflow.exporters.export import ExportOptions, export
    from stratoflow.exporters.selection import Selection

    approve(imported.identifier)
    (record,) = export(
        Selection(flights=(imported.identifier,)),
        ExportOptions(format=fmt, resample=resample),
        tmp_path,
    )
    findings = compliance(tmp_path / record.file_name)
    assert findings["cf:1.8"] == {
        "high_priorities": [],
        "medium_priorities": [],
        "low_priorities": [],
    }
    assert findings["acdd:1.3"]["high_priorities"] == []


def test_a_flight_id_cannot_write_outside_the_export_directory(
    imported: Imported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The identifier comes from a data file; '../' in it must not name a folder."""
    from stratoflow.server.catalog.models import Flight

    evil = "../../escaped/flight"
    Flight.objects.filter(identifier=imported.identifier).update(identifier=evil)
    approve(evil)
    out = tmp_path / "deep" / "out"
    args = ["export", "--flight", evil, "--format", "csv", "--out", str(out), "--json"]
    assert main(args) == 0
    (item,) = json.loads(capsys.readouterr().out)
    written = Path(item["file"])
    assert written.parent == out and written.is_file()
    assert written.name.startswith("_.._escaped_flight_L1_v1")
    assert not (tmp_path / "escaped").exists()
