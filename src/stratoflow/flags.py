"""Flag schemes: the IAGOS validity flags used inside stratoflow, and translations at the edges.

stratoflow stores one flag per data point using the IAGOS validity scheme, because that is
what the PIs of the programme read and write:

====  ===============  ==================================================
code  name             meaning
====  ===============  ==================================================
0     good             validated and good
2     limited          validated, limited quality (questionable)
3     bad              validated, erroneous
4     not_validated    not (yet) validated
7     missing          no value (fill value, gap)
====  ===============  ==================================================

Other schemes are translations made when data leaves or enters the system: QARTOD
(1 pass, 2 not evaluated, 3 suspect, 4 fail, 9 missing) and CF ``flag_values`` /
``flag_meanings`` attributes. All functions are vectorised over numpy arrays.

Example::

    >>> import numpy as np
    >>> to_qartod(np.array([0, 2, 3, 4, 7], dtype=np.uint8)).tolist()
    [1, 3, 4, 2, 9]
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from stratoflow.errors import DatasetError

__all__ = [
    "FLAG_DTYPE",
    "FLAG_MEANINGS",
    "QARTOD",
    "Flag",
    "cf_flag_attributes",
    "combine_judgements",
    "count_flags",
    "declares_iagos_flags",
    "from_qartod",
    "to_qartod",
    "worst",
]

FLAG_DTYPE = np.dtype(np.uint8)


class Flag(IntEnum):
    """IAGOS validity flag codes (the stratoflow internal scheme)."""

    GOOD = 0
    LIMITED = 2
    BAD = 3
    NOT_VALIDATED = 4
    MISSING = 7

    @property
    def label(self) -> str:
        """The lower-case name used in ``flag_meanings`` and reports."""
        return self.name.lower()


class QARTOD(IntEnum):
    """QARTOD flag codes (IOOS), used by ioos_qc and many ocean/atmosphere data centres."""

    PASS = 1
    NOT_EVALUATED = 2
    SUSPECT = 3
    FAIL = 4
    MISSING = 9


# Severity used when several flags meet on one point: higher wins in `worst`. A value that is
# bad is worse than one never checked; a point with no value is reported as missing whatever the
# tests said, so missing ranks highest.
_SEVERITY = {
    Flag.GOOD: 0,
    Flag.NOT_VALIDATED: 1,
    Flag.LIMITED: 2,
    Flag.BAD: 3,
    Flag.MISSING: 4,
}

_TO_QARTOD = {
    Flag.GOOD: QARTOD.PASS,
    Flag.LIMITED: QARTOD.SUSPECT,
    Flag.BAD: QARTOD.FAIL,
    Flag.NOT_VALIDATED: QARTOD.NOT_EVALUATED,
    Flag.MISSING: QARTOD.MISSING,
}


def _lookup(table: dict[int, int], size: int = 256) -> npt.NDArray[np.int64]:
    out = np.full(size, -1, dtype=np.int64)
    for key, value in table.items():
        out[int(key)] = int(value)
    return out


_SEVERITY_LUT = _lookup({int(k): v for k, v in _SEVERITY.items()})
_FROM_SEVERITY = np.array([int(f) for f in sorted(_SEVERITY, key=_SEVERITY.__getitem__)])
_QARTOD_LUT = _lookup({int(k): int(v) for k, v in _TO_QARTOD.items()})
_FROM_QARTOD_LUT = _lookup({int(v): int(k) for k, v in _TO_QARTOD.items()})


def _codes(flags: npt.ArrayLike, scheme: str) -> npt.NDArray[np.int64]:
    """``flags`` as int64 codes; NaN, +-inf and fractions are no codes (refused, not cast)."""
    values = np.asarray(flags)
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        safe = np.where(finite, values, 0.0)
        odd = ~finite | (safe != np.round(safe))
        if odd.any():
            found = values[odd][:5].tolist()
            raise DatasetError(f"{scheme} flag codes must be integers, found {found}")
    return values.astype(np.int64)


def _check(codes: npt.NDArray[Any], lut: npt.NDArray[np.int64], scheme: str) -> None:
    if codes.size and (codes.min() < 0 or codes.max() >= lut.size):
        raise DatasetError(f"{scheme} flag codes out of range: {np.unique(codes)[:10].tolist()}")
    bad = lut[codes] < 0
    if bad.any():
        raise DatasetError(f"unknown {scheme} flag codes: {np.unique(codes[bad])[:10].tolist()}")


def to_qartod(flags: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Translate IAGOS validity flags to QARTOD codes."""
    codes = _codes(flags, "IAGOS")
    _check(codes, _QARTOD_LUT, "IAGOS")
    return _QARTOD_LUT[codes].astype(np.uint8)


def from_qartod(flags: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Translate QARTOD codes to IAGOS validity flags."""
    codes = _codes(flags, "QARTOD")
    _check(codes, _FROM_QARTOD_LUT, "QARTOD")
    return _FROM_QARTOD_LUT[codes].astype(np.uint8)


def worst(flags: npt.ArrayLike, axis: int = 0) -> npt.NDArray[np.uint8]:
    """Combine flags along ``axis`` keeping the most severe one per point.

    Severity: good < not_validated < limited < bad < missing.
    """
    codes = _codes(flags, "IAGOS")
    _check(codes, _SEVERITY_LUT, "IAGOS")
    severity = _SEVERITY_LUT[codes].max(axis=axis)
    out: npt.NDArray[np.uint8] = _FROM_SEVERITY[severity].astype(np.uint8)
    return out


#: ``flag_meanings`` spellings of the IAGOS codes: stratoflow's labels and the IAGOS data
#: centre's own (``erroneous``, ``missing_values``) as found in its files.
FLAG_MEANINGS: dict[str, Flag] = {
    "good": Flag.GOOD,
    "limited": Flag.LIMITED,
    "questionable": Flag.LIMITED,
    "erroneous": Flag.BAD,
    "bad": Flag.BAD,
    "not_validated": Flag.NOT_VALIDATED,
    "missing_values": Flag.MISSING,
    "missing_value": Flag.MISSING,
    "missing": Flag.MISSING,
}


def declares_iagos_flags(attrs: Mapping[str, Any]) -> bool | None:
    """What a variable's CF attributes say about it holding IAGOS validity flags.

    None when they say nothing (no ``flag_meanings``): only the values can tell. True when
    ``flag_values``/``flag_meanings`` pair every code with its IAGOS meaning (any subset of
    the scheme); False for any other scheme, even one whose codes happen to be 0, 2, 3, 4, 7
    (a cloud type, an instrument state): its codes mean something else.

    >>> declares_iagos_flags({"flag_values": [0, 2], "flag_meanings": "good limited"})
    True
    >>> declares_iagos_flags({"flag_values": [0, 2], "flag_meanings": "clear cirrus"})
    False
    """
    meanings_attr = attrs.get("flag_meanings")
    if meanings_attr is None:
        return None
    if isinstance(meanings_attr, str):
        meanings = meanings_attr.split()
    else:
        meanings = [str(m) for m in np.atleast_1d(np.asarray(meanings_attr)).ravel()]
    values = np.atleast_1d(np.asarray(attrs.get("flag_values", []))).ravel()
    if not meanings or values.size != len(meanings) or values.dtype.kind not in "iuf":
        return False
    expected = [FLAG_MEANINGS.get(m.lower()) for m in meanings]
    pairs = zip(expected, values.tolist(), strict=True)
    return all(e is not None and float(v) == int(e) for e, v in pairs)


def combine_judgements(first: npt.ArrayLike, second: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Combine two independent judgements of the same points (a provider's flags and ours).

    ``not_validated`` means "this side has no opinion", not a verdict: where one side has not
    validated a point, the other side's flag stands; where both judged it, the worse one wins
    (:func:`worst`). So a provider's ``bad`` is never turned ``good`` by our QC, and a file
    whose reader could only say ``not_validated`` still gets our QC's verdict.

    >>> combine_judgements(np.array([4, 0, 3, 0, 4]), np.array([0, 4, 0, 2, 4])).tolist()
    [0, 0, 3, 2, 4]
    """
    a = _codes(first, "IAGOS")
    b = _codes(second, "IAGOS")
    if a.shape != b.shape:
        raise DatasetError(f"cannot combine flags of shapes {a.shape} and {b.shape}")
    both = worst(np.stack([a, b]))
    unjudged = int(Flag.NOT_VALIDATED)
    out = np.where(a == unjudged, b, np.where(b == unjudged, a, both))
    return out.astype(np.uint8)


def count_flags(flags: npt.ArrayLike) -> dict[str, int]:
    """Count points per flag class, by label, in the fixed order of :class:`Flag`."""
    codes = _codes(flags, "IAGOS").ravel()
    _check(codes, _SEVERITY_LUT, "IAGOS")
    counts = np.bincount(codes, minlength=8)
    return {flag.label: int(counts[int(flag)]) for flag in Flag}


def cf_flag_attributes() -> dict[str, Any]:
    """CF attributes describing IAGOS validity flags on a flag variable."""
    return {
        "flag_values": np.array([int(f) for f in Flag], dtype=np.uint8),
        "flag_meanings": " ".join(f.label for f in Flag),
        "long_name": "validity flag",
        "standard_name": "status_flag",
    }
