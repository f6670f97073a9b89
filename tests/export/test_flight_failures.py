"""A selection of several flights where some cannot be exported: the others still are.

``stratoflow export`` stopped at the first flight that failed (bad stored data, a writer's
refusal, a file of its name that is someone else's): the flights after it were not exported,
and the error often did not say which flight it was. Now every flight is tried, each failure
is reported with the flight and the defect, no file is left for a failed flight, and the exit
status says that something failed. (A job's export manager runs one task per flight, each
failing on its own, and its report names the task's flight: it never stopped early.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stratoflow.cli import main

from ._flights import approve, import_sample

pytestmark = pytest.mark.django_db


def test_the_other_flights_are_exported_and_each_failure_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.catalog.models import Flight, Segment
    from stratoflow.server.exports.models import ExportRecord, ExportVersion

    flights = [import_sample(tmp_path, seed=seed, hours=0.2).identifier for seed in (31, 32, 33)]
    for identifier in flights:
        approve(identifier)
    order = list(
        Flight.objects.filter(identifier__in=flights)
        .order_by("time_start", "identifier")
        .values_list("identifier", flat=True)
    )
    corrupt, good, foreign = order  # the first one exported fails: nothing after it was tried
    segment = Segment.objects.filter(series__flight__identifier=corrupt).order_by("id").first()
    assert segment is not None
    Segment.objects.filter(pk=segment.pk).update(data=b"\x00" * 64)
    out = tmp_path / "out"
    out.mkdir()
    someones = out / f"{foreign}_L1_v1.nc"
    someones.write_bytes(b"someone's own file")

    status = main(
        ["export", "--flight", *flights, "--format", "netcdf", "--out", str(out), "--json"]
    )
    captured = capsys.readouterr()
    assert status == 1, captured.err
    (item,) = json.loads(captured.out)
    assert item["flight"] == good and Path(item["file"]).is_file()
    errors = [line for line in captured.err.splitlines() if ": error: " in line]
    assert len(errors) == 2, captured.err
    assert corrupt in errors[0] and "segment" in errors[0], errors
    assert foreign in errors[1] and "already exists" in errors[1], errors
    assert "2 of 3 flight(s) not exported, 1 written" in captured.err
    assert "Traceback" not in captured.err
    # Nothing of the failed flights: no file, no record, no version number claimed.
    assert sorted(p.name for p in out.iterdir()) == sorted([Path(item["file"]).name, someones.name])
    assert someones.read_bytes() == b"someone's own file"
    assert list(ExportRecord.objects.values_list("subject", flat=True)) == [good]
    assert list(ExportVersion.objects.values_list("subject", flat=True)) == [good]
