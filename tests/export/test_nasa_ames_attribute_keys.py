"""NASA Ames global attributes whose key a ``key: value`` line cannot hold as it is.

The writer dropped every attribute whose key has a ``:`` (``geospatial:note``, CF-style
``project:grant``) without a word. It is now written with its key as JSON (the ``:``
escaped), so the file keeps it and our reader gives it back exactly;
what still cannot be written is named in an ``AttributesLeftOut:`` line and logged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from stratoflow import open_dataset, write_dataset
from stratoflow.cli import main
from stratoflow.dataset import make_dataset

TIMES = np.array(["2024-01-01T12:00:00", "2024-01-01T12:00:04"], dtype="datetime64[ns]")


def test_keys_with_a_colon_are_kept(tmp_path: Path) -> None:
    ds = make_dataset(
        TIMES,
        {"O3": (np.array([41.5, 42.0]), {"units": "1e-9"})},
        attrs={
            "geospatial:note": "keys may hold a colon",
            "project:grants": [1, 2],
            " padded": "blank before",
            "title": "plain: as before",
        },
    )
    path = write_dataset(ds, tmp_path / "x.na", writer="nasa_ames")
    text = path.read_text()
    assert '"geospatial\\u003anote": keys may hold a colon\n' in text
    back = dict(open_dataset(path).attrs)
    assert back["geospatial:note"] == "keys may hold a colon"
    assert back["project:grants"] == [1, 2]  # typed: decoded as a list, not text
    assert back[" padded"] == "blank before"
    assert back["title"] == "plain: as before"
    assert "AttributesLeftOut" not in text


def test_what_cannot_be_written_is_named_not_dropped_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ds = make_dataset(
        TIMES,
        {"O3": (np.array([41.5, 42.0]), {"units": "1e-9"})},
        attrs={"mapping": {"a": 1}, "k" * 80: "a key no reader takes for one", "kept": "yes"},
    )
    with caplog.at_level(logging.WARNING, logger="stratoflow.writers.nasa_ames"):
        path = write_dataset(ds, tmp_path / "x.na", writer="nasa_ames")
    back = open_dataset(path).attrs
    assert back["AttributesLeftOut"] == f"mapping, {'k' * 80}"
    assert back["kept"] == "yes"
    assert "global attributes left out: mapping, kkk" in caplog.text


def test_convert_of_a_netcdf_file_keeps_its_colon_attribute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end through ``stratoflow convert``: a netCDF file's ``geospatial:note``
    (netCDF names may hold a colon) survives the conversion to NASA Ames."""
    source = tmp_path / "in.nc"
    xr.Dataset(
        {"O3": ("time", np.array([41.5, 42.0]), {"units": "1e-9"})},
        coords={"time": TIMES},
        attrs={"geospatial:note": "from the netCDF file", "title": "colon test"},
    ).to_netcdf(source, engine="netcdf4")
    out = tmp_path / "out.na"
    assert main(["convert", str(source), str(out), "--format", "nasa-ames"]) == 0, (
        capsys.readouterr().err
    )
    back = dict(open_dataset(out).attrs)
    assert back["geospatial:note"] == "from the netCDF file"
    assert back["title"] == "colon test"
