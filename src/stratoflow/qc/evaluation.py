"""Evaluation methods: named reducers from the stored per-test probabilities to final flags.

An evaluation never re-runs a test: it reads the stack of per-test probability arrays of one
variable (tests x points, float32, NaN = no opinion) and the missing-value mask, and returns
IAGOS validity flags. That is why switching method after a QC run is cheap. Every method gets
the mapper thresholds ``good`` and ``bad`` (see :mod:`stratoflow.qc.mapper`); the common rules
are applied by the framework afterwards: no value -> ``missing``, no test with an opinion ->
``not_validated``, and manual PI flags win over everything else (:class:`ManualFlag`; a
point without a value stays ``missing`` whatever the PI set).

Built-ins (entry-point group ``stratoflow.evaluations``):

``worst``       the lowest probability of any test (default; equals QARTOD's aggregate)
``mean``        the weighted mean probability (weights from the configuration)
``vote``        k-of-n: bad if at least ``k`` tests say bad, limited if ``k`` say not good
                (all of them where fewer than ``k`` tests have an opinion on a point)
``critical``    IAGOS rule: a critical test saying bad -> bad; any other failure -> limited
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from stratoflow.errors import PluginNotFound, QCError
from stratoflow.flags import FLAG_DTYPE, Flag
from stratoflow.qc.base import Param, check_parameters, sparse_flatnonzero
from stratoflow.qc.mapper import Thresholds, exact_threshold, to_flags

__all__ = [
    "CRITICAL",
    "MEAN",
    "VOTE",
    "WORST",
    "Evaluation",
    "ManualFlag",
    "TestInfo",
    "apply_overrides",
    "evaluation_names",
    "get_evaluation",
]

Stack = npt.NDArray[np.float32]
Flags = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class TestInfo:
    """What an evaluation may know about each test besides its probabilities."""

    __test__ = False  # not a pytest test class, despite the name

    label: str
    critical: bool = True
    weight: float = 1.0


@dataclass(frozen=True)
class ManualFlag:
    """A PI decision: points of ``variable`` in [start, end] get ``flag``, whatever QC said.

    ``start`` and ``end`` may be given as ``datetime64`` of any unit, ``datetime``, pandas
    timestamps or ISO strings (``Z`` or an offset: converted to UTC; none: UTC); they are kept
    as ``datetime64[ns]``. A number is refused: pandas would read it as nanoseconds since
    1970, so a PI decision meant for a flight would land on 1970-01-01. A range that ends
    before it starts, or a missing time, is refused (:class:`~stratoflow.errors.QCError`)
    instead of silently flagging nothing, as the database refuses such a manual flag too.
    """

    variable: str
    start: np.datetime64
    end: np.datetime64
    flag: Flag
    who: str = ""
    why: str = ""

    def __post_init__(self) -> None:
        start = _instant(self.start, f"manual flag of {self.variable}: start")
        end = _instant(self.end, f"manual flag of {self.variable}: end")
        if end < start:
            raise QCError(
                f"manual flag of {self.variable}: ends ({end}) before it starts ({start})"
            )
        try:  # 99 ended up in the flags as it was, a code of no scheme
            if isinstance(self.flag, bool | np.bool_) or int(self.flag) != self.flag:
                raise ValueError("not a whole number")  # int() cut 3.7 to 3 (bad)
            flag = Flag(int(self.flag))
        except (TypeError, ValueError, OverflowError) as exc:
            codes = ", ".join(f"{int(f)} {f.label}" for f in Flag)
            raise QCError(
                f"manual flag of {self.variable}: {self.flag!r} is not an IAGOS flag ({codes})"
            ) from exc
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "flag", flag)


def _instant(value: Any, what: str) -> np.datetime64:
    """One point in time as ``datetime64[ns]`` UTC, or :class:`QCError` naming ``what``."""
    import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the venv

    if isinstance(value, numbers.Number | np.number | np.bool_) or (
        isinstance(value, np.ndarray) and value.dtype.kind in "biufc"
    ):
        raise QCError(
            f"{what}: a time is needed (datetime64, datetime, pandas Timestamp or ISO string), "
            f"not a number: {value!r}"
        )
    try:
        if isinstance(value, np.datetime64):
            stamp = pd.Timestamp(value) if not np.isnat(value) else pd.NaT
        else:
            stamp = pd.Timestamp(value)
        if stamp is not pd.NaT and stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        out = np.datetime64("NaT", "ns") if stamp is pd.NaT else stamp.as_unit("ns").to_datetime64()
    except (ValueError, TypeError, OverflowError) as exc:
        raise QCError(f"{what}: not a time within 1678-2261: {value!r}") from exc
    if np.isnat(out):
        raise QCError(f"{what}: a time is needed, got {value!r}")
    return out


Method = Callable[..., tuple[npt.NDArray[np.float32] | None, Flags]]

_THRESHOLDS = (
    Param("good", "number", default=1.0, minimum=0.0, maximum=1.0, doc="p >= good is good"),
    Param("bad", "number", default=0.5, minimum=0.0, maximum=1.0, doc="p < bad is bad"),
)


@dataclass(frozen=True)
class Evaluation:
    """A registered evaluation method with its declared parameters.

    ``nan_without_opinion=True`` promises that the method's combined probability is NaN at
    every point where no test has an opinion (its flags there are then already
    ``not_validated``, see :func:`~stratoflow.qc.mapper.to_flags`): the framework need not
    look through the whole stack again to find those points.
    """

    name: str
    version: str
    parameters: tuple[Param, ...]
    function: Method
    nan_without_opinion: bool = False

    def check(self, given: Mapping[str, Any], where: str = "evaluation") -> dict[str, Any]:
        """Validated parameters with defaults, or :class:`~stratoflow.errors.QCConfigError`."""
        params = check_parameters(self.parameters, given, where, f"evaluation {self.name!r}")
        Thresholds(params["good"], params["bad"])  # checks their order
        return params

    def __call__(
        self, stack: Stack, missing: npt.NDArray[np.bool_], tests: Sequence[TestInfo], **params: Any
    ) -> tuple[npt.NDArray[np.float32] | None, Flags]:
        """Combined probability (if the method has one) and flags, with the common rules."""
        prob, flags = self.function(stack, tests, **params)
        if not stack.shape[0]:
            flags[...] = int(Flag.NOT_VALIDATED)
        elif prob is None or not self.nan_without_opinion:
            flags[np.isnan(stack).all(axis=0)] = int(Flag.NOT_VALIDATED)
        gone = sparse_flatnonzero(np.broadcast_to(missing, flags.shape))  # usually few points
        flags[gone] = int(Flag.MISSING)
        if prob is not None:
            prob[gone] = np.nan
        return prob, flags


def _combine_worst(stack: Stack) -> npt.NDArray[np.float32]:
    if stack.shape[0] == 0:
        return np.full(stack.shape[1], np.nan, dtype=np.float32)
    out: npt.NDArray[np.float32] = np.fmin.reduce(stack, axis=0)  # NaN = no opinion, skipped
    return out


def _worst(
    stack: Stack, tests: Sequence[TestInfo], *, good: float, bad: float
) -> tuple[npt.NDArray[np.float32], Flags]:
    p = _combine_worst(stack)
    return p, to_flags(p, None, Thresholds(good, bad))


def _mean(
    stack: Stack, tests: Sequence[TestInfo], *, good: float, bad: float
) -> tuple[npt.NDArray[np.float32], Flags]:
    w = np.array([t.weight for t in tests], dtype=np.float32)[:, None]
    have = ~np.isnan(stack)
    with np.errstate(invalid="ignore", divide="ignore"):
        num = np.where(have, stack * w, 0).sum(axis=0)
        den = np.where(have, w, 0).sum(axis=0)
        p = np.where(den > 0, num / den, np.nan).astype(np.float32)
    return p, to_flags(p, None, Thresholds(good, bad))


def _vote(
    stack: Stack, tests: Sequence[TestInfo], *, good: float, bad: float, k: int
) -> tuple[None, Flags]:
    # A variable with fewer tests than k (one configuration, many variables) needs all of its
    # tests to agree: with k unreachable it could never be flagged at all. The same holds
    # point by point: where fewer than k tests have an opinion (a spike test at the ends of
    # the series, a climatology where the pressure is missing), all of those must agree; a
    # value far out of range at the first point passed, the same value in the middle not.
    rows = range(stack.shape[0])
    k = max(1, min(k, stack.shape[0]))
    says_bad = _count_below(stack, rows, bad)
    says_not_good = _count_below(stack, rows, good)
    need: Any = k
    if k > 1:
        silent = _count_nan(stack, rows)  # tests without an opinion, per point
        most = int(silent.max(initial=0))
        if stack.shape[0] - most < k:  # usually not: then k is the same everywhere
            need = np.clip(stack.shape[0] - silent.astype(np.int64), 1, k)
    # LIMITED (2) where k say "not good", BAD (3) where k say "bad" (then k say "not good" too)
    flags = np.greater_equal(says_not_good, need).view(np.uint8) * np.uint8(Flag.LIMITED)
    np.add(flags, np.greater_equal(says_bad, need).view(np.uint8), out=flags)
    return None, flags


def _count_nan(stack: Stack, rows: Sequence[int]) -> npt.NDArray[np.uint16]:
    """How many of the given tests have no opinion (NaN) on each point, row by row."""
    count = np.zeros(stack.shape[1], dtype=np.uint16)
    nan = np.empty(stack.shape[1], dtype=np.bool_)
    for i in rows:
        np.isnan(stack[i], out=nan)
        np.add(count, nan.view(np.uint8), out=count)
    return count


def _critical(
    stack: Stack, tests: Sequence[TestInfo], *, good: float, bad: float
) -> tuple[None, Flags]:
    rows = range(stack.shape[0])
    critical = [i for i in rows if tests[i].critical]
    # LIMITED (2) where any test says "not good", BAD (3) where a critical one says "bad"
    # (a value below bad is below good too); one row at a time: no tests x points masks
    flags = np.minimum(_count_below(stack, rows, good), 1).astype(FLAG_DTYPE)
    np.multiply(flags, np.uint8(Flag.LIMITED), out=flags)
    np.add(flags, np.minimum(_count_below(stack, critical, bad), 1).astype(FLAG_DTYPE), out=flags)
    return None, flags


def _count_below(stack: Stack, rows: Sequence[int], limit: float) -> npt.NDArray[np.uint16]:
    """How many of the given tests put each point below ``limit`` (NaN: none), row by row.

    ``limit`` is compared as in :func:`~stratoflow.qc.mapper.to_flags` (float32 results with
    the limit rounded up to float32: the float64 decision).
    """
    count = np.zeros(stack.shape[1], dtype=np.uint16)
    below = np.empty(stack.shape[1], dtype=np.bool_)
    threshold = exact_threshold(limit, stack.dtype)
    for i in rows:  # a handful of tests, each compared over all points at once
        np.less(stack[i], threshold, out=below)
        np.add(count, below.view(np.uint8), out=count)
    return count


WORST = Evaluation("worst", "1.0", _THRESHOLDS, _worst, nan_without_opinion=True)
MEAN = Evaluation("mean", "1.0", _THRESHOLDS, _mean, nan_without_opinion=True)
VOTE = Evaluation("vote", "1.0", (*_THRESHOLDS, Param("k", "integer", default=2, minimum=1)), _vote)
CRITICAL = Evaluation("critical", "1.0", _THRESHOLDS, _critical)


def get_evaluation(name: str) -> Evaluation:
    """The evaluation method registered as ``name`` (group ``stratoflow.evaluations``)."""
    from stratoflow import plugins

    obj = plugins.load("evaluations", name)
    if not isinstance(obj, Evaluation):
        raise PluginNotFound(f"evaluations plugin {name!r} is not an Evaluation")
    return obj


def evaluation_names() -> list[str]:
    """Names of the installed evaluation methods."""
    from stratoflow import plugins

    return plugins.names("evaluations")


def apply_overrides(
    flags: Flags, time: npt.NDArray[np.datetime64], overrides: Sequence[ManualFlag]
) -> Flags:
    """Manual PI flags win: each override sets its flag on its time range (in order).

    Points without a value (``missing``) stay missing: a PI's ``good`` on a range with a
    gap must not make the gap look like good data (the review service did the same).
    """
    out = flags.copy()
    t = time.astype("datetime64[ns]")
    for o in overrides:  # a handful of PI decisions, each vectorised over the points
        start = np.asarray(o.start).astype("datetime64[ns]")
        end = np.asarray(o.end).astype("datetime64[ns]")
        sel = (t >= start) & (t <= end)
        out[sel] = int(o.flag)
    if overrides:
        out[flags == int(Flag.MISSING)] = int(Flag.MISSING)  # no value stays no value
    return out
