"""``stratoflow import``: the same path as the job's import manager; provenance; versions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stratoflow import open_dataset, write_dataset
from stratoflow.cli import main
from stratoflow.samples import generate_flight

from ._helpers import catalog_instrument

pytestmark = pytest.mark.django_db(transaction=True)


def _flight_file(tmp_path: Path, seed: int = 3) -> Path:
    path = tmp_path / "IAGOS_timeseries_sample.nc"
    write_dataset(
        generate_flight(seed=seed, hours=0.5).dataset, path, writer="netcdf", layout="iagos"
    )
    return path


def test_import_prints_created_then_unchanged_and_versions_corrections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.catalog.models import Series, SourceFile

    path = _flight_file(tmp_path)
    assert main(["import", str(path), "--provider", "portal", "--level", "L0", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["created"] and {s["state"] for s in first["series"]} == {"created"}
    variables = {s["variable"] for s in first["series"]}
    assert "O3_P1" in variables and first["points"] > 0

    assert main(["import", str(path), "--provider", "portal"]) == 0
    out = capsys.readouterr().out
    assert f"{len(variables)} series unchanged" in out and "unchanged #" in out
    assert SourceFile.objects.count() == 1

    ds = open_dataset(path)
    ds["O3_P1"].values[5] = 61.0
    corrected = tmp_path / "corrected.nc"
    write_dataset(ds, corrected, writer="netcdf", layout="iagos")
    assert main(["import", str(corrected), "--identity", path.name, "--json", "--no-qc"]) == 0
    third = json.loads(capsys.readouterr().out)
    assert {s["version"] for s in third["series"]} == {2}
    o3 = Series.objects.filter(variable="O3_P1").order_by("version")
    assert [(s.version, s.is_current) for s in o3] == [(1, False), (2, True)]

    provenance = o3[1].provenance
    assert provenance["checksum"] == open_dataset(corrected).attrs["source_checksum"]
    assert provenance["reader"] == "iagos_netcdf" and provenance["stratoflow_version"]
    assert provenance["processing"][-1]["step"] == "basic_flags"


def test_import_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(tmp_path / "absent.nc")]) == 1
    err = capsys.readouterr().err
    assert "absent.nc" in err and "Traceback" not in err
    steps = tmp_path / "steps.yaml"
    steps.write_text("- {step: smooth}\n")
    assert main(["import", str(_flight_file(tmp_path)), "--processing", str(steps)]) == 1
    assert "unknown step 'smooth'" in capsys.readouterr().err


def test_calibration_from_the_catalog_is_applied_and_recorded(tmp_path: Path) -> None:
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.selectors import series_arrays

    path = _flight_file(tmp_path, seed=4)
    raw = open_dataset(path)
    catalog_instrument(
        "O3 photometer/7",
        "instrument",
        aircraft="D-TEST",
        deployed="2000-01-01",
        calibrated="1999-12-31T00:00:00Z",
        offset=2000.0,
        units="1e-12",
    )
    result = import_file(
        path,
        instrument="O3 photometer/7",
        qc=False,
        processing=[{"step": "calibration", "params": {"variable": "O3_P1"}}],
    )
    assert result.result is not None
    o3 = next(s for s in result.result.series if s.variable == "O3_P1")
    assert o3.instrument is not None and o3.deployment is not None
    stored = series_arrays(o3)["value"]
    expected = raw["O3_P1"].values + 2.0  # 2000 ppt offset in the variable's ppb
    assert np.allclose(stored, expected, equal_nan=True)
    step = o3.provenance["processing"][0]
    assert step["step"] == "calibration" and step["params"]["pre"]["function"] == "linear"


def test_a_flight_id_with_separators_becomes_a_safe_identifier(tmp_path: Path) -> None:
    """The id names review pages and export files: '/' would break both."""
    from stratoflow.importers.series import import_file

    flight = generate_flight(seed=4, hours=0.1)
    ds = flight.dataset
    ds.attrs["flight_id"] = "../LH400/2024\\x"
    path = write_dataset(ds, tmp_path / "slash.nc", writer="netcdf")
    assert import_file(path, qc=False).flight == ".._LH400_2024_x"


def test_import_with_qc_after_a_no_qc_import_checks_the_series_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.catalog.models import QCRun, Series

    path = _flight_file(tmp_path, seed=5)
    assert main(["import", str(path), "--no-qc", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["created"] and sum(first["flags"].values()) == 0
    assert QCRun.objects.count() == 0

    assert main(["import", str(path), "--json"]) == 0  # unchanged file, QC asked for now
    second = json.loads(capsys.readouterr().out)
    assert not second["created"]
    assert QCRun.objects.count() == Series.objects.count() > 0
    assert second["flags"]["good"] > 0 and second["flags"]["bad"] > 0  # the sample has faults

    assert main(["import", str(path), "--json"]) == 0  # checked already: nothing re-run
    third = json.loads(capsys.readouterr().out)
    assert QCRun.objects.count() == Series.objects.count()
    assert third["flags"] == second["flags"]  # the current QC verdict, not zeros
