"""From probabilities to flags: IAGOS validity flags, and QARTOD / CF at the edges.

A combined probability ``p`` becomes ``good`` when ``p >= good``, ``bad`` when ``p < bad`` and
``limited`` in between; a point with a value but no probability (no test had an opinion) is
``not_validated``, a point without a value ``missing``. The defaults (``good=1``, ``bad=0.5``)
make every departure from certainty at least ``limited``, and put the bad decision at the
middle of a soft limit (see :func:`~stratoflow.qc.base.soft_limit`); with them, a QARTOD flag
translated to a probability (:func:`probability_from_qartod`) maps back to the same flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from stratoflow.errors import QCConfigError
from stratoflow.flags import FLAG_DTYPE, QARTOD, Flag, cf_flag_attributes, to_qartod
from stratoflow.qc.base import P_SUSPECT, sparse_flatnonzero, sparse_flatzero

__all__ = [
    "Thresholds",
    "cf_attributes",
    "exact_threshold",
    "probability_from_qartod",
    "to_flags",
    "to_qartod",
]


@dataclass(frozen=True)
class Thresholds:
    """Where probabilities turn into ``limited`` (below ``good``) and ``bad`` (below ``bad``)."""

    good: float = 1.0
    bad: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.bad <= self.good <= 1.0:
            raise QCConfigError(
                f"thresholds: need 0 <= bad <= good <= 1, got bad={self.bad:g} good={self.good:g}"
            )


def to_flags(
    probability: npt.ArrayLike,
    missing: npt.ArrayLike | None = None,
    thresholds: Thresholds = Thresholds(),
) -> npt.NDArray[np.uint8]:
    """IAGOS validity flags from a combined probability and the missing-value mask.

    ``missing`` (a mask of points without a value) may be None when there are none. The
    thresholds are compared as float64 numbers whatever the dtype of ``probability``: a float32
    probability is compared with each threshold rounded up to float32, which decides every
    float32 value exactly as the float64 comparison does (and needs no float64 copy).

    Two comparison passes decide good / limited / bad for every point at once (the flag is
    ``3 - (p >= bad) - 2 (p >= good)`` with the IAGOS codes 0, 2, 3); NaN, which fails both
    comparisons, is then found among the few points below ``bad``.
    """
    p = np.asarray(probability)
    if p.dtype != np.float32:
        p = np.asarray(p, dtype=np.float64)
    flat = p.reshape(-1)
    good = exact_threshold(thresholds.good, p.dtype)
    bad = exact_threshold(thresholds.bad, p.dtype)
    out = np.empty(flat.shape, dtype=FLAG_DTYPE)
    above_bad = np.empty(flat.shape, dtype=np.bool_)
    with np.errstate(invalid="ignore"):
        np.greater_equal(flat, good, out=out.view(np.bool_))
        np.greater_equal(flat, bad, out=above_bad)
    np.add(out, out, out=out)
    np.add(out, above_bad.view(np.uint8), out=out)
    np.subtract(_BAD_CODE, out, out=out)
    low = sparse_flatzero(above_bad)  # bad or NaN: few
    out[low[np.isnan(flat[low])]] = int(Flag.NOT_VALIDATED)
    if missing is not None:
        gone = np.broadcast_to(np.asarray(missing, dtype=bool), p.shape)
        out[sparse_flatnonzero(gone)] = int(Flag.MISSING)
    return out.reshape(p.shape)


# 3 - (p >= bad) - 2 (p >= good) is 3, 2 or 0: the codes of bad, limited and good (a test
# checks that the codes stay so)
_BAD_CODE = np.uint8(Flag.BAD)


def exact_threshold(value: float, dtype: np.dtype[Any]) -> Any:
    """``value`` as a number of ``dtype`` that compares with its values as ``value`` does.

    For float32 data: the smallest float32 not below ``value`` (``x >= value`` for a float32
    ``x`` holds exactly when ``x >= that``; a plain cast could round down and let a value just
    below the threshold through).
    """
    if dtype != np.float32:
        return np.float64(value)
    up = np.float32(value)
    if float(up) < value:
        up = np.nextafter(up, np.float32(np.inf))
    return up


_QARTOD_P = {
    int(QARTOD.PASS): 1.0,
    int(QARTOD.SUSPECT): P_SUSPECT,
    int(QARTOD.FAIL): 0.0,
    int(QARTOD.NOT_EVALUATED): np.nan,
    int(QARTOD.MISSING): np.nan,
}


def probability_from_qartod(flags: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Probability equivalent of QARTOD flags (to import results of QARTOD tools).

    A masked flag (ioos_qc returns masked arrays) or a NaN code is no flag: NaN, no opinion.
    Codes must be whole numbers of the QARTOD scheme (1, 2, 3, 4, 9): 1.5 was read as 1.
    """
    given = np.ma.getdata(flags) if np.ma.isMaskedArray(flags) else flags
    raw = np.asarray(given)
    absent = np.ma.getmaskarray(flags) if np.ma.isMaskedArray(flags) else np.zeros(raw.shape, bool)
    if raw.dtype.kind == "f":
        absent = absent | np.isnan(raw)
        with np.errstate(invalid="ignore"):
            fractional = ~absent & ~(np.isfinite(raw) & (raw == np.round(raw)))
        if fractional.any():
            raise QCConfigError(f"not QARTOD flags: {np.unique(raw[fractional])[:10].tolist()}")
    elif raw.dtype.kind not in "iub":
        raise QCConfigError(f"not QARTOD flags: values of type {raw.dtype}")
    codes = np.where(absent, int(QARTOD.NOT_EVALUATED), raw).astype(np.int64)
    unknown = ~np.isin(codes, list(_QARTOD_P))
    if unknown.any():
        raise QCConfigError(f"not QARTOD flags: {np.unique(codes[unknown])[:10].tolist()}")
    lut = np.full(256, np.nan)
    for code, p in _QARTOD_P.items():
        lut[code] = p
    return lut[codes].astype(np.float32)


def cf_attributes(variable: str, method: str) -> dict[str, Any]:
    """CF attributes of the flag variable written for ``variable`` by a QC run."""
    attrs = cf_flag_attributes()
    attrs["long_name"] = f"validity flag of {variable}"
    attrs["comment"] = f"stratoflow QC, evaluation method {method!r}; IAGOS validity flags"
    return attrs
