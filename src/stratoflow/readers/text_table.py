"""Strict, vectorised parsing of the numeric data block of text formats (NASA Ames, ICARTT).

Reference libraries parse such blocks line by line in Python (``nappy``) or with
``numpy.genfromtxt`` (``icartt``); both are slow and lenient (a short row is padded, a stray
word becomes NaN). Here the whole block is checked and converted at once with numpy:

1. a 256-entry lookup table rejects any byte that cannot occur in a number (letters other than
   ``e``/``E``/``nan``, control characters, non-ASCII), naming the line of the first one;
2. token starts and newlines are located with array operations and counted per line, so a short
   or long row is reported with its line number, without a Python loop over rows;
3. the tokens are converted with one ``numpy`` call.

The only loop over data runs on the error path, to name the first token that is not a number.

Example::

    >>> parse_table(b"1 2\\n3 4\\n", ncols=2, first_line=10, path="x.na").tolist()
    [[1.0, 2.0], [3.0, 4.0]]
"""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import numpy.typing as npt

from stratoflow.errors import ReaderError

__all__ = ["TrailingGarbageWarning", "check_last_line", "parse_table", "strip_trailing_nul"]

_ALLOWED = np.zeros(256, dtype=bool)
for _c in b"0123456789+-.eEnNaA \t\r\n":
    _ALLOWED[_c] = True
_NEWLINE = ord("\n")


class TrailingGarbageWarning(UserWarning):
    """Bytes after the last data record (e.g. a line of NUL bytes) were ignored."""


def strip_trailing_nul(data: bytes, *, path: object, first_line: int, policy: str) -> bytes:
    """Remove NUL bytes (and blank lines) after the last record; warn or refuse per ``policy``.

    Some real files end with a line of NUL bytes (a crashed logger padding its buffer). NUL bytes
    anywhere else are left alone and rejected by :func:`parse_table`.
    """
    stripped = data.rstrip(b"\x00 \t\r\n")
    tail = data[len(stripped) :]
    if b"\x00" not in tail:
        return data
    line = first_line + stripped.count(b"\n") + 1
    nuls = tail.count(b"\x00")
    if policy == "error":
        raise ReaderError(
            f"{nuls} NUL bytes after the last data record (trailing garbage); "
            "use trailing_garbage='warn' to ignore them",
            path=path,
            line=line,
        )
    warnings.warn(
        f"{path}: line {line}: ignored {nuls} NUL bytes after the last data "
        "record (trailing garbage)",
        TrailingGarbageWarning,
        stacklevel=3,
    )
    return stripped + b"\n"


_DIGITS = re.compile(rb"\d+")
#: how many lines before an unterminated last line its values are compared with
_LOOK_BACK = 1000
#: fewer earlier lines like the last one than this, and nothing is judged
_MIN_COMPARED = 5
#: a column written in more ways than this (a hand-made table) has no format to go by; two
#: are a format and a missing-value marker (``46.71`` and ``9999``)
_MAX_SHAPES = 2


def _shape(token: bytes) -> bytes:
    """How a value is written, whatever its magnitude: the number of digits of its last run.

    ``46.71`` -> ``0.99``, ``9999`` -> ``9999``, ``1.5E-03`` -> ``0.0E99``, ``16.11.22
    12:00:00.46`` -> ``0.0.0 0:0:0.99``: each digit run but the last is ``0`` (any number of
    digits: 9.5 and 10.5 are written alike), the last keeps its length, signs are left out
    (a column may change sign).
    """
    token = token.strip().replace(b"+", b"").replace(b"-", b"")
    runs = list(_DIGITS.finditer(token))
    if not runs:
        return token
    last = runs[-1]
    head = _DIGITS.sub(b"0", token[: last.start()])
    return head + b"9" * len(last.group()) + token[last.end() :]


def _cut_from(value: bytes, whole: bytes) -> bool:
    """Whether ``value`` can be the beginning of a value written as ``whole`` (a
    :func:`_shape`): ``4``, ``46.`` and ``46.7`` of ``0.99``; not ``105`` of ``99``.

    The shape becomes a regular expression of its beginnings: a ``0`` is one or more digits,
    a run of ``9`` that many digits (or fewer, where the value stops), anything else itself.
    """
    pattern = b""
    for part in reversed(re.findall(rb"0|9+|[^09]", whole)):
        if part == b"0":
            full, partial = rb"\d+", b""
        elif part[:1] == b"9":
            full = rb"\d{%d}" % len(part)
            partial = rb"|\d{1,%d}" % (len(part) - 1) if len(part) > 1 else b""
        else:
            full, partial = re.escape(part), b""
        pattern = b"(?:" + full + pattern + partial + b")?"
    unsigned = value.strip().replace(b"+", b"").replace(b"-", b"")
    return re.fullmatch(pattern, unsigned) is not None


def check_last_line(
    data: bytes, *, path: object, first_line: int, delimiter: bytes | None = None
) -> None:
    """Refuse a data block whose last line was cut off in the middle of a value.

    A transfer or a copy that stopped early leaves a last line without its line end, and
    the last value cut short: ``46.71`` became ``4``, which parses as a number and would be
    read as one. A complete file may lack the final line end too (a script that joined its
    lines with newlines), so only then is the last line compared with the lines before it
    that have as many values (at least a few of them). In a column written in one or two
    ways (a number format and a missing-value marker: see :func:`_shape`), or whose last
    values are written in one way (a run of missing-value markers in a ``%g`` column), a
    value written unlike all of them that could be the beginning of one (``4`` of
    ``46.71``, ``27.7`` of ``27.75``, ``-99999`` of ``-999999``, an empty field) is reported
    with its line. A value that cannot (``105`` below two-digit values), or one in a column
    of many formats (a hand-made table), is read: the check finds the cuts a transfer makes
    in machine-written files, it cannot find every cut. A cut that falls between two
    values leaves a short record, which the parsers report themselves.

    ``delimiter`` ``None``: values are separated by blanks; else by that byte (``b","``,
    ``b"\\t"``), so an empty field is a value.
    """
    if b"\n" not in data:  # classic Mac line ends (bare CR) throughout
        data = data.replace(b"\r", b"\n")
    end = data.rstrip(b" \t")
    if not end or end.endswith(b"\n"):
        return
    lines = data.rsplit(b"\n", _LOOK_BACK + 1)
    last, before = lines[-1], lines[1:-1] if len(lines) > _LOOK_BACK + 1 else lines[:-1]

    def fields(line: bytes) -> list[bytes]:
        line = line.rstrip(b"\r")
        return line.split(delimiter) if delimiter is not None else line.split()

    cut = fields(last)
    alike = [f for f in map(fields, before) if len(f) == len(cut)]
    if len(alike) < _MIN_COMPARED:
        return  # too few earlier lines like it to tell how its values are written
    for i, value in enumerate(cut):
        shape = _shape(value)
        seen = {_shape(f[i]) for f in alike}
        if shape in seen:
            continue
        # the formats of the column, or if it has many (``%g`` output, a hand-made table)
        # the one format of the values just before, if they have one (a run of markers)
        recent = {_shape(f[i]) for f in alike[-_MIN_COMPARED:]}
        formats = seen if len(seen) <= _MAX_SHAPES else recent if len(recent) == 1 else set()
        if not any(_cut_from(value, whole) for whole in formats):
            continue
        examples = ", ".join(repr(f[i].strip().decode("latin-1")) for f in alike[-3:])
        raise ReaderError(
            "the file ends in the middle of a line (truncated file?): the last line has no "
            f"line end, and its value {value.strip().decode('latin-1')!r} (value {i + 1}) "
            f"looks cut short beside the others of its column ({examples})",
            path=path,
            line=first_line + data.count(b"\n"),
        )


def _line_of(
    positions: npt.NDArray[np.intp], newlines: npt.NDArray[np.intp]
) -> npt.NDArray[np.intp]:
    return np.searchsorted(newlines, positions).astype(np.intp)


_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[list(b"0123456789")] = True
_MANTISSA_END = _DIGIT.copy()
_MANTISSA_END[ord(".")] = True
_EXPONENT_START = _DIGIT.copy()
_EXPONENT_START[list(b"+-")] = True


def fortran_exponents(arr: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Fortran's double-precision exponent ``1.5D+02`` (or ``d``) read as ``1.5E+02``.

    Only a D between a mantissa (digit or point) and an exponent (sign or digit) is changed;
    any other D stays and is reported as an unexpected character. Returns ``arr`` itself when
    there is none (no copy).
    """
    d = np.flatnonzero((arr == ord("D")) | (arr == ord("d")))
    if not d.size:
        return arr
    d = d[(d > 0) & (d < arr.size - 1)]
    d = d[_MANTISSA_END[arr[d - 1]] & _EXPONENT_START[arr[d + 1]]]
    if not d.size:
        return arr
    out = arr.copy()
    out[d] = ord("E")
    return out


def parse_table(
    data: bytes,
    *,
    ncols: int,
    first_line: int,
    path: str | os.PathLike[str] | object,
    delimiter: bytes | None = None,
) -> npt.NDArray[np.float64]:
    """Parse a block of ``ncols`` numbers per line into a ``(rows, ncols)`` float64 array.

    ``delimiter`` ``None`` means runs of blanks separate values; ``b","`` means exactly one comma
    between values (blanks around it allowed). Blank lines are allowed only at the end. Every
    defect raises :class:`ReaderError` with the line number counted from ``first_line``.
    """
    if ncols < 1:
        raise ReaderError(f"a data record needs at least one column, got {ncols}", path=path)
    arr = np.frombuffer(data, dtype=np.uint8)
    allowed = _ALLOWED.copy()
    if delimiter is not None:
        if len(delimiter) != 1:
            raise ReaderError(f"delimiter must be one byte, got {delimiter!r}", path=path)
        allowed[delimiter[0]] = True
    converted = fortran_exponents(arr)
    if converted is not arr:
        arr, data = converted, converted.tobytes()
    newlines = np.flatnonzero(arr == _NEWLINE)
    bad = np.flatnonzero(~allowed[arr])
    if bad.size:
        pos = int(bad[0])
        char = data[pos : pos + 1]
        line = first_line + int(_line_of(np.array([pos]), newlines)[0])
        raise ReaderError(f"unexpected character {char!r} in the data block", path=path, line=line)
    if delimiter is not None:
        commas = np.flatnonzero(arr == delimiter[0])
        comma_lines = _line_of(commas, newlines)
        arr = arr.copy()
        arr[commas] = ord(" ")
        data = arr.tobytes()
    blank = arr <= 32
    starts = np.flatnonzero(~blank[1:] & blank[:-1]) + 1
    if arr.size and not blank[0]:
        starts = np.concatenate([np.zeros(1, dtype=starts.dtype), starts])
    token_lines = _line_of(starts, newlines)
    nlines = newlines.size + 1
    counts = np.bincount(token_lines, minlength=nlines)
    filled = np.flatnonzero(counts)
    if filled.size == 0:
        raise ReaderError("no data records after the header", path=path, line=first_line)
    last = int(filled[-1])
    wrong = np.flatnonzero(counts[: last + 1] != ncols)
    if wrong.size:
        idx = int(wrong[0])
        found = int(counts[idx])
        what = "an empty line" if found == 0 else str(found)
        raise ReaderError(
            f"expected {ncols} values per data record, found {what}"
            + (" (record cut short: truncated file?)" if idx == last and found < ncols else ""),
            path=path,
            line=first_line + idx,
        )
    if delimiter is not None:
        per_line = np.bincount(comma_lines, minlength=nlines)[: last + 1]
        wrong = np.flatnonzero(per_line != ncols - 1)
        if wrong.size:
            idx = int(wrong[0])
            raise ReaderError(
                f"expected {ncols - 1} {delimiter.decode()!r} separators, "
                f"found {int(per_line[idx])} (empty field?)",
                path=path,
                line=first_line + idx,
            )
    tokens = data.split()
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        for i, token in enumerate(tokens):
            try:
                float(token)
            except ValueError:
                raise ReaderError(
                    f"not a number: {token.decode('ascii', 'replace')!r}",
                    path=path,
                    line=first_line + int(token_lines[i]),
                ) from None
        raise  # pragma: no cover - numpy and float() disagree
    return values.reshape(-1, ncols)
