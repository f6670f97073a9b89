"""Flight identity across formats: the canonical platform key and the netCDF conversion rule.

The real pair (the ACT-America B200 merge of 2017-01-21 as ICARTT and as the ORNL DAAC netCDF,
whose platform attributes are spelt ``NASA B200 Aircraft`` and ``NASA B-200 Aircraft``) must
name one flight; generated names and attribute sets check the rule both ways: spellings that
are one platform give one key, and evidence that contradicts itself is never joined.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratoflow.flights import converted_flight, flight_identifier, platform_key
from stratoflow.readers import CfNetcdfReader, IcarttReader

ICT = "icartt/ACTAMERICA-mrg05-b200_merge_20170121_R0.ict"
NC = "icartt/ACTAMERICA-mrg05-b200_merge_20170121_R0.nc"


def test_the_icartt_file_and_its_netcdf_conversion_name_one_flight(shared_data: Path) -> None:
    """Read in place: the ICARTT header and the netCDF attributes spell the platform
    differently, and the netCDF's own flight label is ``merge_20170121`` (one per campaign
    day, the C-130's merge of that day has it too): they named two flights."""
    ict = IcarttReader().read(shared_data / ICT)
    nc = CfNetcdfReader().read(shared_data / NC)
    assert ict.attrs["platform"] == "NASA B200 Aircraft"  # as given, for display
    assert nc.attrs["platform"] == "NASA B-200 Aircraft"
    assert ict.attrs["flight"] == nc.attrs["flight"] == "nasa-b-200-aircraft_20170121"
    assert nc.attrs["flight_label"] == "merge_20170121"


@pytest.mark.parametrize(
    "spelling",
    [
        "NASA B200 Aircraft",
        "NASA B-200 Aircraft",
        "nasa_b200_aircraft",
        "NASA  B.200-AIRCRAFT",
        " NASA B 200 Aircraft ",
        "NASA-B200Aircraft",
        "ＮＡＳＡ Ｂ２００ Aircraft",  # full-width letters and digits (NFKC)
        "NASA/B200 (Aircraft)",
    ],
)
def test_trivial_spellings_are_one_platform(spelling: str) -> None:
    assert platform_key(spelling) == "nasa-b-200-aircraft"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("NASA B200 Aircraft", "NASAB200 Aircraft"),  # a word boundary is not spelling
        ("NASA B200", "NASA B20 0"),  # another number
        ("NASA B200", "NASA B2000"),
        ("B200", "B200+"),  # a symbol is part of the name
        ("NASA DC-8", "NASA DC-10"),
        ("D-AIGT", "D-AIGX"),
        ("HALO", "HAL0"),  # the letter O and the digit 0
        ("Falcon 20", "Falcon 2.0"),
    ],
)
def test_other_platforms_keep_other_keys(one: str, other: str) -> None:
    assert platform_key(one) != platform_key(other)


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)
_NUMBER = st.text(alphabet="0123456789", min_size=1, max_size=4)
_SEPARATOR = st.sampled_from([" ", "-", "_", ".", "  ", " - ", "/", ", "])


@st.composite
def _spellings(draw: st.DrawFn) -> tuple[list[str], str, str]:
    """A platform name as tokens, and two random spellings of it: random case, and any
    separators where the file may choose (between a word and a number: none or any)."""
    kinds = draw(st.lists(st.sampled_from(["word", "number"]), min_size=1, max_size=6))
    tokens = [draw(_WORD if kind == "word" else _NUMBER) for kind in kinds]

    def spell() -> str:
        out = ""
        for i, token in enumerate(tokens):
            cased = "".join(c.upper() if draw(st.booleans()) else c for c in token)
            if i:
                same = kinds[i] == kinds[i - 1]
                out += draw(_SEPARATOR) if same or draw(st.booleans()) else ""
            out += cased
        return out

    return tokens, spell(), spell()


@settings(max_examples=200, deadline=None)
@given(_spellings())
def test_generated_spellings_of_one_name_share_a_key(case: tuple[list[str], str, str]) -> None:
    tokens, one, other = case
    assert platform_key(one) == platform_key(other) == "-".join(tokens)


@settings(max_examples=200, deadline=None)
@given(_spellings(), st.data())
def test_generated_names_that_differ_keep_apart(
    case: tuple[list[str], str, str], data: st.DataObject
) -> None:
    """Joining two words or two numbers, or changing a character, is another platform."""
    tokens, spelt, _ = case
    i = data.draw(st.integers(0, len(tokens) - 1))
    changed = tokens.copy()
    digit = changed[i][0].isdigit()
    replacement = data.draw(
        st.sampled_from("0123456789" if digit else "abcdefghijklmnopqrstuvwxyz").filter(
            lambda c: c != changed[i][0]
        )
    )
    changed[i] = replacement + changed[i][1:]
    assert platform_key(" ".join(changed)) != platform_key(spelt)
    same = [
        j for j in range(1, len(tokens)) if tokens[j][0].isdigit() == tokens[j - 1][0].isdigit()
    ]
    if same:  # two words (or two numbers) written together are one word (number)
        j = data.draw(st.sampled_from(same))
        glued = " ".join([*tokens[: j - 1], tokens[j - 1] + tokens[j], *tokens[j + 1 :]])
        assert platform_key(glued) != platform_key(spelt)


_ATTRS = {"platform": "NASA B-200 Aircraft", "flight_date": "2017-01-21"}
_NAME = "ACTAMERICA-mrg05-b200_merge_20170121_R0.nc"
_START = np.datetime64("2017-01-21T17:00:09.5", "ns")


@pytest.mark.parametrize(
    ("name", "attrs", "expected"),
    [
        (_NAME, _ATTRS, "nasa-b-200-aircraft_20170121"),
        (_NAME.replace(".nc", ".nc4"), _ATTRS, "nasa-b-200-aircraft_20170121"),
        ("X-O3_B200_20170121_R1_L2_V3_final.nc", {"platform": "B200", "file_volume_number": "3"},
         "b-200_20170121_L2_V3"),
        ("X-O3_B200_2017012117_R0.nc", {**_ATTRS, "time_coverage_start": "2017-01-21T17:00:09Z"},
         "nasa-b-200-aircraft_2017012117"),
        (_NAME, {**_ATTRS, "flight": "merge_20170121"}, "nasa-b-200-aircraft_20170121"),
        (_NAME, {**_ATTRS, "flight": "RF01"}, "nasa-b-200-aircraft_20170121"),
        (_NAME, {**_ATTRS, "flight_date": "N/A"}, "nasa-b-200-aircraft_20170121"),
    ],
)  # fmt: skip
def test_a_conversion_that_agrees_with_its_name_lands_on_the_icartt_flight(
    name: str, attrs: dict[str, Any], expected: str
) -> None:
    assert converted_flight(name, attrs, _START) == expected


@pytest.mark.parametrize(
    ("name", "attrs", "start", "why"),
    [
        ("flight01.nc", _ATTRS, _START, "not an ICARTT name"),
        (_NAME.replace(".nc", ".ict"), _ATTRS, _START, "an ICARTT file is the ICARTT reader's"),
        (_NAME, {"flight_date": "2017-01-21"}, _START, "no platform"),
        (_NAME, {**_ATTRS, "platform": "N/A"}, _START, "no platform"),
        (_NAME, _ATTRS, np.datetime64("2017-01-22T00:00:01", "ns"), "data of another day"),
        (_NAME, _ATTRS, None, "no data"),
        (_NAME, {**_ATTRS, "flight_date": "2017-01-22"}, _START, "a date attribute differs"),
        (_NAME, {**_ATTRS, "time_coverage_start": "2016-07-11T17:00:00Z"}, _START,
         "time coverage of another day"),
        (_NAME, {**_ATTRS, "flight_date": "21 January"}, _START, "an unreadable date"),
        (_NAME, {**_ATTRS, "file_volume_number": "2"}, _START, "another volume"),
        (_NAME.replace("_R0", "_R0_V2"), {**_ATTRS, "file_volume_number": "1"}, _START,
         "the name's volume is not the file's"),
        (_NAME, {**_ATTRS, "flight": "merge_20160711"}, _START, "a label of another day"),
        (_NAME, {**_ATTRS, "flight_number": "20170122a"}, _START, "a label of another day"),
    ],
)  # fmt: skip
def test_contradicting_evidence_is_never_joined(
    name: str, attrs: dict[str, Any], start: np.datetime64 | None, why: str
) -> None:
    assert converted_flight(name, attrs, start) is None, why


def test_a_copy_that_contradicts_its_name_keeps_its_own_flight(
    shared_data: Path, tmp_path: Path
) -> None:
    """The real conversion copied under the name of another day, or with its platform
    attribute emptied, is not guessed onto the ICARTT flight: it keeps its label, as before."""
    other_day = tmp_path / "ACTAMERICA-mrg05-b200_merge_20170122_R0.nc"
    shutil.copyfile(shared_data / NC, other_day)
    assert CfNetcdfReader().read(other_day).attrs["flight"] == "merge_20170121"
    no_platform = tmp_path / NC.rsplit("/", 1)[-1]
    shutil.copyfile(shared_data / NC, no_platform)
    with netCDF4.Dataset(no_platform, "a") as nc:
        nc.delncattr("platform")
    ds = CfNetcdfReader().read(no_platform)
    assert ds.attrs["flight"] == "merge_20170121"
    assert "flight_label" not in ds.attrs


def test_flight_identifier_needs_a_platform() -> None:
    assert flight_identifier(" - ", "20170121") is None
    assert flight_identifier("B200", "20170121", launch=1) == "b-200_20170121_L1"
