"""Selection by flight, platform, time range, variables and released level; export versions."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from stratoflow import open_dataset, write_dataset
from stratoflow.errors import ConfigError, ExportError

from ._flights import Imported, approve, import_sample

pytestmark = pytest.mark.django_db


def _export(out: Path, **selection: object) -> list:  # type: ignore[type-arg]
    from stratoflow.exporters.export import ExportOptions, export
    from stratoflow.exporters.selection import Selection

    return export(Selection(**selection), ExportOptions(format="netcdf"), out)  # type: ignore[arg-type]


def _reprocess(imported: Imported, tmp_path: Path) -> None:
    """A corrected file for the same flight: every series gets a new version."""
    from stratoflow.importers.series import import_file

    ds = open_dataset(imported.path)
    ds["O3_P1"].values[100] = 42.25
    corrected = tmp_path / "corrected.nc"
    write_dataset(ds, corrected, writer="netcdf", layout="iagos")
    assert import_file(corrected, identity=f"portal/{imported.path.name}").created


def test_only_released_data_leave_unless_asked(imported: Imported, tmp_path: Path) -> None:
    from stratoflow.server.catalog.models import Flight
    from stratoflow.server.review.services import flight_reject

    said = rf"nothing to export \(flights {imported.identifier}\): no flight with data released"
    with pytest.raises(ExportError, match=said + r" to L1 \(data not reviewed yet: level 'any'\)"):
        _export(tmp_path / "a", flights=(imported.identifier,))
    with pytest.raises(ExportError, match=r"nothing to export \(every flight\)"):
        _export(tmp_path / "a")
    assert len(_export(tmp_path / "b", flights=(imported.identifier,), level="any")) == 1
    approve(imported.identifier, "L1")
    assert len(_export(tmp_path / "c", flights=(imported.identifier,), level="L1")) == 1
    with pytest.raises(ExportError, match="released to L2"):
        _export(tmp_path / "d", flights=(imported.identifier,), level="L2")
    approve(imported.identifier, "L2")
    (record,) = _export(tmp_path / "e", flights=(imported.identifier,), level="L2")
    assert record.file_name.startswith(f"{imported.identifier}_L2_")
    flight_reject(Flight.objects.get(identifier=imported.identifier), user=None, reason="drift")
    with pytest.raises(ExportError):
        _export(tmp_path / "f", flights=(imported.identifier,))


def test_reprocessed_data_wait_for_approval_and_become_a_new_version(
    imported: Imported, tmp_path: Path
) -> None:
    approve(imported.identifier)
    (first,) = _export(tmp_path / "1", flights=(imported.identifier,))
    (again,) = _export(tmp_path / "2", flights=(imported.identifier,))
    assert (first.version, again.version) == (1, 1)
    assert first.fingerprint == again.fingerprint

    _reprocess(imported, tmp_path)
    # Not approved yet: the released version (v1) is what goes out, unchanged.
    (pending,) = _export(tmp_path / "3", flights=(imported.identifier,))
    assert pending.fingerprint == first.fingerprint and pending.version == 1
    assert open_dataset(tmp_path / "3" / pending.file_name)["O3_P1"].values[100] != 42.25

    approve(imported.identifier)
    (second,) = _export(tmp_path / "4", flights=(imported.identifier,))
    assert second.version == 2 and second.fingerprint != first.fingerprint
    assert second.file_name.endswith("_v2.nc")
    assert open_dataset(tmp_path / "4" / second.file_name)["O3_P1"].values[100] == 42.25
    assert {v["version"] for v in second.series_versions} == {2}
    assert {v["version"] for v in first.series_versions} == {1}
    # The record names the exact series rows and QC runs: enough to reproduce the file.
    assert sorted(second.series.values_list("pk", flat=True)) == sorted(
        v["id"] for v in second.series_versions
    )
    assert all(v["qc_run"] is not None for v in second.series_versions)


def test_platform_time_range_and_variables(tmp_path: Path) -> None:
    from stratoflow.server.catalog.models import Flight

    a = import_sample(tmp_path, seed=21)
    b = import_sample(tmp_path, seed=22)
    approve(a.identifier)
    approve(b.identifier)
    fa = Flight.objects.get(identifier=a.identifier)
    assert fa.time_start is not None and fa.platform is not None
    start = fa.time_start + timedelta(minutes=5)
    end = start + timedelta(minutes=10)
    (record,) = _export(
        tmp_path / "out",
        platform=fa.platform.name,
        start=start,
        end=end,
        variables=("O3_P1", "lat", "lon"),
    )
    ds = open_dataset(tmp_path / "out" / record.file_name)
    assert sorted(v for v in ds.data_vars if not v.endswith("_flag")) == ["O3_P1", "lat", "lon"]
    times = ds["time"].values
    assert times[0] == np.datetime64(start.replace(tzinfo=None), "ns")
    assert times[-1] < np.datetime64(end.replace(tzinfo=None), "ns")
    assert times.size == 600  # 10 min at 1 Hz, gaps aside (samples keep every record here)
    assert record.selection["variables"] == ["O3_P1", "lat", "lon"]
    with pytest.raises(ExportError, match="unknown flight"):
        _export(tmp_path / "x", flights=("nope",))


def test_selection_is_checked() -> None:
    from datetime import datetime

    from stratoflow.exporters.selection import Selection

    with pytest.raises(ConfigError, match="level"):
        Selection(level="L3")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="time zone"):
        Selection(start=datetime(2024, 1, 1))


def test_aircraft_and_deployment_from_the_catalog(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from stratoflow.server.catalog.models import (
        Aircraft,
        Component,
        ComponentClass,
        ComponentType,
        Deployment,
        Flight,
        Series,
    )

    a = import_sample(tmp_path, seed=31)
    b = import_sample(tmp_path, seed=32)
    approve(a.identifier)
    approve(b.identifier)
    flight = Flight.objects.get(identifier=a.identifier)
    assert flight.platform is not None
    aircraft = Aircraft.objects.create(registration="D-AEXP", platform=flight.platform)
    photometer = Component.objects.create(
        component_type=ComponentType.objects.create(name="O3 photometer"),
        component_class=ComponentClass.objects.create(name="instrument"),
        serial_number="P-17",
    )
    deployment = Deployment.objects.create(
        instrument=photometer, aircraft=aircraft, time_start=datetime(2020, 1, 1, tzinfo=UTC)
    )
    Series.objects.filter(flight=flight, variable="O3_P1").update(deployment=deployment)

    by_aircraft = _export(tmp_path / "aircraft", aircraft="D-AEXP")
    assert [r.subject for r in by_aircraft] == [a.identifier]
    (record,) = _export(tmp_path / "deployment", deployment=deployment.pk)
    assert record.subject == a.identifier
    assert [v["variable"] for v in record.series_versions] == ["O3_P1"]
    assert record.selection["deployment"] == deployment.pk


def test_manual_flags_of_the_pi_are_exported(imported: Imported, tmp_path: Path) -> None:
    from stratoflow.server.catalog.models import Flight
    from stratoflow.server.review.models import ManualFlag

    flight = Flight.objects.get(identifier=imported.identifier)
    assert flight.time_start is not None
    start = flight.time_start + timedelta(minutes=2)
    end = start + timedelta(seconds=59)
    ManualFlag.objects.create(
        flight=flight, variable="O3_P1", time_start=start, time_end=end, flag=3, comment="leak"
    )
    approve(imported.identifier)
    (record,) = _export(tmp_path, flights=(imported.identifier,))
    ds = open_dataset(tmp_path / record.file_name)
    times = ds["time"].values
    inside = (times >= np.datetime64(start.replace(tzinfo=None), "ns")) & (
        times <= np.datetime64(end.replace(tzinfo=None), "ns")
    )
    flags = ds["O3_P1_flag"].values
    assert inside.sum() == 60
    assert set(np.unique(flags[inside]).tolist()) <= {3, 7}  # bad, or missing where no value
    assert (flags[~inside] != 3).any() and (ds["CO_P1_flag"].values[inside] != 3).any()
    manual = {v["variable"]: v["manual_flags"] for v in record.series_versions}
    assert len(manual["O3_P1"]) == 1 and manual["CO_P1"] == []


def test_resampling_works_without_django() -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from stratoflow.exporters import resample_series, parse_resolution\n"
        "t = np.array(['2024-01-01T00:00:00'], dtype='datetime64[ns]')\n"
        "r = resample_series(t, np.ones(1), np.zeros(1, np.uint8), step=parse_resolution('1s'))\n"
        "assert r.count.tolist() == [1]\n"
        "assert 'django' not in sys.modules, 'resampling imported Django'\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_exported_names_resolve() -> None:
    import stratoflow.exporters as exporters

    for name in exporters.__all__:
        assert getattr(exporters, name) is not None, name


def test_a_revised_icartt_export_is_named_and_headed_as_icartt_revision(
    imported: Imported, tmp_path: Path
) -> None:
    """ICARTT 2.0 names a file ``dataID_locationID_YYYYMMDD_R#.ict`` and counts revisions
    from R0 in the header. Exports were named ``<flight>_L1_v1.ict`` (read by the icartt
    library as data ID ``<flight>`` measured at location ``L1``) and a re-released flight
    went out as v2 still saying ``REVISION: R0``, indistinguishable from the first delivery."""
    import icartt

    from stratoflow.exporters.export import ExportOptions, export
    from stratoflow.exporters.selection import Selection
    from stratoflow.server.catalog.models import Flight

    flight = Flight.objects.select_related("platform").get(identifier=imported.identifier)
    selection = Selection(flights=(imported.identifier,))
    approve(imported.identifier)
    (first,) = export(selection, ExportOptions(format="icartt"), tmp_path / "1")
    _reprocess(imported, tmp_path)
    approve(imported.identifier)
    (second,) = export(selection, ExportOptions(format="icartt"), tmp_path / "2")
    assert (first.version, second.version) == (1, 2)
    day = flight.time_start.strftime("%Y%m%d")
    for record, directory, revision in ((first, "1", "R0"), (second, "2", "R1")):
        path = tmp_path / directory / record.file_name
        platform = flight.platform.name.replace("_", "-")
        assert path.name == f"{imported.identifier}-L1_{platform}_{day}_{revision}.ict"
        ict = icartt.Dataset(str(path))  # warns (an error here) on a name ICARTT forbids
        assert ict.makeFileName() == path.name  # the library's own rule, from the header
        lines = path.read_text().splitlines()
        assert f"REVISION: {revision}" in lines
        assert any(
            line.startswith(f"{revision}: stratoflow export v{record.version}") for line in lines
        )
        assert open_dataset(path).attrs["revision"] == revision


def test_an_icartt_revision_given_as_option_names_the_file_as_its_header_does(
    imported: Imported, tmp_path: Path
) -> None:
    """The writer option ``revision`` sets the header's REVISION; the file name follows it
    (one revision in the header and another in the name would be two answers)."""
    import icartt

    from stratoflow.exporters.export import ExportOptions, export
    from stratoflow.exporters.selection import Selection

    approve(imported.identifier)
    options = ExportOptions(format="icartt", writer_options={"revision": "R5"})
    (record,) = export(Selection(flights=(imported.identifier,)), options, tmp_path)
    path = tmp_path / record.file_name
    assert path.name.endswith("_R5.ict")
    assert "REVISION: R5" in path.read_text().splitlines()
    assert icartt.Dataset(str(path)).makeFileName() == path.name
