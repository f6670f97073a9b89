"""The verdict on an unconfirmed upload from what the target shows
(stratoflow.exporters.unconfirmed.judge): only a whole file of the export's size (and
checksum, where told) counts as arrived, only an empty place as not arrived."""

from __future__ import annotations

import pytest

from stratoflow.exporters.unconfirmed import Verdict, judge
from stratoflow.transfer import UploadTrace

NAME = "flight.ict"
SIZE = 123_456
SHA = "ab" * 32
PART = f".{NAME}.worker-1-99.0a1b2c.part"


@pytest.mark.parametrize(
    ("trace", "verdict", "found"),
    [
        (
            UploadTrace(NAME, exists=True, size=SIZE),
            Verdict.ARRIVED,
            f"{NAME} is there with the export's size ({SIZE} bytes)",
        ),
        (
            UploadTrace(NAME, exists=True, size=SIZE, sha256=SHA.upper()),
            Verdict.ARRIVED,
            f"{NAME} is there with the export's size and SHA-256",
        ),
        (  # the file renamed in; a leftover of an earlier try beside it changes nothing
            UploadTrace(NAME, exists=True, size=SIZE, leftovers=(PART,)),
            Verdict.ARRIVED,
            f"an unfinished upload of it left {PART}",
        ),
        (
            UploadTrace(NAME, exists=False),
            Verdict.NOT_ARRIVED,
            f"neither {NAME} nor an unfinished upload of it is there",
        ),
        (
            UploadTrace(NAME, exists=False, leftovers=(PART,)),
            Verdict.UNCLEAR,
            f"no {NAME}, but an unfinished upload of it left {PART}",
        ),
        (
            UploadTrace(NAME, exists=True, size=SIZE - 1),
            Verdict.UNCLEAR,
            f"{NAME} is there with {SIZE - 1} bytes, the export has {SIZE}",
        ),
        (
            UploadTrace(NAME, exists=True, size=SIZE, sha256="cd" * 32),
            Verdict.UNCLEAR,
            f"but SHA-256 {'cd' * 32}, the export's is {SHA}",
        ),
        (
            UploadTrace(NAME, exists=True, size=None),
            Verdict.UNCLEAR,
            f"{NAME} is there, but the server tells no size",
        ),
    ],
)
def test_the_verdict_follows_what_the_target_shows(
    trace: UploadTrace, verdict: Verdict, found: str
) -> None:
    finding = judge(trace, SIZE, SHA)
    assert finding.verdict is verdict
    assert found in finding.found


@pytest.mark.parametrize("value", ["no", 0, None])
def test_check_target_is_true_or_false(value: object) -> None:
    from stratoflow.errors import ConfigError
    from stratoflow.server.workflow.options import check_manager_options

    check_manager_options("export", {"check_target": False})
    with pytest.raises(ConfigError, match=r"^check_target: true or false"):
        check_manager_options("export", {"check_target": value})
