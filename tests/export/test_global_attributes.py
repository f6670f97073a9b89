"""Global attributes through the text formats: netCDF -> ICARTT / NASA Ames -> read back.

ICARTT's header has a line or keyword for a few attributes (PI, organisation, source,
mission, platform...); the writer left out every other one, so a netCDF file converted to
ICARTT lost its title, history, flight id and an export's provenance (its version and
fingerprint). They are now kept as ``attribute <name>: <value>`` lines in the free-form
normal comments.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import icartt
import numpy as np
import pytest

from stratoflow import open_dataset, write_dataset
from stratoflow.dataset import make_dataset
from stratoflow.writers.icartt import global_attributes

from ._flights import Imported, approve

#: A netCDF file's own attributes, of every kind an ICARTT line could garble: several lines,
#: padding, text beyond ASCII, numbers, a list, a float32 array, text that reads as a
#: number, names that read as an ICARTT keyword (DOI) or, to the icartt library, as a
#: revision (References), a name with a colon.
ATTRS: dict[str, Any] = {
    "title": "Ozone over Frankfurt",
    "history": "2024-01-02 O3 v2 read by iagos_netcdf, QC run 7\n\nexported by stratoflow",
    "flight_id": "2024010112000001",
    "summary": "  padded: with a colon  ",
    "institution": "Forschungszentrum Jülich, IEK-8",
    "generator_seed": 11,
    "ratio": 0.25,
    "levels": [1.0, 2.5],
    "bins": np.array([1.5, 2.0], dtype=np.float32),
    "code": "007",
    "DOI": "10.5194/acp-1-1-2024",
    "References": "Petzold et al. 2015",
    "geospatial:note": "keys may hold a colon",
    "pi": "Jörg Müller",
}


def _netcdf(tmp_path: Path) -> Any:
    times = np.array(["2024-01-01T12:00:00", "2024-01-01T12:00:04"], dtype="datetime64[ns]")
    ds = make_dataset(
        times,
        {"O3": (np.array([41.5, 42.0]), {"units": "1e-9", "long_name": "ozone"})},
        attrs={**ATTRS, "platform": "D-AIGT", "source": "IAGOS-CORE"},
    )
    return open_dataset(write_dataset(ds, tmp_path / "source.nc", writer="netcdf"))


def _same(found: Any, expected: Any) -> bool:
    if isinstance(expected, np.ndarray):
        return (
            isinstance(found, np.ndarray)
            and found.dtype == expected.dtype
            and np.array_equal(found, expected)
        )
    return type(found) is type(expected) and found == expected


#: What a reader makes of the file it reads (its name, checksum, reader): not the data's.
READER_MADE = {"source_file", "source_checksum", "reader"}


def test_netcdf_to_icartt_keeps_every_global_attribute(tmp_path: Path) -> None:
    """Read back with our reader, every attribute of the netCDF file (its own and those our
    netCDF writer added: Conventions, date_created...) is there, of its type, byte for
    byte; those ICARTT's header holds as they are come back from the header."""
    source = _netcdf(tmp_path)
    path = write_dataset(source, tmp_path / "TEST-O3_D-AIGT_20240101_R0.ict", writer="icartt")
    back = open_dataset(path)
    kept = global_attributes(back.attrs["normal_comments"])
    expected = {k: v for k, v in source.attrs.items() if k not in READER_MADE}
    assert expected.keys() - kept.keys() == {"platform", "source"}  # exact in the header
    for key in expected.keys() - {"platform", "source"}:
        assert _same(kept[key], source.attrs[key]), (key, kept[key], source.attrs[key])
    assert back.attrs["platform"] == "D-AIGT" and back.attrs["source"] == "IAGOS-CORE"
    assert back.attrs["pi"] == "Jorg Muller"  # ICARTT's header line is ASCII; the attribute
    assert kept["pi"] == "Jörg Müller"  # is kept as it was
    # no attribute reads as an ICARTT keyword, nor spoils one
    assert not any(key.casefold() == "icartt_doi" for key in back.attrs)
    assert back.attrs["icartt_PI_CONTACT_INFO"] == "N/A"
    assert back["O3"].values.tolist() == [41.5, 42.0]
    assert path.read_text().isascii()


def test_the_icartt_library_reads_them_as_free_form_comments(tmp_path: Path) -> None:
    """ICARTT 2.0 puts free text before the required keywords; the icartt library reads the
    file without a warning, every required keyword intact (a line ``References: ...``
    would have been taken for a revision keyword)."""
    path = write_dataset(_netcdf(tmp_path), tmp_path / "TEST_D-AIGT_20240101_R0.ict", "icartt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ict = icartt.Dataset(str(path))
    freeform = ict.normalComments.freeform
    assert "attribute title: Ozone over Frankfurt" in freeform
    assert any(line.startswith("attribute References: ") for line in freeform)
    assert ict.normalComments.keywords["REVISION"].data == ["R0"]
    assert "References" not in ict.normalComments.keywords


def _direct() -> Any:
    times = np.array(["2024-01-01T12:00:00", "2024-01-01T12:00:04"], dtype="datetime64[ns]")
    return make_dataset(
        times, {"O3": (np.array([41.5, 42.0]), {"units": "1e-9"})}, attrs=dict(ATTRS)
    )


def test_icartt_read_and_written_again_keeps_them(tmp_path: Path) -> None:
    """Attributes straight from a Dataset (a list stays a list, a name keeps its colon),
    through an ICARTT file, read and written again (another revision): kept both times,
    the original (not ASCII-cleaned) PI among them."""
    first = write_dataset(_direct(), tmp_path / "A_D-AIGT_20240101_R0.ict", "icartt")
    read = open_dataset(first)
    for path in (
        first,
        write_dataset(read, tmp_path / "A_X_20240101_R1.ict", "icartt", revision="R1"),
    ):
        kept = global_attributes(open_dataset(path).attrs["normal_comments"])
        for key, value in ATTRS.items():
            assert _same(kept.get(key), value), (path.name, key, kept.get(key))
        assert "revision" not in kept  # ICARTT's own REVISION is the file's


def test_nasa_ames_keeps_every_global_attribute(tmp_path: Path) -> None:
    """The NASA Ames writer writes each attribute as a ``key: value`` normal comment (typed
    ones as JSON): all come back by name and type; several lines joined with `` | ``, text
    as the reader keeps it (stripped). A name with a colon, which a ``key: value`` line
    would cut, is kept as JSON (see test_nasa_ames_attribute_keys.py)."""
    back = open_dataset(write_dataset(_direct(), tmp_path / "direct.na", writer="nasa_ames"))
    attrs = back.attrs
    for key in ATTRS.keys() - {"history", "summary"}:
        assert _same(attrs.get(key), ATTRS[key]), (key, attrs.get(key))
    assert attrs["history"] == (
        "2024-01-02 O3 v2 read by iagos_netcdf, QC run 7 | exported by stratoflow"
    )
    assert attrs["summary"] == "padded: with a colon"
    assert attrs["geospatial:note"] == "keys may hold a colon"


@pytest.mark.django_db
def test_an_icartt_export_says_which_export_it_is(imported: Imported, tmp_path: Path) -> None:
    """An exported ICARTT file keeps the export's provenance: its version, its fingerprint,
    the series versions and review that went out, and the flight's attributes, as the
    netCDF export does."""
    from stratoflow.exporters.export import ExportOptions, export
    from stratoflow.exporters.selection import Selection

    approve(imported.identifier)
    (record,) = export(
        Selection(flights=(imported.identifier,)), ExportOptions(format="icartt"), tmp_path
    )
    kept = global_attributes(open_dataset(tmp_path / record.file_name).attrs["normal_comments"])
    (netcdf,) = export(
        Selection(flights=(imported.identifier,)), ExportOptions(format="netcdf"), tmp_path
    )
    nc = open_dataset(tmp_path / netcdf.file_name).attrs
    assert kept["export_fingerprint"] == record.fingerprint
    assert kept["export_version"] == record.version == 1
    # what the exporter says of the data (the netCDF writer adds ACDD attributes of its own)
    for key in ("series_versions", "review", "data_level", "flight_id", "title", "provider"):
        assert _same(kept[key], nc[key]), key
    assert kept["history"].startswith(nc["history"].split("\n")[0])
