"""Import -> export -> read back: native values and flags bit-exact, resampled = pandas.

Flights go through the real path: sample generator -> IAGOS netCDF file -> reader -> importer
with QC -> PI approval -> exporter -> writer -> our reader, xarray, nappy, icartt.
"""

from __future__ import annotations

from pathlib import Path

import icartt
import nappy
import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest
import xarray as xr

from stratoflow import open_dataset

from ._flights import Imported, approve

pytestmark = pytest.mark.django_db


def _stored(identifier: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(time, value, final flag) of every current series, straight from the database."""
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.catalog.selectors import series_arrays, series_qc_flags

    out = {}
    for s in Series.objects.filter(flight__identifier=identifier, is_current=True):
        a = series_arrays(s)
        qc = series_qc_flags(s)
        out[s.variable] = (a["time"], a["value"], qc if qc is not None else a["flag"])
    return out


def _export(tmp_path: Path, identifier: str, fmt: str, **options: object) -> Path:
    from stratoflow.exporters.export import ExportOptions, export
    from stratoflow.exporters.selection import Selection

    records = export(
        Selection(flights=(identifier,)),
        ExportOptions(format=fmt, **options),
        tmp_path / fmt,  # type: ignore[arg-type]
    )
    assert len(records) == 1
    return tmp_path / fmt / records[0].file_name


@pytest.mark.parametrize("fmt", ["netcdf", "iagos-netcdf", "nasa-ames", "icartt"])
def test_native_round_trip_is_exact(imported: Imported, tmp_path: Path, fmt: str) -> None:
    approve(imported.identifier)
    stored = _stored(imported.identifier)
    path = _export(tmp_path, imported.identifier, fmt)
    back = open_dataset(path)
    assert set(stored) <= set(back.data_vars)
    for name, (time, value, flag) in stored.items():
        assert np.array_equal(back["time"].values, time)
        assert back[name].values.tobytes() == value.tobytes(), name
        assert np.array_equal(back[f"{name}_flag"].values, flag), name
    assert (back["O3_P1_flag"].values == 3).any()  # QC flags, not the source's 'not validated'


def test_csv_reads_back_with_pandas(imported: Imported, tmp_path: Path) -> None:
    approve(imported.identifier)
    stored = _stored(imported.identifier)
    frame = pd.read_csv(_export(tmp_path, imported.identifier, "csv"), comment="#")
    times = pd.to_datetime(frame["time"]).dt.tz_convert(None).values.astype("datetime64[ns]")
    for name, (time, value, flag) in stored.items():
        assert np.array_equal(times, time)
        assert frame[name].to_numpy(dtype=np.float64).tobytes() == value.tobytes()
        assert np.array_equal(frame[f"{name}_flag"].to_numpy(), flag)


@pytest.mark.parametrize("fmt", ["netcdf", "iagos-netcdf"])
def test_xarray_reads_the_same_values(imported: Imported, tmp_path: Path, fmt: str) -> None:
    approve(imported.identifier)
    stored = _stored(imported.identifier)
    path = _export(tmp_path, imported.identifier, fmt)
    time_name = "UTC_time" if fmt == "iagos-netcdf" else "time"
    suffix = "_validity_flag" if fmt == "iagos-netcdf" else "_flag"
    with xr.open_dataset(path) as ds:
        for name, (time, value, flag) in stored.items():
            assert np.array_equal(ds[time_name].values, time)
            assert ds[name].values.tobytes() == value.tobytes()
            assert np.array_equal(ds[name + suffix].values, flag.astype(np.int8))


def test_nasa_ames_and_icartt_read_back_by_their_own_libraries(
    imported: Imported, tmp_path: Path
) -> None:
    approve(imported.identifier)
    stored = _stored(imported.identifier)
    names = sorted(stored)
    na = nappy.openNAFile(str(_export(tmp_path, imported.identifier, "nasa-ames")))
    na.readData()
    columns = {
        str(v[0]).split(";")[0].strip(): np.asarray(v_, dtype=np.float64)
        for v, v_ in zip(na.getVariables(), na.V, strict=True)
    }
    missing = [float(m) for m in na.VMISS]
    for name in names:
        value = columns[name]
        value[value == missing[0]] = np.nan
        np.testing.assert_array_equal(value, stored[name][1])
    ict = icartt.Dataset(str(_export(tmp_path, imported.identifier, "icartt")))
    for name in names:
        value = np.asarray(ict.data[name], dtype=np.float64)
        value[value == float(ict.variables[name].miss)] = np.nan
        np.testing.assert_array_equal(value, stored[name][1])
        np.testing.assert_array_equal(ict.data[f"{name}_flag"], stored[name][2])


@pytest.mark.parametrize("rule", ["4s", "1min"])
@pytest.mark.parametrize("aggregate", ["worst", "majority"])
def test_resampled_export_equals_pandas(
    imported: Imported, tmp_path: Path, rule: str, aggregate: str
) -> None:
    approve(imported.identifier)
    stored = _stored(imported.identifier)
    path = _export(
        tmp_path,
        imported.identifier,
        "netcdf",
        resample=rule,
        aggregate=aggregate,
        valid_flags=(0, 2),
    )
    back = open_dataset(path)
    severity = {0: 0, 2: 2}
    for name in ("O3_P1", "CO_P1", "air_temp_P1"):
        time, value, flag = stored[name]
        ok = np.isin(flag, [0, 2]) & np.isfinite(value)
        s = pd.Series(np.where(ok, value, np.nan), index=pd.DatetimeIndex(time))
        r = s.resample(rule)
        mean, count, std = r.mean(), r.count(), r.std(ddof=1)
        assert np.array_equal(back["time"].values, mean.index.values.astype("datetime64[ns]"))
        np.testing.assert_allclose(back[name].values, mean.values, rtol=1e-12)
        # Constant bins: pandas gives 0 exactly, the two-pass sum a rounding residue.
        scale = float(np.nanmax(np.abs(value)))
        np.testing.assert_allclose(
            back[f"{name}_std"].values, std.values, rtol=1e-9, atol=1e-12 * scale
        )
        assert np.array_equal(back[f"{name}_count"].values, count.values)
        codes = pd.Series(np.where(ok, flag, 255), index=pd.DatetimeIndex(time))
        if aggregate == "worst":
            expected = codes.resample(rule).agg(
                lambda g, s=severity: max((v for v in g if v != 255), key=s.__getitem__, default=7)
            )
        else:
            expected = codes.resample(rule).agg(
                lambda g: max(
                    {v for v in g if v != 255},
                    key=lambda c, g=g: ((g == c).sum(), severity[c]),
                    default=7,
                )
            )
        assert np.array_equal(back[f"{name}_flag"].values, expected.values.astype(np.uint8))


@pytest.mark.parametrize("fmt", ["iagos-netcdf", "nasa-ames", "icartt"])
def test_resampled_exports_agree_across_formats(
    imported: Imported, tmp_path: Path, fmt: str
) -> None:
    approve(imported.identifier)
    reference = open_dataset(_export(tmp_path, imported.identifier, "netcdf", resample="10s"))
    back = open_dataset(_export(tmp_path, imported.identifier, fmt, resample="10s"))
    # Positions are averaged too (valid or not yet validated points): the trajectory stays.
    assert np.isfinite(reference["lat"].values).mean() > 0.9
    assert np.array_equal(back["time"].values, reference["time"].values)
    for name in ("O3_P1", "O3_P1_std", "O3_P1_count", "CO_P1", "lat"):
        np.testing.assert_array_equal(
            back[name].values.astype(np.float64), reference[name].values.astype(np.float64)
        )
    np.testing.assert_array_equal(back["O3_P1_flag"].values, reference["O3_P1_flag"].values)


def test_exporting_again_keeps_the_written_version_and_never_overwrites(
    imported: Imported, tmp_path: Path
) -> None:
    from stratoflow.errors import ExportError
    from stratoflow.server.exports.models import ExportRecord

    approve(imported.identifier)
    first = _export(tmp_path, imported.identifier, "netcdf")
    content, stat = first.read_bytes(), first.stat()
    again = _export(tmp_path, imported.identifier, "netcdf")  # same content: same v1 file
    assert again == first and again.read_bytes() == content
    assert again.stat().st_mtime_ns == stat.st_mtime_ns and again.stat().st_ino == stat.st_ino
    records = ExportRecord.objects.filter(subject=imported.identifier)
    assert records.count() == 2 and {r.sha256 for r in records} == {records[0].sha256}

    first.write_bytes(
        content[:-1] + bytes([content[-1] ^ 0xFF])
    )  # edited (or another database's file) by someone
    edited = first.read_bytes()
    with pytest.raises(ExportError, match=r"already exists and is not the recorded export v1"):
        _export(tmp_path, imported.identifier, "netcdf")
    assert first.read_bytes() == edited and records.count() == 2
