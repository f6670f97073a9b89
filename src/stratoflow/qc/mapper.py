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
from stratoflow.qc.base import P_SUSPECT

__all__ = [
    "Thresholds",
    "cf_attributes",
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
    missing: npt.ArrayLike,
    thresholds: Thresholds = Thresholds(),
) -> npt.NDArray[np.uint8]:
    """IAGOS validity flags from a combined probability and the missing-value mask."""
    p = np.asarray(probability, dtype=np.float64)
    out = np.full(p.shape, int(Flag.NOT_VALIDATED), dtype=FLAG_DTYPE)
    with np.errstate(invalid="ignore"):
        out[p >= thresholds.good] = int(Flag.GOOD)
        out[(p < thresholds.good) & (p >= thresholds.bad)] = int(Flag.LIMITED)
        out[p < thresholds.bad] = int(Flag.BAD)
    out[np.asarray(missing, dtype=bool)] = int(Flag.MISSING)
    return out


_QARTOD_P = {
    int(QARTOD.PASS): 1.0,
    int(QARTOD.SUSPECT): P_SUSPECT,
    int(QARTOD.FAIL): 0.0,
    int(QARTOD.NOT_EVALUATED): np.nan,
    int(QARTOD.MISSING): np.nan,
}


def probability_from_qartod(flags: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Probability equivalent of QARTOD flags (to import results of QARTOD tools)."""
    codes = np.asarray(flags).astype(np.int64)
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
