"""Metadata import from a workbook: the same catalog as the YAML file, the same audit trail.

The workbooks are built with openpyxl in ``tmp_path``; ``FLEET`` spells the YAML fixture of
``test_metadata_import.py`` the way a data manager would fill a spreadsheet (date cells and ISO
text mixed, numbers in text columns, headers with capitals and spaces, a notes sheet, the
empty sheet a new workbook comes with).
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.conf import LazySettings

from stratoflow.cli import main
from stratoflow.errors import CatalogError

from ._helpers import metadata_job
from .test_metadata_import import METADATA

Sheets = dict[str, list[list[Any]]]

FLEET: Sheets = {
    "_notes": [["who fills this workbook", "the instrument PIs"], ["anything", 42]],
    "projects": [["name", "kind"], ["IAGOS", "infrastructure"]],
    "campaigns": [
        ["name", "project", "start", "end"],
        ["winter-2019", "IAGOS", date(2019, 1, 1), "2019-03-01"],
    ],
    "aircraft": [
        ["Registration", "airline", "type", "Serial Number", "platform", "Active from"],
        ["D-AIGT", " Lufthansa ", "A340-300", "0354", "IAGOS-01", datetime(2011, 7, 1)],
    ],
    "locations": [["name", "aircraft"], ["avionics bay", "D-AIGT"]],
    "Component types": [
        ["name", "quantity", "units"],
        ["P1 package", "O3 and CO", 1.0],
        ["O3 photometer", "ozone", 1e-9],
    ],
    "component_classes": [["name"], ["instrument"], ["sensor"]],
    "components": [
        ["type", "class", "serial", "status"],
        ["P1 package", "instrument", "P1-001", None],
        ["O3 photometer", "sensor", "S-7", "operational"],
    ],
    "installations": [
        ["component", "parent", "from", "to"],
        ["O3 photometer/S-7", "P1 package/P1-001", "2019-01-01", "  "],
    ],
    "deployments": [
        ["instrument", "aircraft", "location", "campaign", "start", "end"],
        [
            "P1 package/P1-001",
            "D-AIGT",
            "avionics bay",
            "winter-2019",
            datetime(2019, 1, 2),
            "2019-02-01T00:00:00Z",
        ],
    ],
    "calibrations": [
        ["component", "time", "function", "offset", "offset units", "slope", "slope_units"],
        ["O3 photometer/S-7", datetime(2019, 1, 1, 6), "linear", 0.5, 1e-9, 1.01, 1],
        [None, None, None, None, None, None, None],
        ["O3 photometer/S-7", "2019-02-03T06:00:00Z", "linear", "0.7", "1e-9", 1.02, "1"],
    ],
}


def write(path: Path, sheets: Sheets) -> Path:
    """Write ``sheets`` (name -> rows, headers first) as a workbook; keep the default sheet."""
    book = openpyxl.Workbook()
    for name, rows in sheets.items():
        ws = book.create_sheet(name)
        for row in rows:
            ws.append(row)
    book.save(path)
    return path


def fleet(**changes: Any) -> Sheets:
    """A copy of FLEET with cells replaced: ``sheet=[(row, column, value), ...]`` (1-based)."""
    sheets = copy.deepcopy(FLEET)
    for sheet, cells in changes.items():
        for row, column, value in cells:
            sheets[sheet][row - 1][column - 1] = value
    return sheets


@pytest.mark.django_db
def test_workbook_gives_the_yaml_catalog_and_reimport_changes_nothing(tmp_path: Path) -> None:
    from stratoflow.server.catalog.metadata import metadata_import_file
    from stratoflow.server.catalog.models import Aircraft, Calibration, ComponentType

    book = metadata_import_file(write(tmp_path / "fleet.xlsx", FLEET), who="alice")
    assert book.created == {
        "projects": 1,
        "campaigns": 1,
        "aircraft": 1,
        "locations": 1,
        "component_types": 2,
        "component_classes": 2,
        "components": 2,
        "installations": 1,
        "deployments": 1,
        "calibrations": 2,
    }
    assert Aircraft.objects.get().serial_number == "0354"
    assert sorted(ComponentType.objects.values_list("units", flat=True)) == ["1", "1e-9"]
    assert Calibration.objects.last().parameters == {  # type: ignore[union-attr]
        "offset": {"value": 0.7, "units": "1e-9"},
        "slope": {"value": 1.02, "units": "1"},
    }

    # The YAML file describing the same catalog finds every object as it would have made it.
    yaml_path = tmp_path / "fleet.yaml"
    yaml_path.write_text(METADATA)
    from_yaml = metadata_import_file(yaml_path, who="bob")
    assert not from_yaml.changed and sum(from_yaml.unchanged.values()) == 14

    again = metadata_import_file(tmp_path / "fleet.xlsx", who="carol")
    assert not again.changed and again.unchanged == book.created

    # Different bytes (a note edited, the file saved again), same content: nothing changes.
    edited = fleet(_notes=[(1, 2, "the instrument PIs and the data centre")])
    resaved = metadata_import_file(write(tmp_path / "fleet.xlsx", edited), who="dave")
    assert not resaved.changed and resaved.source != again.source


@pytest.mark.django_db
def test_a_changed_cell_is_one_audited_update(tmp_path: Path) -> None:
    from stratoflow.server.catalog.metadata import metadata_import_file
    from stratoflow.server.catalog.models import MetadataChange

    path = write(tmp_path / "fleet.xlsx", FLEET)
    metadata_import_file(path, who="alice")
    write(path, fleet(calibrations=[(4, 6, 1.03)]))
    report = metadata_import_file(path, who="bob")
    assert report.updated == {"calibrations": 1} and report.created == {}
    (change,) = MetadataChange.objects.filter(who="bob")
    assert (change.model, change.action) == ("Calibration", "update")
    assert change.key == "O3 photometer/S-7@2019-02-03T06:00:00+00:00"
    old, new = change.changes["parameters"]
    assert (old["slope"]["value"], new["slope"]["value"]) == (1.02, 1.03)
    assert change.source.startswith("fleet.xlsx@") and len(change.source) == len("fleet.xlsx@") + 12


@pytest.mark.django_db
def test_parameters_column_holds_other_shapes(tmp_path: Path) -> None:
    from stratoflow.server.catalog.metadata import metadata_import_file
    from stratoflow.server.catalog.models import Calibration

    sheets = fleet()
    sheets["calibrations"] = [
        ["component", "time", "function", "c0", "c0_units", "parameters"],
        ["O3 photometer/S-7", "2019-01-01T06:00Z", "polynomial", 0.5, "1e-9", "{c1: {value: 2}}"],
    ]
    metadata_import_file(write(tmp_path / "fleet.xlsx", sheets), who="alice")
    assert Calibration.objects.get().parameters == {
        "c0": {"value": 0.5, "units": "1e-9"},
        "c1": {"value": 2},
    }

    sheets["calibrations"][1][5] = "{c0: {value: 1}}"
    with pytest.raises(CatalogError, match="row 2, column parameters: coefficient 'c0' is also"):
        metadata_import_file(write(tmp_path / "fleet.xlsx", sheets), who="alice")


def _formula_without_result() -> Sheets:
    sheets = fleet()
    sheets["deployments"][1][5] = "=E2+30"  # openpyxl saves formulas without a result
    return sheets


def _unknown_aircraft() -> Sheets:
    return fleet(deployments=[(2, 2, "D-XXXX")])


def _overlapping_deployment() -> Sheets:
    sheets = fleet()
    sheets["deployments"].append(["P1 package/P1-001", "D-AIGT", None, None, "2019-01-20", None])
    return sheets


def _without_start_column() -> Sheets:
    sheets = fleet()
    sheets["deployments"] = [row[:4] + row[5:] for row in sheets["deployments"]]
    return sheets


def _units_without_value() -> Sheets:
    return fleet(calibrations=[(2, 6, None)])


def _value_without_header() -> Sheets:
    sheets = fleet()
    sheets["projects"][1].extend([None, "stray"])
    return sheets


def _misspelt_sheet() -> Sheets:
    sheets = fleet()
    sheets["deploymnts"] = sheets.pop("deployments")
    return sheets


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sheets", "message"),
    [
        (
            fleet(deployments=[(2, 5, "next week")]),
            "sheet deployments, row 2, column start: not a date: 'next week' (use a date cell",
        ),
        (
            fleet(deployments=[(2, 5, 43467.25)]),
            "sheet deployments, row 2, column start: not a date: 43467.25 is a plain number",
        ),
        (
            fleet(deployments=[(1, 5, "strat")]),
            "sheet deployments, row 1, column strat: unknown column; the deployments columns",
        ),
        (_misspelt_sheet(), "sheet deploymnts is not a section"),
        (_without_start_column(), "sheet deployments: missing column(s) start"),
        (fleet(calibrations=[(4, 4, "0,7")]), "row 4, column offset: not a number: '0,7' (use"),
        (_units_without_value(), "row 2, column slope_units: units without a value"),
        (_value_without_header(), "sheet projects, row 2, column D: a value ('stray') under"),
        (fleet(components=[(3, 3, date(2019, 7, 1))]), "row 3, column serial: expected text"),
        (_formula_without_result(), "row 2, column end: a formula without a saved result"),
        (fleet(calibrations=[(4, 3, None)]), "row 4, column function: 'function' is required"),
        (_unknown_aircraft(), "sheet deployments, row 2, column aircraft: unknown Aircraft"),
        (
            _overlapping_deployment(),
            "sheet deployments, row 3: deployments P1 package/P1-001@2019-01-20T00:00:00+00:00",
        ),
    ],
    ids=[
        "bad-date",
        "number-as-date",
        "unknown-column",
        "unknown-sheet",
        "missing-key-column",
        "bad-number",
        "units-without-value",
        "no-header",
        "date-as-text",
        "uncomputed-formula",
        "missing-key-value",
        "unknown-reference",
        "overlap",
    ],
)
def test_errors_name_sheet_row_and_column_and_write_nothing(
    tmp_path: Path, sheets: Sheets, message: str
) -> None:
    from stratoflow.server.catalog.metadata import metadata_import_file
    from stratoflow.server.catalog.models import MetadataChange, Project

    path = write(tmp_path / "fleet.xlsx", sheets)
    with pytest.raises(CatalogError, match=r"^fleet\.xlsx: .*" + re.escape(message)):
        metadata_import_file(path, who="alice")
    assert Project.objects.count() == 0 and MetadataChange.objects.count() == 0


@pytest.mark.django_db
def test_formulas_are_read_by_their_saved_result(tmp_path: Path) -> None:
    from stratoflow.server.catalog.metadata import metadata_import_file
    from stratoflow.server.catalog.models import Project

    formula = '=LOWER("INFRASTRUCTURE")'
    path = write(tmp_path / "fleet.xlsx", fleet(projects=[(2, 2, formula)]))
    # openpyxl saves no result; a spreadsheet program saves the formula and its result.
    original = zipfile.ZipFile(path).infolist()
    parts = {i.filename: zipfile.ZipFile(path).read(i) for i in original}
    computed = b'<c r="B2" t="str"><f>LOWER("INFRASTRUCTURE")</f><v>infrastructure</v></c>'
    hits = 0
    for name, data in parts.items():
        if name.startswith("xl/worksheets/") and b"<f>LOWER" in data:
            parts[name] = data.replace(
                b'<c r="B2"><f>LOWER("INFRASTRUCTURE")</f><v></v></c>', computed
            )
            hits += parts[name] != data
    assert hits == 1
    with zipfile.ZipFile(path, "w") as out:
        for name, data in parts.items():
            out.writestr(name, data)
    metadata_import_file(path, who="alice")
    assert Project.objects.get().kind == "infrastructure"


def test_template_never_replaces_a_file(tmp_path: Path) -> None:
    from stratoflow.server.catalog.spreadsheet import write_template

    filled = write(tmp_path / "catalog.xlsx", FLEET)
    before = filled.read_bytes()
    with pytest.raises(CatalogError, match="already exists"):
        write_template(filled)
    assert filled.read_bytes() == before
    assert main(["import-metadata"]) == 1


def test_template_needs_no_django_setup(tmp_path: Path) -> None:
    # The command line runs without Django configured until a command needs the database.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = "import sys; from stratoflow.cli import main; sys.exit(main(sys.argv[1:]))"
    out = tmp_path / "t.xlsx"
    run = subprocess.run(
        [sys.executable, "-c", code, "import-metadata", "--template", str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert openpyxl.load_workbook(out)["deployments"]["E1"].value == "location"


@pytest.mark.parametrize(
    ("number", "text"),
    [(354.0, "354"), (1e-09, "1e-9"), (1.5, "1.5"), (2.5e-12, "2.5e-12"), (1e20, "1e20")],
)
def test_numbers_in_text_columns_read_as_shown(number: float, text: str) -> None:
    # openpyxl gives floats for numbers saved with a point or exponent ("354.0", "1E-9").
    from stratoflow.server.catalog.spreadsheet import _text

    assert _text(number) == text


def test_not_a_workbook_is_named(tmp_path: Path) -> None:
    from stratoflow.server.catalog.spreadsheet import read_workbook

    with pytest.raises(CatalogError, match=r"^x\.xlsx: not a readable \.xlsx workbook"):
        read_workbook(b"PK\x03\x04 truncated", name="x.xlsx")
    with pytest.raises(CatalogError, match=r"legacy binary \.xls workbook; save it as \.xlsx"):
        read_workbook(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), name="x.xls")


def shown(value: Any) -> str:
    """A cell as a spreadsheet program shows it, hence writes it to CSV."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}".replace("e-09", "e-9")
    return str(value)


@pytest.mark.django_db
def test_csv_folder_is_the_same_catalog(tmp_path: Path) -> None:
    from stratoflow.server.catalog.metadata import metadata_import_file

    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "README.md").write_text("not a section, not a CSV: ignored\n")
    (folder / "_notes.csv").write_text("anything,at all\n")
    for name, rows in FLEET.items():
        if name.startswith("_"):
            continue
        lines = [";".join(shown(v) for v in row) for row in rows]
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    first = metadata_import_file(folder, who="alice")
    assert sum(first.created.values()) == 14 and first.source.startswith("catalog@")

    yaml_path = tmp_path / "fleet.yaml"
    yaml_path.write_text(METADATA)
    assert not metadata_import_file(yaml_path, who="bob").changed
    assert not metadata_import_file(folder, who="carol").changed

    (folder / "deployments.csv").write_text("instrument;aircraft;strat\n")
    with pytest.raises(CatalogError, match=r"catalog: deployments\.csv, row 1, column strat"):
        metadata_import_file(folder, who="dave")


@pytest.mark.django_db(transaction=True)
def test_cli_template_and_job_import_workbooks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], settings: LazySettings
) -> None:
    from stratoflow.server.catalog.metadata import FIELDS, REQUIRED
    from stratoflow.server.catalog.models import Calibration, Component
    from stratoflow.server.workflow.services import job_run

    template = tmp_path / "template.xlsx"
    assert main(["import-metadata", "--template", str(template)]) == 0
    book = openpyxl.load_workbook(template)
    assert book.sheetnames == ["_readme", *FIELDS]
    for section, fields in FIELDS.items():
        headers = [c.value for c in book[section][1]]
        assert set(REQUIRED[section]) <= set(headers)
        assert set(fields) <= set(headers) | {"parameters"}
    capsys.readouterr()
    # An empty template is a valid (empty) catalog: every header it writes is accepted.
    assert main(["import-metadata", str(template), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changes"] == []

    # The template, filled in a spreadsheet program, is what a data manager sends.
    folder = tmp_path / "metadata"
    folder.mkdir()
    filled = openpyxl.load_workbook(template)
    for section, rows in FLEET.items():
        name = section.lower().replace(" ", "_")
        if name.startswith("_"):
            continue
        ws = filled[name]
        columns = [c.value for c in ws[1]]
        for row in rows[1:]:
            record = dict(zip([h.lower().replace(" ", "_") for h in rows[0]], row, strict=True))
            ws.append([record.get(str(c)) for c in columns])
    filled.save(folder / "fleet.xlsx")

    settings.STAGING_DIR = tmp_path / "staging"
    job = metadata_job(folder, "*.xlsx")
    report = job_run(job)
    assert report.state != "failed", report
    assert Component.objects.count() == 2 and Calibration.objects.count() == 2

    assert main(["import-metadata", str(folder / "fleet.xlsx")]) == 0
    assert capsys.readouterr().out.startswith("fleet.xlsx: 0 created, 0 updated, 14 unchanged")

    write(folder / "bad.xlsx", fleet(deployments=[(2, 5, "next week")]))
    assert main(["import-metadata", str(folder / "bad.xlsx")]) == 1
    assert "sheet deployments, row 2, column start: not a date" in capsys.readouterr().err
