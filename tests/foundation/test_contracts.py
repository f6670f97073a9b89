"""The shared contracts: standardized Dataset validator, flag scheme, error tree, plugins."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import stratoflow
from stratoflow import errors, plugins
from stratoflow.dataset import data_variables, flags_of, make_dataset, validate
from stratoflow.flags import Flag, cf_flag_attributes, count_flags, from_qartod, to_qartod, worst

T = np.array(
    ["2024-01-01T00:00:00", "2024-01-01T00:00:04", "2024-01-01T00:00:08"], dtype="datetime64[ns]"
)


def ds_with(time: object = T, **attrs: object) -> xr.Dataset:
    return xr.Dataset(
        {"O3": ("time", [40.0, np.nan, 42.0], attrs or {"units": "1e-9"})}, coords={"time": time}
    )


def test_valid_dataset_passes_and_flags_default_from_values() -> None:
    ds = validate(ds_with())
    assert data_variables(ds) == ["O3"]
    assert flags_of(ds, "O3").tolist() == [Flag.NOT_VALIDATED, Flag.MISSING, Flag.NOT_VALIDATED]


@pytest.mark.parametrize(
    ("time", "message"),
    [
        (T[::-1], "strictly increasing"),
        (np.array([T[0], T[0], T[2]]), "strictly increasing"),
        (np.array([T[0], np.datetime64("NaT"), T[2]]), "NaT"),
        (np.array([1.0, 2.0, 3.0]), "datetime64"),
    ],
)
def test_validator_rejects_bad_time(time: object, message: str) -> None:
    with pytest.raises(errors.DatasetError, match=message):
        validate(ds_with(time))


def test_validator_rejects_non_utc_and_missing_units() -> None:
    ds = ds_with()
    ds["time"].attrs["timezone"] = "Europe/Berlin"
    with pytest.raises(errors.DatasetError, match="UTC"):
        validate(ds)
    with pytest.raises(errors.DatasetError, match="no units"):
        validate(ds_with(long_name="ozone"))


def test_validator_rejects_tz_aware_pandas_times() -> None:
    import pandas as pd

    aware = pd.date_range("2024-01-01", periods=3, freq="4s", tz="Europe/Berlin")
    ds = xr.Dataset(
        {"O3": ("time", [1.0, 2.0, 3.0], {"units": "1e-9"})},
        coords={"time": np.array(aware.to_pydatetime(), dtype=object)},
    )
    with pytest.raises(errors.DatasetError, match="UTC"):
        validate(ds)


def test_validator_refuses_coarse_times_beyond_the_ns_range_instead_of_wrapping() -> None:
    time = np.array(["2024-01-01T00:00:00", "2300-01-01T00:00:00"], dtype="datetime64[s]")
    ds = xr.Dataset({"O3": ("time", [1.0, 2.0], {"units": "1e-9"})}, coords={"time": time})
    with pytest.raises(errors.DatasetError, match=r"time 2300-01-01T00:00:00 is outside"):
        validate(ds)  # a plain cast to ns made 2300 into 1715
    ds = ds.isel(time=[0])
    ds["time"].attrs["long_name"] = "time"
    out = validate(ds)
    assert out["time"].dtype == np.dtype("datetime64[ns]")
    assert out["time"].values[0] == np.datetime64("2024-01-01T00:00:00", "ns")
    assert out["time"].attrs["long_name"] == "time"


def test_validator_rejects_unknown_flag_codes() -> None:
    with pytest.raises(errors.DatasetError, match="outside the IAGOS scheme"):
        make_dataset(T, {"O3": ([1.0, 2.0, 3.0], {"units": "1e-9"})}, flags={"O3": [0, 5, 0]})


@pytest.mark.parametrize("dtype", ["int8", "int16", "int64", "uint16"])
def test_validator_checks_flag_codes_of_any_integer_dtype(dtype: str) -> None:
    """Codes outside 0..255 must not wrap into valid ones (260 % 256 == 4, a valid code)."""
    good = xr.Dataset(
        {
            "O3": ("time", [1.0, 2.0, 3.0], {"units": "1e-9"}),
            "O3_flag": ("time", np.array([0, 4, 7], dtype=dtype)),
        },
        coords={"time": T},
    )
    validate(good)
    wrapped = 260 if np.iinfo(dtype).max >= 260 else -1
    bad = good.assign(O3_flag=("time", np.array([0, wrapped, 7], dtype=dtype)))
    with pytest.raises(errors.DatasetError, match=rf"outside the IAGOS scheme: \[{wrapped}\]"):
        validate(bad)


def test_make_dataset_links_flags_as_ancillary_variables() -> None:
    ds = make_dataset(T, {"O3": ([1.0, 2.0, 3.0], {"units": "1e-9"})}, flags={"O3": [0, 3, 7]})
    assert ds["O3"].attrs["ancillary_variables"] == "O3_flag"
    assert ds["O3_flag"].attrs["flag_meanings"] == "good limited bad not_validated missing"
    assert data_variables(ds) == ["O3"]


def test_flag_translations_round_trip() -> None:
    codes = np.array([0, 2, 3, 4, 7], dtype=np.uint8)
    assert to_qartod(codes).tolist() == [1, 3, 4, 2, 9]
    assert from_qartod(to_qartod(codes)).tolist() == codes.tolist()
    with pytest.raises(errors.DatasetError):
        to_qartod([1])
    assert cf_flag_attributes()["flag_values"].tolist() == [0, 2, 3, 4, 7]


def test_worst_and_counts() -> None:
    stacked = np.array([[0, 2, 0, 4], [3, 0, 7, 0]], dtype=np.uint8)
    assert worst(stacked).tolist() == [3, 2, 7, 4]
    assert count_flags([0, 0, 3, 7]) == {
        "good": 2,
        "limited": 0,
        "bad": 1,
        "not_validated": 0,
        "missing": 1,
    }


def test_error_tree() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.StratoflowError)
    assert issubclass(errors.PluginNotFound, LookupError)
    assert issubclass(errors.ConfigError, ValueError)
    err = errors.ReaderError("expected 5 values, found 4", path="f.na", line=12)
    assert str(err) == "f.na: line 12: expected 5 values, found 4"


def test_unknown_plugin_lists_installed_ones() -> None:
    with pytest.raises(errors.PluginNotFound, match=r"installed: .*iagos_netcdf"):
        plugins.load("readers", "no-such-reader")
    with pytest.raises(errors.PluginNotFound, match="extension point"):
        plugins.names("nonsense")


def test_runtime_registration_and_broken_plugin_warns() -> None:
    plugins.register("writers", "null", object)
    try:
        assert "null" in plugins.names("writers")
        assert plugins.load("writers", "null") is object
    finally:
        plugins.unregister("writers", "null")
    assert "null" not in plugins.names("writers")


def test_builtins_are_registered_through_entry_points() -> None:
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="stratoflow.readers")}
    assert {"iagos_netcdf", "cf_netcdf"} <= names
    assert "netcdf" in {ep.name for ep in entry_points(group="stratoflow.writers")}
    assert "local" in {ep.name for ep in entry_points(group="stratoflow.transfer_types")}


def test_public_surface() -> None:
    assert set(stratoflow.__all__) == {
        "StratoflowError",
        "__version__",
        "open_dataset",
        "write_dataset",
    }
