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


def test_non_finite_attributes_are_stored_not_refused(tmp_path: Path) -> None:
    """NaN and infinity in attributes (an ``actual_min = NaN`` of an all-missing variable,
    an open-ended ``range``) used to make the database refuse the JSON: the whole import
    failed with a bare IntegrityError naming neither the file nor the attribute."""
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Series, SourceFile

    path = tmp_path / "nan_attributes.nc"
    ds = open_dataset(_file(path, {"O3": 40.0}))
    ds["O3"].attrs.update(actual_min=np.float32("nan"), range=np.array([0.0, np.inf]))
    ds.attrs["max_altitude"] = -np.inf
    path.unlink()
    write_dataset(ds, path, writer="netcdf")

    import_file(path, qc=False)
    o3 = Series.objects.get(variable="O3")
    assert o3.attributes["actual_min"] == "NaN"
    assert o3.attributes["range"] == [0.0, "Infinity"]
    assert SourceFile.objects.get().attributes["max_altitude"] == "-Infinity"
