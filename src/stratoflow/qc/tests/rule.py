"""A rule on another variable or on instrument status bits.

Instruments report their state next to the measurement: a valve position, a mode, a status
word. "Ozone is not a measurement while the valve is not in *measure*" becomes::

    - test: rule
      variable: valve_state        # a variable (or profile) of the same dataset
      op: "!="
      value: 1                     # 1 = measure
      outcome: 0                   # probability where the rule fires (0 = bad)

With ``bits``, the comparison is made on ``variable & bits``, the variable read as unsigned
64-bit status words: an integer variable as stored (a signed one as the bits of its own width,
since netCDF classic has no unsigned types and a 16-bit register with bit 15 set arrives as a
negative short), a float variable where it holds whole numbers from -2^63 to 2^64 - 1. A
negative float is read as two's complement too: it is how a signed integer variable arrives
once its fill values made it float (a short status word with a ``_FillValue`` reads as
float32); bits within the register are the same whatever its width. Any other float
(fractional, beyond 64 bits) has no bits to test: the test stops with
:class:`~stratoflow.errors.QCError` naming it rather than guessing. An undeclared sentinel such
as -9999 is a word like any other: declare it with a ``missing`` test in the status variable's
profile, or in ``common`` if no profile matches it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from stratoflow.errors import QCConfigError, QCError
from stratoflow.qc.base import Param, Probability, QCInput, qc_test

__all__ = ["rule"]

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_WORD_END = 2**64  # one past the largest 64-bit status word
_SIGNED_END = 2.0**63  # -2^63 is the smallest signed 64-bit word
Words = npt.NDArray[np.uint64]


def _check(params: dict[str, Any], where: str) -> None:
    bits = params["bits"]
    if bits is not None and bits >= _WORD_END:
        raise QCConfigError(f"{where}.bits: must be below 2^64 (a 64-bit status word), got {bits}")


@qc_test(
    "rule",
    version="1.1",
    parameters=[
        Param("variable", "string", doc="the variable (or profile) the rule looks at"),
        Param("op", "string", default="!=", choices=tuple(_OPS)),
        Param("value", "number"),
        Param("bits", "integer", default=None, nullable=True, minimum=0, doc="status bit mask"),
        Param("outcome", "number", default=0.0, minimum=0.0, maximum=1.0),
    ],
    validator=_check,
)
def rule(
    data: QCInput, *, variable: str, op: str, value: float, bits: int | None, outcome: float
) -> Probability:
    """``outcome`` where ``variable <op> value`` holds, 1 where it does not, NaN without it."""
    other = data.get(variable)
    present = ~np.isnan(other)
    lhs: Any = other
    rhs: Any = value
    if bits is not None:
        lhs = _words(data, variable, other, present) & np.uint64(bits)
        if value == int(value) and 0 <= value < _WORD_END:
            rhs = np.uint64(int(value))  # compared exactly, not as float64 beyond 2^53
    fires = _OPS[op](lhs, rhs) & present
    p = np.where(fires, outcome, 1.0)
    p[~present] = np.nan
    return p


def _words(data: QCInput, variable: str, other: npt.NDArray[Any], present: Any) -> Words:
    """The status words of ``variable`` as uint64 (0 where missing), or :class:`QCError`."""
    raw = data.stored(variable) if data.stored is not None else None
    if raw is not None and raw.dtype.kind in "iu" and raw.shape == other.shape:
        if raw.dtype.kind == "i":  # two's complement of its own width, not sign-extended
            raw = raw.view(raw.dtype.str.replace("i", "u"))
        return raw.astype(np.uint64)
    x = np.where(present, other, 0.0)
    whole = (x >= -_SIGNED_END) & (x < float(_WORD_END)) & (x == np.floor(x))
    if not whole.all():
        i = int(np.argmin(whole))
        raise QCError(
            f"{data.variable}: rule on the status bits of {variable!r}: value {float(x[i])!r} "
            f"at point {i} is no status word (a whole number from -2^63 to 2^64 - 1); if it "
            "means 'no data', declare it in a missing test (of its profile, or common)"
        )
    negative = x < 0  # a signed word made float by its fill values: two's complement
    words: Words = np.where(negative, 0.0, x).astype(np.uint64)
    if negative.any():
        words[negative] = x[negative].astype(np.int64).view(np.uint64)
    return words
