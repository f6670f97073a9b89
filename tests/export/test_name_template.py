"""Export file names from a template (``--name-template``, the export manager's
``name_template``): checked before anything runs, cleaned as the default names are."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratoflow.cli import main
from stratoflow.errors import ConfigError
from stratoflow.exporters.naming import check_name_template, render_name

from ._flights import Imported, approve

IAGOS = "IAGOS_timeseries_{flight}_{level}_{version}.nc4"


@pytest.mark.django_db
def test_cli_names_files_by_the_template_and_counts_versions(
    imported: Imported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Files were always named <flight>_<level>_v<version>.nc; IAGOS users know
    IAGOS_timeseries_<flight>_<level>_<version>.nc4. Another content is the next version."""
    from stratoflow.server.catalog.models import Flight
    from stratoflow.server.exports.models import ExportRecord

    approve(imported.identifier)
    approve(imported.identifier, level="L2")
    out = tmp_path / "out"
    args = ["export", "--flight", imported.identifier, "--level", "L2", "--format"]
    assert main([*args, "iagos-netcdf", "--out", str(out), "--name-template", IAGOS]) == 0
    assert main([*args, "iagos-netcdf", "--out", str(out), "--name-template", IAGOS,
                 "--variables", "O3_P1"]) == 0  # fmt: skip
    start = Flight.objects.get(identifier=imported.identifier).time_start
    assert start is not None
    day = start.strftime("%Y%m%d")
    dated = "{date} {flight}:{resolution}.{format}_v{version}{suffix}"
    assert main([*args, "csv", "--out", str(out), "--name-template", dated,
                 "--resample", "1min"]) == 0  # fmt: skip
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            f"IAGOS_timeseries_{imported.identifier}_L2_1.nc4",
            f"IAGOS_timeseries_{imported.identifier}_L2_2.nc4",
            f"{day}_{imported.identifier}_1min.csv_v1.csv",  # ' ' and ':' made safe
        ]
    )
    names = set(ExportRecord.objects.values_list("file_name", flat=True))
    assert names == {p.name for p in out.iterdir()}


@pytest.mark.parametrize(
    ("fmt", "template", "message"),
    [
        ("netcdf", "{flight}_{lvl}_{version}.nc", "unknown placeholder {lvl}; known: {flight}"),
        ("netcdf", "{flight}_{}_{version}.nc", "unknown placeholder {}"),
        ("netcdf", "{flight.real}_{version}.nc", "unknown placeholder {flight.real}"),
        ("csv", "{flight}_{level}.csv", "lacks {version}; without it two versions of a flight"),
        ("netcdf", "{date}_{version}.nc", "lacks {flight}; without it two flights"),
        ("icartt", "{flight}_{version}.ict", "not for format icartt: ICARTT files are named"),
        ("netcdf", "{flight}_{version}_{.nc", "expected '}' before end of string (write {{ or }}"),
        ("netcdf", "{flight}_{level:d}_{version}.nc", "{level:d} does not fit {level} = 'L2'"),
        ("netcdf", "{flight}_{version}}.nc", "Single '}' encountered in format string"),
        ("netcdf", "{flight!x}_{version}.nc", "{flight!x} does not fit {flight}"),
        ("netcdf", "{flight}_{version:.2}.nc", "{version:.2} does not fit {version} = 1"),
        ("netcdf", "{flight:{nope}}_{version}.nc", "unknown placeholder {nope}"),
        # format specs that make two flights or versions one name
        (
            "netcdf",
            "{flight:.0}_v{version}.nc",
            "names flight 2019010510370802 v1 and flight 2019010510370803 v1 alike ('_v1.nc')",
        ),
        ("netcdf", "{flight:.8}_v{version}{suffix}", "alike ('20190105_v1.nc')"),
        ("netcdf", "{flight}_v{version:c}.nc", "v1 and flight 2019010510370802 v2 alike"),
        ("netcdf", "{flight}{version}.nc", "names flight D-AIGT1 v1 and flight D-AIGT v11"),
        (
            "netcdf",
            "{flight:.40}_v{version}.nc",
            "names flight FFFFFFFFFFFF...FFFFFFFFFFF1 v1 "
            "and flight FFFFFFFFFFFF...FFFFFFFFFFF2 v1 alike",
        ),
        # a folder
        (
            "netcdf",
            "{date}/{flight}_v{version}.nc",
            "with the path separator '/': a template names the file, not a folder",
        ),
        ("netcdf", "..\\{flight}_v{version}.nc", "with the path separator '\\\\'"),
        ("netcdf", "{flight}_v{version:/>3}.nc", "gives '2019010510370802_v//1.nc'"),
        ("netcdf", "{flight}_v{version:>300}.nc", "gives names of 321 bytes"),
    ],
)
def test_cli_refuses_a_bad_template_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, template: str, message: str
) -> None:
    """Refused at the start, naming the defect (exit status 2), before the database is set up
    and before any file is written."""
    out = tmp_path / "out"
    args = ["export", "--format", fmt, "--out", str(out), "--name-template", template]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("stratoflow export: error: --name-template"), err
    assert message in err, err
    assert not out.exists()


def test_rendered_names_are_cleaned_like_default_names() -> None:
    """Template text that would name a hidden file, or characters unsafe in a file name, are
    made safe, as the flight identifier always was (a folder is refused, above)."""
    template = "..{flight} x:v{version:02d}{suffix}"
    assert check_name_template(template, "netcdf") == template
    fields = {"flight": "a_b", "level": "L1", "resolution": "", "version": 3, "format": "csv",
              "suffix": ".csv", "date": "20190105"}  # fmt: skip
    assert render_name(template, fields) == "a_b_x_v03.csv"


def test_export_options_check_their_template() -> None:
    """The library's own entry point refuses a bad template too, not only the command line."""
    from stratoflow.exporters.export import ExportOptions

    assert ExportOptions(format="csv", name_template="{flight}_v{version}.csv").name_template
    with pytest.raises(ConfigError, match=r"unknown placeholder \{flightid\}"):
        ExportOptions(format="netcdf", name_template="{flightid}_{version}.nc")
    with pytest.raises(ConfigError, match=r"'\{flight:\.0\}_\{version\}.nc': names flight"):
        ExportOptions(format="netcdf", name_template="{flight:.0}_{version}.nc")
