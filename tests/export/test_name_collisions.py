"""Variable names that become one when a writer makes them fit its format.

Found by a real run: CARIBIC flight 591 imported from two files that name its ozone ``Ozone``
and ``Özone`` could not be exported at all as netCDF, IAGOS netCDF or ICARTT: both names
became ``Ozone`` and the writers refused ("renames collide"). They are now told apart
deterministically (the name the format takes as it is keeps it, the next in name order gets
``_2``...), each flag stays with its variable, the source's name is kept in the file, and our
readers read the pairs back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from stratoflow import open_dataset, write_dataset
from stratoflow.dataset import make_dataset
from stratoflow.errors import ConfigError
from stratoflow.flags import Flag
from stratoflow.writers import NetcdfWriter

CARIBIC = "caribic_nasa_ames/OM_20200304_591_CPT_MUC_V01_valid{}.txt"

#: writer name and options of each format, and the suffix of its files
FORMATS: dict[str, tuple[str, dict[str, Any], str]] = {
    "netcdf": ("netcdf", {}, ".nc"),
    "iagos-netcdf": ("netcdf", {"layout": "iagos"}, ".nc"),
    "icartt": ("icartt", {}, ".ict"),
    "nasa-ames": ("nasa_ames", {}, ".na"),
    "csv": ("csv", {}, ".csv"),
}


def _flags(values: np.ndarray[Any, Any], bad: int) -> np.ndarray[Any, Any]:
    """Good where there is a value, missing where not, ``bad`` marked bad: each variable's
    flags differ, so a flag paired with the wrong variable shows."""
    codes = np.where(np.isnan(values), Flag.MISSING, Flag.GOOD).astype(np.uint8)
    codes[bad] = Flag.BAD
    return codes


def _twins(shared_data: Path) -> xr.Dataset:
    """Flight 591 as both CARIBIC files give it: ``Ozone`` and ``Özone``, with flags."""
    one, other = (open_dataset(shared_data / CARIBIC.format(i)) for i in (0, 1))
    assert list(one.data_vars) == ["Ozone"] and list(other.data_vars) == ["Özone"]
    np.testing.assert_array_equal(one["time"].values, other["time"].values)
    ozone = one["Ozone"].values
    ozone2 = other["Özone"].values + 1.0  # told apart by their values too
    return make_dataset(
        one["time"].values,
        {
            "Özone": (ozone2, dict(other["Özone"].attrs)),
            "Ozone": (ozone, dict(one["Ozone"].attrs)),
        },
        flags={"Özone": _flags(ozone2, 0), "Ozone": _flags(ozone, 1)},
        attrs={"flight_id": "591"},
    )


def _pairs(back: xr.Dataset) -> dict[str, tuple[list[float], list[int]]]:
    """Each measured variable of ``back`` with its values and the flags paired with it."""
    out = {}
    for name in map(str, back.data_vars):
        if name.endswith("_flag"):
            continue
        flag = back[f"{name}_flag"].values.tolist() if f"{name}_flag" in back else []
        out[name] = (np.asarray(back[name].values, dtype=float).tolist(), flag)
    return out


def _same_pairs(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got.keys() == want.keys(), (sorted(got), sorted(want))
    for name, (values, flags) in want.items():
        np.testing.assert_array_equal(got[name][0], values, err_msg=name)
        assert got[name][1] == flags, name


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_twins_are_written_by_every_writer_and_read_back_paired(
    fmt: str, shared_data: Path, tmp_path: Path
) -> None:
    """``Ozone`` keeps its name (the format takes it as it is), ``Özone`` is ``Ozone_2``
    where the format wants ASCII names, whatever order the Dataset lists them in; every
    flag comes back with its own variable."""
    writer, options, suffix = FORMATS[fmt]
    ds = _twins(shared_data)
    plain = fmt in ("netcdf", "iagos-netcdf", "icartt")
    second = "Ozone_2" if plain else "Özone"
    want = {
        "Ozone": (ds["Ozone"].values, ds["Ozone_flag"].values.tolist()),
        second: (ds["Özone"].values, ds["Özone_flag"].values.tolist()),
    }
    for i, order in enumerate((ds, ds[list(reversed(list(ds.data_vars)))])):
        path = write_dataset(order, tmp_path / f"f{i}{suffix}", writer=writer, **options)
        back = open_dataset(path)
        _same_pairs(_pairs(back), want)
    if fmt in ("netcdf", "iagos-netcdf"):
        with xr.open_dataset(tmp_path / "f0.nc") as raw:
            assert raw["Ozone_2"].attrs["original_name"] == "Özone"
            assert raw["Ozone_2"].attrs["long_name"] == "Özone volume mixing ratio"
            assert "original_name" not in raw["Ozone"].attrs
    if fmt == "icartt":
        text = (tmp_path / "f0.ict").read_text()
        assert 'Ozone_2, 1e-9, Ozone_2, Ozone volume mixing ratio (source name "\\u00d6zone")' in (
            text
        )


def test_names_never_take_another_variables_name(tmp_path: Path) -> None:
    """The suffix taken is free of every name written: ``Ozone_2`` exists already, so
    ``Özone`` is ``Ozone_3``; its error follows it (``Ozone_3_error``), and so does its flag."""
    times = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:01"], dtype="datetime64[ns]")
    ds = make_dataset(
        times,
        {
            "Özone": (np.array([1.0, 2.0]), {"units": "1e-9"}),
            "Özone_error": (np.array([0.1, 0.2]), {"units": "1e-9"}),
            "Ozone": (np.array([3.0, 4.0]), {"units": "1e-9"}),
            "Ozone_2": (np.array([5.0, 6.0]), {"units": "1e-9"}),
        },
        flags={"Özone": np.array([0, 3], dtype=np.uint8)},
    )
    ds["Özone"].attrs["ancillary_variables"] = "Özone_flag Özone_error"
    back = open_dataset(NetcdfWriter().write(ds, tmp_path / "x.nc"))
    assert back["Ozone_3"].values.tolist() == [1.0, 2.0]
    assert back["Ozone_3_flag"].values.tolist() == [0, 3]
    assert back["Ozone_3_error"].values.tolist() == [0.1, 0.2]
    assert back["Ozone_2"].values.tolist() == [5.0, 6.0]
    assert back["Ozone_3"].attrs["ancillary_variables"].split() == [
        "Ozone_3_flag",
        "Ozone_3_error",
    ]


def test_icartt_tells_apart_names_that_differ_by_case_alone(tmp_path: Path) -> None:
    """ICARTT tools compare names case-insensitively: ``o3`` beside ``O3`` is ``o3_2``."""
    times = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:01"], dtype="datetime64[ns]")
    ds = make_dataset(
        times,
        {
            "o3": (np.array([1.0, 2.0]), {"units": "1e-9"}),
            "O3": (np.array([3.0, 4.0]), {"units": "1e-9"}),
        },
        flags={"o3": np.array([0, 3], dtype=np.uint8), "O3": np.array([2, 0], dtype=np.uint8)},
    )
    back = open_dataset(write_dataset(ds, tmp_path / "x.ict", writer="icartt"))
    _same_pairs(_pairs(back), {"O3": ([3.0, 4.0], [2, 0]), "o3_2": ([1.0, 2.0], [0, 3])})


def test_nasa_ames_writes_source_names_with_blanks(tmp_path: Path) -> None:
    """A CSV column ``O3 (ppb)`` could not be written as NASA Ames at all ("variable name
    cannot be written"); it is ``O3_(ppb)``, and a variable already so named keeps that name."""
    times = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:01"], dtype="datetime64[ns]")
    ds = make_dataset(
        times,
        {
            "O3 (ppb)": (np.array([1.0, 2.0]), {"units": "1e-9"}),
            "O3_(ppb)": (np.array([3.0, 4.0]), {"units": "1e-9"}),
            "CO_": (np.array([5.0, 6.0]), {"units": "1e-9"}),  # a name it holds: as it is
        },
        flags={"O3 (ppb)": np.array([0, 3], dtype=np.uint8)},
    )
    back = open_dataset(write_dataset(ds, tmp_path / "x.na", writer="nasa_ames"))
    want = {"O3_(ppb)": ([3.0, 4.0], []), "O3_(ppb)_2": ([1.0, 2.0], [0, 3])}
    _same_pairs(_pairs(back), {**want, "CO_": ([5.0, 6.0], [])})
    assert back["O3_(ppb)_2"].attrs["long_name"] == "O3 (ppb)"


def test_names_a_user_chose_that_collide_are_still_refused(tmp_path: Path) -> None:
    """A name table is the user's word: two variables given one name is an error naming
    both, and no file is left."""
    times = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:01"], dtype="datetime64[ns]")
    ds = make_dataset(
        times,
        {
            "O3": (np.array([1.0, 2.0]), {"units": "1e-9"}),
            "CO": (np.array([3.0, 4.0]), {"units": "1e-9"}),
        },
    )
    with pytest.raises(ConfigError, match=r"netcdf writer: names collide: 'O3'.*'CO'"):
        NetcdfWriter(layout="iagos", names={"CO": "O3_P1"}).write(ds, tmp_path / "x.nc")
    assert list(tmp_path.iterdir()) == []
    # a source's own name in the way of a chosen one gives way instead
    ds = ds.rename({"O3": "carbon_monoxide"})
    writer = NetcdfWriter(layout="iagos", names={"CO": "carbon_monoxide"})
    with xr.open_dataset(writer.write(ds, tmp_path / "y.nc")) as back:
        assert back["carbon_monoxide"].values.tolist() == [3.0, 4.0]
        assert back["carbon_monoxide_2"].values.tolist() == [1.0, 2.0]
        assert back["carbon_monoxide_2"].attrs["original_name"] == "carbon_monoxide"


def test_netcdf_global_attributes_made_one_name_are_both_kept(tmp_path: Path) -> None:
    """``geospatial:note`` became ``geospatial_note`` and overwrote the attribute of that
    name; the one already so named keeps it, the other is ``geospatial_note_2``."""
    times = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:01"], dtype="datetime64[ns]")
    ds = make_dataset(
        times,
        {"O3": (np.array([1.0, 2.0]), {"units": "1e-9"})},
        attrs={"geospatial:note": "with a colon", "geospatial_note": "plain"},
    )
    with xr.open_dataset(NetcdfWriter().write(ds, tmp_path / "x.nc")) as back:
        assert back.attrs["geospatial_note"] == "plain"
        assert back.attrs["geospatial_note_2"] == "with a colon"


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_the_flight_from_two_caribic_files_is_exported_in_every_format(
    fmt: str, shared_data: Path, tmp_path: Path
) -> None:
    """The real run: both CARIBIC files of flight 591 imported, then exported with every
    format; each file reads back with both ozone series, each with its own flags."""
    from stratoflow.exporters.export import ExportOptions, export
    from stratoflow.exporters.selection import Selection
    from stratoflow.importers.series import import_file

    for i in (0, 1):
        import_file(shared_data / CARIBIC.format(i))
    (record,) = export(Selection(level="any"), ExportOptions(format=fmt), tmp_path / "out")
    back = open_dataset(tmp_path / "out" / record.file_name)
    pairs = _pairs(back)
    second = "Özone" if fmt in ("nasa-ames", "csv") else "Ozone_2"
    assert set(pairs) == {"Ozone", second}, sorted(pairs)
    for name, source in (("Ozone", 0), (second, 1)):
        read = open_dataset(shared_data / CARIBIC.format(source))
        values = np.asarray(read[str(next(iter(read.data_vars)))].values, dtype=float)
        np.testing.assert_array_equal(pairs[name][0], values, err_msg=name)
        expected = np.where(np.isnan(values), int(Flag.MISSING), int(Flag.GOOD)).tolist()
        assert pairs[name][1] == expected, name
    if fmt in ("netcdf", "iagos-netcdf"):
        assert back["Ozone_2"].attrs["original_name"] == "Özone"
    if fmt == "icartt":
        assert "source name" in back["Ozone_2"].attrs["long_name"]
    assert json.dumps(record.series_versions)  # recorded as usual
