"""Importing variants of real files a data manager meets: what is stored, what is refused.

Each test builds its variant in a temporary folder (never in the repository) and checks the
database afterwards: values and metadata as the file gives them, versions as the file's
history makes them, and nothing left behind by a file that cannot be imported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stratoflow import open_dataset, write_dataset
from stratoflow.dataset import make_dataset

pytestmark = pytest.mark.django_db(transaction=True)


def _file(path: Path, variables: dict[str, float], **attrs: object) -> Path:
    t = np.datetime64("2024-03-01T23:50:00", "ns") + np.arange(1200) * np.timedelta64(1, "s")
    ds = make_dataset(
        t,
        {
            name: (np.linspace(base, base + 10.0, t.size), {"units": "1", "long_name": name})
            for name, base in variables.items()
        },
        attrs={"flight_id": "variants", **attrs},
    )
    return write_dataset(ds, path, writer="netcdf")


def test_non_finite_attributes_are_stored_and_come_back_as_floats(tmp_path: Path) -> None:
    """NaN and infinity in attributes (a ``_FillValue``/``actual_min = NaN`` of an all-missing
    variable, an open-ended ``range``) first made the database refuse the JSON (a bare
    IntegrityError), then came back from the catalog as the strings "NaN"/"Infinity": an
    export wrote ``valid_max = "NaN"``, text where the file had a number. Stored as tagged
    objects (JSON has no NaN), they come back as the floats they were; text stays text."""
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Flight, Series, SourceFile
    from stratoflow.server.catalog.selectors import flight_dataset

    path = tmp_path / "nan_attributes.nc"
    ds = open_dataset(_file(path, {"O3": 40.0}))
    ds["O3"].attrs.update(
        actual_min=np.float32("nan"), range=np.array([0.0, np.inf]), comment="NaN"
    )
    ds.attrs["max_altitude"] = -np.inf
    path.unlink()
    write_dataset(ds, path, writer="netcdf")

    import_file(path, qc=False)
    o3 = Series.objects.get(variable="O3")
    assert o3.attributes["actual_min"] == {"__float__": "NaN"}  # the documented encoding
    assert SourceFile.objects.get().attributes["max_altitude"] == {"__float__": "-Infinity"}

    back = flight_dataset(Flight.objects.get(identifier="variants"))
    actual_min = back["O3"].attrs["actual_min"]
    assert isinstance(actual_min, float) and np.isnan(actual_min)
    assert back["O3"].attrs["range"] == [0.0, np.inf]
    assert back["O3"].attrs["comment"] == "NaN"  # text that reads "NaN" stays text
    written = open_dataset(write_dataset(back, tmp_path / "back.nc", writer="netcdf"))
    assert np.isnan(written["O3"].attrs["actual_min"])
    # and so does what an export assembles
    from stratoflow.exporters import flight_dataset as export_dataset
    from stratoflow.exporters.selection import Selection, select

    (item,) = select(Selection(level="any"))
    exported = export_dataset(item)
    assert np.isnan(exported["O3"].attrs["actual_min"])
    assert exported["O3"].attrs["range"] == [0.0, np.inf]


def _caribic(shared_data: Path) -> Path:
    return shared_data / "caribic_nasa_ames" / "OM_20200304_591_CPT_MUC_V01_valid0.txt"


def test_a_corrected_file_that_renames_a_variable_replaces_the_old_name(
    shared_data: Path, tmp_path: Path
) -> None:
    """The provider's corrected file calls ``Ozone`` ``O3``: the old ``Ozone`` series (the
    uncorrected values) used to stay current beside the new ``O3`` one, so the review page
    and the exports showed the flight's ozone twice, once uncorrected."""
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Series

    path = tmp_path / "OM_591.txt"
    original = _caribic(shared_data).read_bytes()
    path.write_bytes(original)
    first = import_file(path, qc=False)
    assert first.created and set(Series.objects.values_list("variable", flat=True)) == {"Ozone"}

    renamed = original.replace(b"\nOzone; Ozone", b"\nO3; Ozone").replace(b"\tOzone\r", b"\tO3\r")
    path.write_bytes(renamed.replace(b"47.34", b"47.35"))  # and one value corrected
    assert set(open_dataset(path).data_vars) == {"O3"}  # no flags in the file, none made up
    second = import_file(path, qc=False)
    assert second.created and second.result is not None
    current = Series.objects.filter(is_current=True)
    assert list(current.values_list("variable", "version")) == [("O3", 1)]
    assert [s.variable for s in second.result.superseded] == ["Ozone"]
    assert Series.objects.get(variable="Ozone").is_current is False

    # the same flight's series of *other* files are not touched by this file's correction
    other = tmp_path / "OM_591_other.txt"
    other.write_bytes(original.replace(b"47.49", b"47.48"))
    import_file(other, qc=False)
    path.write_bytes(renamed)
    import_file(path, qc=False)
    assert sorted(current.values_list("variable", "version", "source__identity")) == [
        ("O3", 2, "OM_591.txt"),
        ("Ozone", 2, "OM_591_other.txt"),
    ]


def test_the_same_file_under_another_name_is_recognised(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A renamed copy (another folder, another naming scheme) used to be a new source whose
    series were a second, identical version of every variable, awaiting review again."""
    from stratoflow.cli import main
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Series, SourceFile

    original = _caribic(shared_data)
    first = import_file(original, qc=False)
    copy = tmp_path / "OM_591_renamed.txt"
    copy.write_bytes(original.read_bytes())

    again = import_file(copy, qc=False)
    assert not again.created and again.series_ids == first.series_ids
    assert f"the same bytes as {original.name!r}" in " ".join(again.report["notes"])
    assert SourceFile.objects.count() == 1
    assert list(Series.objects.values_list("version", "is_current")) == [(1, True)]
    assert main(["import", str(copy), "--no-qc"]) == 0
    assert "1 series unchanged" in capsys.readouterr().out

    # once the original name has a corrected file, the old bytes under a new name do not
    # undo the correction; the same bytes made another way are still a new version
    corrected = tmp_path / "corrected.txt"
    corrected.write_bytes(original.read_bytes().replace(b"47.34", b"47.35"))
    import_file(corrected, identity=original.name, qc=False)
    late = tmp_path / "OM_591_late_copy.txt"
    late.write_bytes(original.read_bytes())
    assert not import_file(late, qc=False).created
    assert list(Series.objects.filter(is_current=True).values_list("version")) == [(2,)]
    assert import_file(late, qc=False, level="L1").created


def _span(identifier: str) -> tuple[str, str]:
    from stratoflow.server.catalog.models import Flight

    flight = Flight.objects.get(identifier=identifier)
    assert flight.time_start is not None and flight.time_end is not None
    return flight.time_start.isoformat(), flight.time_end.isoformat()


def test_the_flight_span_follows_its_files_over_midnight_and_corrections(
    tmp_path: Path,
) -> None:
    """The flight's span was the first file's for good: a second file of the flight over
    midnight did not extend it, nor did a corrected file with the clock put right move it."""
    from stratoflow.importers.series import import_file

    first = _file(tmp_path / "part1.nc", {"O3": 40.0})  # 23:50:00 - 00:09:59
    import_file(first, qc=False)
    assert _span("variants") == ("2024-03-01T23:50:00+00:00", "2024-03-02T00:09:59+00:00")

    second = open_dataset(first)[["O3"]].rename(O3="CO")
    second = second.assign_coords(time=second["time"] + np.timedelta64(15, "m"))
    write_dataset(second, tmp_path / "part2.nc", writer="netcdf")
    import_file(tmp_path / "part2.nc", qc=False)
    assert _span("variants") == ("2024-03-01T23:50:00+00:00", "2024-03-02T00:24:59+00:00")

    # part 1 corrected: its clock was 5 minutes late
    fixed = open_dataset(first)[["O3"]]
    fixed = fixed.assign_coords(time=fixed["time"] - np.timedelta64(5, "m"))
    write_dataset(fixed, tmp_path / "part1_fixed.nc", writer="netcdf")
    import_file(tmp_path / "part1_fixed.nc", identity="part1.nc", qc=False)
    assert _span("variants") == ("2024-03-01T23:45:00+00:00", "2024-03-02T00:24:59+00:00")


def test_flight_metadata_of_a_real_iagos_file_is_stored_whole(shared_data: Path) -> None:
    """IAGOS names airports "FRA, Frankfurt, Germany": the flight kept "FRA, Frank", which
    the review pages showed and the exports wrote into every file of the flight."""
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Flight, Series
    from stratoflow.server.catalog.selectors import flight_dataset

    path = shared_data / "iagos" / "IAGOS_timeseries_2019010510370802_L2_3.1.0.nc4"
    ds = open_dataset(path)
    import_file(path, qc=False)
    flight = Flight.objects.get(identifier=ds.attrs["flight"])
    assert (flight.departure_airport, flight.arrival_airport) == (
        "FRA, Frankfurt, Germany",
        "DTW, Detroit, United States",
    )
    assert flight.platform is not None and flight.platform.name == ds.attrs["platform"]
    stored = flight_dataset(flight, series=list(Series.objects.filter(variable="O3_P1")))
    assert stored.attrs["departure_airport"] == ds.attrs["departure_airport"]
    assert stored["O3_P1"].attrs["units"] == ds["O3_P1"].attrs["units"]


def test_what_the_database_cannot_hold_fails_the_file_by_name_on_every_database(
    shared_data: Path, tmp_path: Path
) -> None:
    """NASA Ames units are free text: an over-long one made PostgreSQL refuse the file with a
    bare DataError naming neither file nor variable (SQLite stored it). Now both databases
    refuse the file before writing anything, saying where the defect is; nothing of it
    remains, and the next file imports normally."""
    from stratoflow.errors import ImportFailed
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Flight, QCRun, Segment, Series, SourceFile

    original = _caribic(shared_data)
    wordy = "ppb: mole fraction in dry air " + "after the correction of the scrubber offset " * 2
    path = tmp_path / "OM_591_wordy.txt"
    path.write_bytes(original.read_bytes().replace(b"\t[1e-9]", f"\t[{wordy}]".encode()))
    assert open_dataset(path)["Ozone"].attrs["units"] == wordy.strip()
    with pytest.raises(ImportFailed, match=r"OM_591_wordy\.txt: variable 'Ozone': units is 1"):
        import_file(path)
    tables = (SourceFile, Flight, Series, Segment, QCRun)
    assert [model.objects.count() for model in tables] == [0] * len(tables)

    assert import_file(original).created and QCRun.objects.count() == 1


@pytest.mark.parametrize("units", ["#/cm3", "--", "()"])
def test_units_pint_cannot_parse_do_not_crash_the_import(
    shared_data: Path, tmp_path: Path, units: str
) -> None:
    """Particle counts in "#/cm3", "--" for no units: pint's parser raised a TokenError or
    an AssertionError from the basic flags' physical range check, and the import crashed.
    Units nobody can convert simply get no physical range check."""
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Series

    path = tmp_path / "OM_591_units.txt"
    raw = _caribic(shared_data).read_bytes()
    path.write_bytes(raw.replace(b"\t[1e-9]", f"\t[{units}]".encode()))
    assert open_dataset(path)["Ozone"].attrs["units"] == units
    assert import_file(path).created
    assert Series.objects.get(variable="Ozone").units == units


def test_the_same_file_under_two_names_imported_at_once_is_stored_once(
    shared_data: Path,
) -> None:
    """Two tasks import one file fetched from two folders at the same moment: both found no
    earlier import of the bytes, and the second made a second, identical version. The one
    that waits for the flight's lock now finds the other's import and stores nothing."""
    import threading

    from django.db import connection, connections

    from stratoflow.server.catalog.models import Series, SourceFile
    from stratoflow.server.catalog.services import ImportResult, series_import

    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (PostgreSQL pass)")
    path = _caribic(shared_data)
    ds = open_dataset(path)  # read once: what races is the catalog's part
    barrier = threading.Barrier(2)
    results: list[ImportResult] = []
    errors: list[BaseException] = []

    def worker(folder: str) -> None:
        try:
            barrier.wait()
            results.append(
                series_import(ds, identity=f"{folder}/{path.name}", size=path.stat().st_size)
            )
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(f,)) for f in ("incoming", "archive")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(r.created for r in results) == [False, True]
    assert SourceFile.objects.count() == 1
    assert list(Series.objects.values_list("variable", "version")) == [("Ozone", 1)]


def test_long_file_names_that_differ_at_the_end_are_two_flights(
    shared_data: Path, tmp_path: Path
) -> None:
    """EBAS names end with the data level: cut to the flight column's 100 characters, the
    level-1 and level-2 files of one instrument and year fell on one flight, and whichever
    came second superseded the other's series."""
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Flight, Series

    (lev2,) = (shared_data / "ebas_nasa_ames").glob("*.lev2.nas")
    assert len(lev2.stem) > 100
    lev1 = tmp_path / lev2.name.replace(".lev2.", ".lev1.")
    raw = lev2.read_bytes()
    level = b"Data level:                   "
    lev1.write_bytes(raw.replace(level + b"2", level + b"1"))
    assert lev1.read_bytes() != raw

    first, second = import_file(lev2, qc=False), import_file(lev1, qc=False)
    assert first.flight != second.flight
    assert Flight.objects.count() == 2
    assert all(len(f) <= 100 for f in (first.flight, second.flight))
    assert not Series.objects.filter(is_current=False).exists()
    assert import_file(lev1, qc=False).flight == second.flight  # the same flight again


def test_a_file_with_only_a_time_column_fails_and_leaves_nothing(
    shared_data: Path, tmp_path: Path
) -> None:
    """A FAIRO log cut down to its time column was "created" with no series, leaving a
    source row and an empty flight, and was "created" again at every import."""
    from stratoflow.errors import ImportFailed
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Flight, SourceFile

    lines = (shared_data / "fairo_raw" / "11_30_01.DAT").read_bytes().split(b"\r\n")
    path = tmp_path / "11_30_01.DAT"
    path.write_bytes(b"\r\n".join(b"\t".join(line.split(b"\t")[:2]) for line in lines))
    assert not list(open_dataset(path, reader="delimited", preset="fairo_dat").data_vars)
    with pytest.raises(ImportFailed, match=r"11_30_01\.DAT: no measured variable"):
        import_file(path, reader="delimited", reader_options={"preset": "fairo_dat"})
    assert SourceFile.objects.count() == Flight.objects.count() == 0


_THREADS = """
import os, sys, threading
from stratoflow import open_dataset, write_dataset

source, readers, out, writers = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ds = open_dataset(source) if writers else None
errors = []
def read():
    try:
        for _ in range(3):
            open_dataset(source)
    except BaseException as exc:
        errors.append(repr(exc))
def write(i):
    try:
        for k in range(3):
            write_dataset(ds, os.path.join(out, f"{i}_{k}.nc"), writer="netcdf")
    except BaseException as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=read) for _ in range(readers)]
threads += [threading.Thread(target=write, args=(i,)) for i in range(writers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("errors:", errors)
"""


@pytest.mark.parametrize(("readers", "writers"), [(4, 0), (2, 2)])
def test_netcdf_files_read_and_written_by_several_threads_do_not_crash_the_process(
    shared_data: Path, tmp_path: Path, readers: int, writers: int
) -> None:
    """Imports and exports run in threads (the scheduler's driver threads, a thread pool
    executor): reading the IAGOS file in four threads at once, or writing netCDF while other
    threads read, killed the process with a segmentation fault or "double free or
    corruption" (netCDF-C/HDF5 are not thread-safe; the writer did not hold the readers'
    lock). Run in a child process, so that a crash fails this test instead of ending the
    test session."""
    import subprocess
    import sys

    script = tmp_path / "threads.py"
    script.write_text(_THREADS)
    out = tmp_path / "out"
    out.mkdir()
    path = shared_data / "iagos" / "IAGOS_timeseries_2019010510370802_L2_3.1.0.nc4"
    done = subprocess.run(
        [sys.executable, str(script), str(path), str(readers), str(out), str(writers)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "errors: []" in done.stdout
    assert len(list(out.glob("*.nc"))) == 3 * writers


def test_a_text_column_with_a_blank_cell_is_still_text(shared_data: Path, tmp_path: Path) -> None:
    """One FAIRO record without an instrument state made the State column "numeric": the
    file failed with "line 2: column 'State': not a number: 'MS'", pointing at a good line.
    The blank is stored as an empty state, the rest as written."""
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.catalog.selectors import series_arrays

    lines = (shared_data / "fairo_raw" / "11_30_01.DAT").read_bytes().split(b"\r\n")
    lines[50] = lines[50].replace(b"\tMS\t", b"\t\t")
    path = tmp_path / "11_30_01.DAT"
    path.write_bytes(b"\r\n".join(lines))
    assert import_file(path, reader="delimited", reader_options={"preset": "fairo_dat"}).created
    state = series_arrays(Series.objects.get(variable="State"))["value"]
    assert state[49] == "" and state[48] == state[50] == "MS"


def test_what_the_reader_warned_about_is_in_the_import_notes_and_provenance(
    shared_data: Path,
) -> None:
    """The ACT-America flag file ends with NUL bytes; the reader reads it with a warning,
    which went to the log of whatever process ran the import: neither the import's notes
    nor the stored series' provenance said the file had trailing garbage."""
    from stratoflow.importers.series import import_file
    from stratoflow.readers.text_table import TrailingGarbageWarning
    from stratoflow.server.catalog.models import Series

    path = shared_data / "icartt" / "ACTAMERICA-flag-metadata_B200_20170308_R0_L2.ict"
    with pytest.warns(TrailingGarbageWarning):
        result = import_file(path, qc=False)
    (note,) = [n for n in result.report["notes"] if "trailing garbage" in n]
    assert note.startswith("read: line ") and "NUL bytes" in note
    stored = Series.objects.get(pk=result.series_ids[0]).provenance["processing"][-1]
    assert note in stored["result"]["notes"]


def test_a_corrected_flight_number_moves_the_file_to_the_right_flight(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The provider corrects the flight number in the header (F-591 -> F-592) and delivers
    the file again under its name: the series became flight F-592's, but flight F-591 kept
    the file's old series as current, so the data was on two flights. They are now
    superseded (kept as versions), and the import says so."""
    from stratoflow.cli import main
    from stratoflow.exporters.selection import Selection, select
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Flight, Series
    from stratoflow.server.review.selectors import latest_decision
    from stratoflow.server.review.services import flight_approve

    from ._helpers import write_pressure_flight

    path = tmp_path / "flight.nc"
    write_pressure_flight(path, "F-591", "2024-05-01T10:00:00", 120)
    assert import_file(path, qc=False).flight == "F-591"
    flight_approve(Flight.objects.get(identifier="F-591"), user=None)
    write_pressure_flight(path, "F-592", "2024-05-01T10:00:00", 120)
    capsys.readouterr()
    assert main(["import", str(path), "--no-qc"]) == 0
    out = capsys.readouterr().out
    assert "flight F-592: 2 series created" in out
    assert "note: flight F-591: 2 series of the earlier version of flight.nc superseded" in out
    current = Series.objects.filter(is_current=True)
    assert set(current.values_list("flight__identifier", "variable", "version")) == {
        ("F-592", "p", 1),
        ("F-592", "T", 1),
    }
    old = Series.objects.filter(flight__identifier="F-591")
    assert sorted(old.values_list("variable", "version", "is_current")) == [
        ("T", 1, False),
        ("p", 1, False),
    ]
    assert all(s.segments.exists() for s in old)  # nothing deleted
    # the old flight's release is withdrawn: exports no longer deliver the moved data
    withdrawn = latest_decision(Flight.objects.get(identifier="F-591"))
    assert withdrawn is not None and withdrawn.action == "withdraw"
    assert "now belong to flight F-592" in withdrawn.reason
    assert not list(select(Selection(level="L1")))

    # the same name reused for the next flight (other times) leaves the earlier flight alone,
    # and so does a job's file (named by the provider) with its own flight number corrected
    write_pressure_flight(path, "F-593", "2024-05-02T10:00:00", 120)
    next_flight = import_file(path, qc=False)
    assert next_flight.result is not None and not next_flight.result.superseded
    write_pressure_flight(path, "F-594", "2024-05-03T10:00:00", 60)
    import_file(path, identity="portal/F.nc", provider="portal", qc=False)
    write_pressure_flight(path, "F-595", "2024-05-03T10:00:00", 60)
    moved = import_file(path, identity="portal/F.nc", provider="portal", qc=False)
    assert moved.result is not None
    assert {s.flight.identifier for s in moved.result.superseded} == {"F-594"}
    assert sorted(current.values_list("flight__identifier", flat=True).distinct()) == [
        "F-592",
        "F-593",
        "F-595",
    ]
    assert Flight.objects.get(identifier="F-594").series.count() == 2


def test_same_named_files_of_different_flights_both_stay_current(
    shared_data: Path, tmp_path: Path
) -> None:
    """``stratoflow import`` names a file by its base name: the same name in two flights'
    folders is two files, not a corrected one. A corrected file replaces only its own
    flight's series, so flight 592's file does not take flight 591's data off the record."""
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Series

    original = _caribic(shared_data).read_bytes()
    for flight in (b"591", b"592"):
        folder = tmp_path / flight.decode()
        folder.mkdir()
        (folder / "OM.txt").write_bytes(original.replace(b"FlightNo: 591", b"FlightNo: " + flight))
        import_file(folder / "OM.txt", qc=False)
    current = Series.objects.filter(is_current=True).order_by("flight__identifier")
    assert list(current.values_list("flight__identifier", "variable")) == [
        ("591", "Ozone"),
        ("592", "Ozone"),
    ]


def test_the_icartt_files_of_one_flight_land_on_one_flight(
    shared_data: Path, tmp_path: Path
) -> None:
    """ACT-America delivers leg 2 of 2017-03-08 as a merge file and a flag file whose names
    differ before the date: they became two flights named after the files, and a revised
    merge (``_R1``) a third instead of a new version of the first one's series."""
    from stratoflow.importers.series import import_file
    from stratoflow.readers.text_table import TrailingGarbageWarning
    from stratoflow.server.catalog.models import Flight, Series

    folder = shared_data / "icartt"
    merge = import_file(folder / "ACTAMERICA-mrg05-b200_merge_20170308_R0_L2.ict", qc=False)
    with pytest.warns(TrailingGarbageWarning):
        flags = import_file(folder / "ACTAMERICA-flag-metadata_B200_20170308_R0_L2.ict", qc=False)
    assert merge.flight == flags.flight == "nasa-b-200-aircraft_20170308_L2"
    flight = Flight.objects.get()
    assert flight.platform is not None and flight.platform.name == "NASA B200 Aircraft"
    current = Series.objects.filter(flight=flight, is_current=True)
    assert {"O3_MixingRatio", "Flight_flag", "Maneuver_flag"} <= set(
        current.values_list("variable", flat=True)
    )

    revised = tmp_path / "ACTAMERICA-mrg05-b200_merge_20170308_R1_L2.ict"
    text = (folder / "ACTAMERICA-mrg05-b200_merge_20170308_R0_L2.ict").read_bytes()
    revised.write_bytes(text.replace(b"REVISION: R0", b"REVISION: R1", 1))
    assert import_file(revised, qc=False).created
    assert Flight.objects.count() == 1
    o3 = Series.objects.filter(flight=flight, variable="O3_MixingRatio").order_by("version")
    assert [(s.version, s.is_current, s.source.identity) for s in o3] == [
        (1, False, "ACTAMERICA-mrg05-b200_merge_20170308_R0_L2.ict"),
        (2, True, revised.name),
    ]
    assert current.filter(variable="Maneuver_flag").exists()  # the flag file's stay current
