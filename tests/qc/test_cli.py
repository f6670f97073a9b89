"""``stratoflow qc FILE --out OUT.nc``: real files in, real netCDF out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import stratoflow
from stratoflow.cli import main
from stratoflow.dataset import data_variables
from stratoflow.flags import Flag
from stratoflow.samples import generate_flight


@pytest.fixture
def flight_file(tmp_path: Path) -> Path:
    flight = generate_flight(4, step_s=4, hours=1.5)
    return stratoflow.write_dataset(flight.dataset, tmp_path / "flight.nc", writer="netcdf")


def test_qc_writes_flags_and_prints_counts(
    flight_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.nc"
    assert main(["qc", str(flight_file), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["evaluation"] == "worst"
    o3 = summary["variables"]["O3"]["flags"]
    assert o3["bad"] > 0 and o3["missing"] > 0 and o3["good"] > 0
    with xr.open_dataset(out) as ds:
        flags = ds["O3_flag"].values
        assert ds["O3_flag"].attrs["flag_meanings"].split()[0] == "good"
        assert int((flags == Flag.BAD).sum()) == o3["bad"]


def test_qc_text_output_and_config_errors(
    flight_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.nc"
    assert main(["qc", str(flight_file), "--out", str(out), "--evaluation", "critical"]) == 0
    text = capsys.readouterr().out
    assert "evaluation: critical" in text and "O3" in text and "not_validated" in text
    bad = tmp_path / "qc.yaml"
    bad.write_text("O3:\n  tests:\n    - test: gross_range\n      bad_max: high\n", "utf-8")
    assert main(["qc", str(flight_file), "--config", str(bad), "--out", str(out)]) == 1
    assert "O3.tests[0].bad_max: must be a number" in capsys.readouterr().err
    only_o3 = tmp_path / "o3.yaml"
    only_o3.write_text("O3:\n  tests:\n    - test: gross_range\n      bad_max: 500\n", "utf-8")
    assert main(["qc", str(flight_file), "--config", str(only_o3), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "not judged, no profile of the configuration matches: " in text and "CO" in text
    assert "shipped defaults" not in text  # the user gave the configuration


@pytest.mark.parametrize(
    "relative",
    [
        "caribic_nasa_ames/OM_20200304_591_CPT_MUC_V01_valid0.txt",
        "caribic_nasa_ames/OM_20200304_591_CPT_MUC_V01_valid1.txt",  # a variable named 'Özone'
        "icartt/ACTAMERICA-mrg05-b200_merge_20170121_R0.ict",
        "fairo_raw/11_30_04.OMC",
        "nasa_ames_spec/2160_ndacc.na",  # a sonde: 'Pressure', 'Temperature', 'GPS_latitude'
        "fairo_raw/11_30_01.T_P",  # instrument housekeeping only: nothing matches a profile
    ],
)
def test_qc_runs_on_every_kind_of_real_file(
    relative: str, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever a reader reads, qc judges and writes: source names that are no CF names
    (accents, spaces) are written as CF names, their text kept in long_name."""
    source = shared_data / relative
    read = stratoflow.open_dataset(source)
    out = tmp_path / "out.nc"
    assert main(["qc", str(source), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    judged, unmatched = set(summary["variables"]), set(summary["unmatched"])
    assert judged | unmatched == set(data_variables(read)) and not judged & unmatched
    assert bool(judged) == (not relative.endswith(".T_P"))
    with xr.open_dataset(out) as ds:
        long_names = {str(v.attrs.get("long_name")) for v in ds.data_vars.values()}
        for name, counts in summary["variables"].items():
            assert sum(counts["flags"].values()) == read.sizes["time"], name
            assert name in ds.data_vars or any(name in text for text in long_names), name


@pytest.mark.parametrize("writer", ["netcdf", "nasa_ames"])
def test_qc_keeps_the_files_own_flags(
    writer: str, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file with flags of its own (the real IAGOS L2 file, a PI's 'erroneous' marks added;
    the same data as NASA Ames flag columns): qc keeps them as <var>_provider_flag and never
    writes a point the provider judged better than the provider did."""
    real = stratoflow.open_dataset(
        shared_data / "iagos/IAGOS_timeseries_2019010510370802_L2_3.1.0.nc4"
    )
    ds = real[["O3_P1", "O3_P1_flag", "CO_P1", "CO_P1_flag"]]
    marked = ds["O3_P1_flag"].values.copy()
    marked[1000:1100] = Flag.BAD  # the PI's verdict on a stretch of good-looking data
    marked[2000:2050] = Flag.LIMITED
    ds["O3_P1_flag"].values[:] = marked
    suffix = {"netcdf": ".nc", "nasa_ames": ".na"}[writer]
    source = stratoflow.write_dataset(ds, tmp_path / f"provider{suffix}", writer=writer)
    given = stratoflow.open_dataset(source)
    np.testing.assert_array_equal(given["O3_P1_flag"].values, marked)  # the file carries them

    out = tmp_path / "qc.nc"
    assert main(["qc", str(source), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    back = stratoflow.open_dataset(out)
    np.testing.assert_array_equal(back["O3_P1_provider_flag"].values, marked)
    assert "O3_P1_provider_flag" in back["O3_P1"].attrs["ancillary_variables"].split()
    final = back["O3_P1_flag"].values
    assert set(final[1000:1100].tolist()) <= {Flag.BAD, Flag.MISSING}
    assert Flag.GOOD not in final[2000:2050]
    assert (final[marked == Flag.MISSING] == Flag.MISSING).all()
    judged = marked != Flag.NOT_VALIDATED
    severity = {0: 0, 4: 1, 2: 2, 3: 3, 7: 4}
    rank = np.vectorize(severity.__getitem__)
    assert (rank(final[judged]) >= rank(marked[judged])).all()
    o3 = summary["variables"]["O3_P1"]
    assert o3["flags"]["bad"] == int((final == Flag.BAD).sum())
    assert o3["provider_flags"]["bad"] == 100
    assert o3["qc_flags"]["bad"] < o3["flags"]["bad"]  # our tests alone do not see the PI's


def test_qc_without_flags_in_the_file_writes_the_qc_verdict(
    flight_file: Path, shared_data: Path, tmp_path: Path
) -> None:
    """No flags (a CARIBIC file has none, and the reader makes none up), or only
    'not_validated'/'missing' (no judgement): the QC verdict stands, and no provider variable
    repeats what the combined flag says."""
    out = tmp_path / "out.nc"
    assert main(["qc", str(flight_file), "--out", str(out)]) == 0
    back = stratoflow.open_dataset(out)
    assert "O3_provider_flag" not in back.data_vars
    assert Flag.GOOD in back["O3_flag"].values
    caribic = shared_data / "caribic_nasa_ames/OM_20200304_591_CPT_MUC_V01_valid0.txt"
    read = stratoflow.open_dataset(caribic)
    assert "Ozone_flag" not in read.data_vars
    assert main(["qc", str(caribic), "--out", str(out)]) == 0
    back = stratoflow.open_dataset(out)
    assert not [n for n in back.data_vars if str(n).endswith("_provider_flag")]
    assert Flag.GOOD in back["Ozone_flag"].values
    missing = np.isnan(read["Ozone"].values)
    assert missing.any()
    assert (back["Ozone_flag"].values[missing] == Flag.MISSING).all()
