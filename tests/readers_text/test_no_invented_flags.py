"""Readers report the flags a file gives, and make up none.

The text readers used to give every variable a ``<var>_flag`` of ``not_validated`` (and
``missing`` where the value was missing), so a CARIBIC or ICARTT file without any flags looked
like one whose provider had flagged every point, and "no flags" could not be told apart from
flags. A variable without flags now has no flag variable; :func:`stratoflow.dataset.flags_of`
reads it as the IAGOS rule has it (no test: not validated).
"""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest

from stratoflow import open_dataset
from stratoflow.dataset import flags_of
from stratoflow.flags import Flag
from stratoflow.readers import DelimitedReader, NasaAmesReader
from stratoflow.readers.nasa_ames import ebas_flags

EBAS = (
    "ebas_nasa_ames/CV0001G.20190101000000.20220502085424.online_crds.carbon_monoxide.air.1y.1h."
    "GB12L_CVO_Picarro_G2401.GB12L_Picarro.lev2.nas"
)
IAGOS = "iagos/IAGOS_timeseries_2019010510370802_L2_3.1.0.nc4"
CO = {"carbon_monoxide", "carbon_monoxide_maximum", "carbon_monoxide_minimum"}


def _flagged(ds: object) -> set[str]:
    names = [str(n) for n in ds.data_vars]  # type: ignore[attr-defined]
    return {n[:-5] for n in names if n.endswith("_flag") and n[:-5] in names}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("caribic_nasa_ames/OM_20200304_591_CPT_MUC_V01_valid0.txt", set()),
        ("nasa_ames_spec/1001.na", set()),
        ("nasa_ames_spec/2160_ndacc.na", set()),
        ("icartt/ACTAMERICA-mrg05-b200_merge_20170121_R0.ict", set()),
        ("icartt/ACTAMERICA-mrg05-b200_merge_20170121_R0.nc", set()),
        (EBAS, {*CO, "carbon_monoxide_stddev"}),  # its numflag column, not end_time
    ],
)
def test_only_variables_the_file_flags_have_flags(
    shared_data: Path, name: str, expected: set[str]
) -> None:
    ds = open_dataset(shared_data / name)
    assert _flagged(ds) == expected
    for var in [str(n) for n in ds.data_vars if str(n) not in expected]:
        values = np.asarray(ds[var].values)
        if values.dtype.kind == "f":  # read by the IAGOS rule: no test, not validated
            derived = flags_of(ds, var)
            assert set(derived[~np.isnan(values)]) <= {Flag.NOT_VALIDATED}, var


@pytest.mark.parametrize(
    ("preset", "name"), [("fairo_omc", "11_30_04.OMC"), ("fairo_hal", "11_30_01.HAL")]
)
def test_an_instrument_log_has_no_flags(shared_data: Path, preset: str, name: str) -> None:
    ds = DelimitedReader(preset=preset).read(shared_data / "fairo_raw" / name)
    assert _flagged(ds) == set()


def test_iagos_flags_are_those_of_the_file(shared_data: Path) -> None:
    with netCDF4.Dataset(shared_data / IAGOS) as nc:
        given = {n[: -len("_validity_flag")] for n in nc.variables if n.endswith("_validity_flag")}
    assert given
    assert _flagged(open_dataset(shared_data / IAGOS)) == given


def _ebas_level(shared_data: Path, target: Path, level: str) -> Path:
    raw = (shared_data / EBAS).read_bytes()
    line = b"Data level:                   2\r\n"
    assert line in raw
    target.write_bytes(raw.replace(line, f"Data level:                   {level}\r\n".encode()))
    return target


@pytest.mark.parametrize("level", ["0", "1", "1.5"])
def test_an_ebas_value_without_flag_is_good_only_when_quality_assured(
    shared_data: Path, tmp_path: Path, level: str
) -> None:
    """numflag 0 ('no flag') was read as good in every EBAS file; only data level 2 is
    quality assured by a person: in raw or automatically processed levels nobody judged it."""
    assured = NasaAmesReader().read(shared_data / EBAS)
    raw = NasaAmesReader().read(_ebas_level(shared_data, tmp_path / "lev.nas", level))
    numflag = assured["numflag"].values
    unflagged = (numflag == 0) & ~np.isnan(assured["carbon_monoxide"].values)
    assert unflagged.sum() > 1000
    assert (assured["carbon_monoxide_flag"].values[unflagged] == Flag.GOOD).all()
    assert (raw["carbon_monoxide_flag"].values[unflagged] == Flag.NOT_VALIDATED).all()
    others = ~unflagged
    np.testing.assert_array_equal(
        raw["carbon_monoxide_flag"].values[others], assured["carbon_monoxide_flag"].values[others]
    )


def test_a_missing_numflag_is_no_verdict() -> None:
    assert ebas_flags(np.array([np.nan, 0.0])).tolist() == [Flag.NOT_VALIDATED, Flag.GOOD]


def _two_groups(path: Path) -> Path:
    """An EBAS file with two flag groups: 'a' flagged by the first numflag, 'b' by the second."""
    head = [
        "Doe, Jane", "NO01L, Test Lab", "Doe, Jane", "Test", "1 1", "2020 01 01 2020 06 01",
        "0.041667", "days from file reference point", "5", "1 1 1 1 1",
        "999.999999 9999.9 9.999 9999.9 9.999",
        "end_time of measurement, days from the file reference point",
        "ozone, nmol/mol", "numflag, no unit", "carbon_monoxide, nmol/mol", "numflag, no unit",
        "0", "4", "Data definition:     EBAS_1.1", "Timezone:            UTC",
        "Data level:          2", "starttime endtime O3 flag CO flag",
    ]  # fmt: skip
    rows = ["0.000000 0.041667 30.1 0.000 80.2 0.456", "0.041667 0.083333 31.0 0.147 81.0 0.000"]
    path.write_text("\n".join([f"{len(head) + 1} 1001", *head, *rows]) + "\n")
    return path


def test_each_numflag_column_flags_the_variables_before_it(tmp_path: Path) -> None:
    """Every flagged variable listed every numflag column of the file as its ancillary
    variable, and a numflag's long_name named the variables of earlier groups too."""
    ds = NasaAmesReader().read(_two_groups(tmp_path / "two.nas"))
    assert ds["ozone_flag"].values.tolist() == [Flag.GOOD, Flag.LIMITED]
    assert ds["carbon_monoxide_flag"].values.tolist() == [Flag.BAD, Flag.GOOD]
    assert ds["ozone"].attrs["ancillary_variables"].split() == ["ozone_flag", "numflag"]
    assert ds["carbon_monoxide"].attrs["ancillary_variables"].split() == [
        "carbon_monoxide_flag",
        "numflag_2",
    ]
    assert ds["numflag"].attrs["long_name"] == "EBAS numflag of ozone"
    assert ds["numflag_2"].attrs["long_name"] == "EBAS numflag of carbon_monoxide"
    assert "end_time_flag" not in ds
