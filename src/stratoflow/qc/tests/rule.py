"""A rule on another variable or on instrument status bits.

Instruments report their state next to the measurement: a valve position, a mode, a status
word. "Ozone is not a measurement while the valve is not in *measure*" becomes::

    - test: rule
      variable: valve_state        # a variable (or profile) of the same dataset
      op: "!="
      value: 1                     # 1 = measure
      outcome: 0                   # probability where the rule fires (0 = bad)

With ``bits``, the comparison is made on ``int(variable) & bits`` (status words).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

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


@qc_test(
    "rule",
    version="1.0",
    parameters=[
        Param("variable", "string", doc="the variable (or profile) the rule looks at"),
        Param("op", "string", default="!=", choices=tuple(_OPS)),
        Param("value", "number"),
        Param("bits", "integer", default=None, nullable=True, minimum=0, doc="status bit mask"),
        Param("outcome", "number", default=0.0, minimum=0.0, maximum=1.0),
    ],
)
def rule(
    data: QCInput, *, variable: str, op: str, value: float, bits: int | None, outcome: float
) -> Probability:
    """``outcome`` where ``variable <op> value`` holds, 1 where it does not, NaN without it."""
    other = data.get(variable)
    present = ~np.isnan(other)
    if bits is not None:
        lhs: Any = np.where(present, other, 0).astype(np.int64) & bits
    else:
        lhs = other
    fires = _OPS[op](lhs, value) & present
    p = np.where(fires, outcome, 1.0)
    p[~present] = np.nan
    return p
