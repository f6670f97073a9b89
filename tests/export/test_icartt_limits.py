"""ICARTT 2.0's limits (2.1.1): short names of at most 31 characters, file names of at most
127. Found by reading real exports back with the icartt library: a 29-character source name
got a 34-character ``_flag`` twin, and an EBAS flight (identified by its long file name)
gave a 150-character file name; the library warned on both, archives refuse them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import icartt
import numpy as np
import pytest

from stratoflow import open_dataset, write_dataset
from stratoflow.dataset import make_dataset
from stratoflow.flags import Flag

from ._flights import Imported, approve

LONG = "H2O_SatVaporPressureWater_Nav"  # 29 characters, as in the ACT-America merge


def test_short_names_flags_included_fit_31_characters(tmp_path: Path) -> None:
    t = np.datetime64("2024-01-01T10:00:00", "ns") + np.arange(3) * np.timedelta64(1, "s")
    values = np.array([1.0, 2.0, 3.0])
    ds = make_dataset(
        t,
        {
            LONG: (values, {"units": "hPa", "long_name": "saturation vapour pressure"}),
            LONG + "_Ice": (values + 1, {"units": "hPa"}),
            "O3": (values * 10, {"units": "1e-9"}),
        },
        flags={
            LONG: np.array([Flag.GOOD, Flag.BAD, Flag.GOOD], dtype=np.uint8),
            LONG + "_Ice": np.array([Flag.BAD, Flag.GOOD, Flag.GOOD], dtype=np.uint8),
        },
    )
    path = write_dataset(ds, tmp_path / "TEST_B200_20240101_R0.ict", writer="icartt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the library warns on every name beyond the limit
        icartt.Dataset(str(path))
    back = open_dataset(path)
    names = [str(n) for n in back.data_vars]
    assert all(len(n) <= 31 for n in names), names
    assert len(names) == 5 and "O3" in names
    cut = [n for n in names if n.startswith("H2O_SatVapor") and not n.endswith("_flag")]
    assert len(cut) == 2 and len(set(cut)) == 2
    for name in cut:  # each flag still with its own variable, the source name kept
        source = LONG if back[name].values[0] == 1.0 else LONG + "_Ice"
        long_name = back[name].attrs["long_name"]
        assert long_name == source or long_name.endswith(f"(source name {source})"), long_name
        assert f"{name}_flag" in names
        expected = ds[f"{source}_flag"].values
        np.testing.assert_array_equal(back[f"{name}_flag"].values, expected)


@pytest.mark.django_db
def test_a_long_flight_identifier_gives_a_file_name_of_127_characters_at_most(
    imported: Imported, tmp_path: Path
) -> None:
    from stratoflow.exporters.export import ExportOptions, export
    from stratoflow.exporters.selection import Selection
    from stratoflow.server.catalog.models import Flight

    names = []
    for end in ("a", "b"):  # two that differ only beyond any cut stay apart
        # as long as the catalog takes (100), an EBAS file name's kind of identifier
        identifier = ("CV0001G.20190101000000.20220502085424.online_crds.carbon_monoxide." * 2)[
            :99
        ] + end
        if end == "a":
            approve(imported.identifier)
            flight = Flight.objects.select_related("platform").get(identifier=imported.identifier)
            assert flight.platform is not None
            flight.platform.name = "Aircraft IAGOS-01 MSN 304 D-AIGT Lufthansa Frankfurt base"
            flight.platform.save()
        Flight.objects.filter(identifier=imported.identifier).update(identifier=identifier)
        imported = Imported(identifier, imported.path, imported.series_ids)
        (record,) = export(
            Selection(flights=(identifier,)), ExportOptions(format="icartt"), tmp_path / end
        )
        names.append(record.file_name)
        assert len(record.file_name) <= 127, record.file_name
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            icartt.Dataset(str(tmp_path / end / record.file_name))
    assert names[0] != names[1]
