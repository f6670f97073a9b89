"""Task manager options are checked when a definition is saved, naming the offending key."""

from __future__ import annotations

from typing import Any

import pytest

from stratoflow.errors import ConfigError
from stratoflow.server.workflow.options import check_manager_options

GOOD_IMPORT: dict[str, Any] = {
    "reader": "delimited",
    "reader_options": {"preset": "fairo_omc"},
    "level": "L1",
    "processing": [{"step": "clock_sync", "params": {"variable": "p"}}, {"step": "units"}],
    "references": {"aircraft": {"pattern": "*.HAL"}},
    "qc": {"config": "iagos-standard", "evaluation": "critical"},
    "review": True,
}


def test_good_options_pass() -> None:
    check_manager_options("import", GOOD_IMPORT)
    check_manager_options("import", {"qc": False})
    check_manager_options("export", {"level": "L2", "format": "nasa-ames", "valid_flags": ["good"]})
    check_manager_options("export", {"writer": "nasa_ames", "format": "nasa-ames"})
    check_manager_options("export", {"writer": "netcdf", "format": "iagos-netcdf"})
    iagos = "IAGOS_timeseries_{flight}_{level}_{version}.nc4"
    check_manager_options("export", {"format": "iagos-netcdf", "name_template": iagos})
    check_manager_options("metadata", {})
    check_manager_options("a-site-kind", {"anything": 1})  # a site's own kind checks itself


@pytest.mark.parametrize(
    ("kind", "change", "message"),
    [
        ("import", {"levl": "L1"}, "levl: unknown option of 'import' managers"),
        ("import", {"reader": "netcdf4"}, "reader: no reader 'netcdf4'; installed:"),
        ("import", {"level": "L3"}, "level: use one of L0, L1, L2"),
        ("import", {"processing": [{"step": "clok_sync"}]}, "processing[0].step: unknown step"),
        ("import", {"processing": {"step": "units"}}, "processing: must be a list"),
        (
            "import",
            {"processing": [{"step": "units"}, {"step": "clock_sync", "parms": {}}]},
            "processing[1].parms: unknown key; use step, params",
        ),
        (
            "import",
            {"processing": [{"step": "clock_sync", "params": {"variabel": "p"}}]},
            "processing[0].params.variabel: unknown parameter of step 'clock_sync'; known:",
        ),
        ("import", {"qc": {"evaluation": "best"}}, "qc.evaluation: no evaluation method 'best'"),
        ("import", {"qc": {"confg": "x"}}, "qc.confg: unknown key"),
        ("export", {"format": "hdf5"}, "format: use one of netcdf"),
        ("export", {"valid_flags": ["fine"]}, "valid_flags: unknown flag 'fine'"),
        ("export", {"retry": {"attempts": 3, "bse": 1}}, "retry:"),
        ("export", {"writer": "nasa-ames"}, "writer: use one of netcdf, nasa_ames"),
        (
            "export",
            {"writer": "icartt", "format": "csv"},
            "writer: 'icartt' writes icartt, not csv",
        ),
        (
            "export",
            {"name_template": "{flight}_{levle}_{version}.nc"},
            "name_template '{flight}_{levle}_{version}.nc': unknown placeholder {levle}; known:",
        ),
        (
            "export",
            {"name_template": "IAGOS_{flight}_{level}.nc"},
            "name_template 'IAGOS_{flight}_{level}.nc': lacks {version}; without it two "
            "versions of a flight would get the same file name",
        ),
        (
            "export",
            {"format": "icartt", "name_template": "{flight}_{version}.ict"},
            "name_template: not for format icartt: ICARTT files are named as the ICARTT",
        ),
        (
            "export",
            {"writer": "icartt", "name_template": "{flight}_{version}.ict"},
            "name_template: not for format icartt",
        ),
        ("metadata", {"reader": "x"}, "reader: unknown option of 'metadata' managers"),
    ],
)
def test_bad_options_name_their_key(kind: str, change: dict[str, Any], message: str) -> None:
    options = {**GOOD_IMPORT, **change} if kind == "import" else change
    with pytest.raises(ConfigError) as info:
        check_manager_options(kind, options)
    assert str(info.value).startswith(message.split(":")[0]) and message in str(info.value)
