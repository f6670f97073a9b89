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
import warnings

import numpy as np
import numpy.typing as npt

from stratoflow.errors import ReaderError

__all__ = ["TrailingGarbageWarning", "parse_table", "strip_trailing_nul"]

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
