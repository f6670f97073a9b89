"""Defective files found by reader auto-detection get the same defect message.

A user rarely names the reader: ``stratoflow import FILE`` guesses it. A file whose defect
hides its format (a wrong FFI on line 1 of a NASA Ames file) must still be told apart from an
unknown format, or the user reads "no reader recognises this file" and never learns the defect.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stratoflow.errors import ReaderError
from stratoflow.readers import NasaAmesReader, guess_reader

CARIBIC = "caribic_nasa_ames/OM_20200304_591_CPT_MUC_V01_invalid{}.txt"


@pytest.mark.parametrize("number", range(9))
def test_each_defective_caribic_file_is_guessed_as_nasa_ames(
    shared_data: Path, number: int
) -> None:
    path = shared_data / CARIBIC.format(number)
    assert guess_reader(path) is NasaAmesReader
    with pytest.raises(ReaderError, match=re.escape(f"{path}: line ")):
        guess_reader(path)().read(path)


@pytest.mark.parametrize("ffi", ["2101", "1000", "9999"])
def test_a_made_up_ffi_names_the_ffi(tmp_path: Path, shared_data: Path, ffi: str) -> None:
    lines = (shared_data / CARIBIC.format(3)).read_text(encoding="utf-8").splitlines()
    lines[0] = f"{lines[0].split()[0]} {ffi}"
    path = tmp_path / "made_up.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ReaderError, match=f"made_up.txt: line 1: unsupported FFI {ffi}"):
        guess_reader(path)().read(path)


@pytest.mark.parametrize(
    "text",
    [
        "12 34\nsome text\n",  # no four-digit FFI
        "2019 2020 2021\nsome text\n",  # three numbers
        "37\nsome text\n",
        "# 37 1001\nsome text\n",
        "2019 2020\n2021 2022\n",  # a table of numbers: line 2 is no ONAME
        "3 2101\nsome text\n",  # no NASA Ames header is that short
    ],
)
def test_other_first_lines_are_not_taken_for_nasa_ames(tmp_path: Path, text: str) -> None:
    path = tmp_path / "table.txt"
    path.write_text(text, encoding="utf-8")
    assert not NasaAmesReader.guess_can_open(path)
