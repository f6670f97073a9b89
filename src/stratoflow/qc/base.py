"""The contract of a QC test: a registered function with declared parameters.

A QC test is a plain function ``fn(data: QCInput, *, param=..., ...) -> probability array``
wrapped by :func:`qc_test`, which declares its name, version and parameters (type, bounds,
default). Declaring the parameters lets a configuration be checked completely *before* any
test runs, with errors that point at the offending key (``O3.tests[2].bad_max: must be a
number``), and lets the framework record exactly which parameters produced a result.

The framework (:mod:`stratoflow.qc.run`) hands every test its variable with already-missing
points set to NaN, and whatever the test returns at those points is discarded (NaN = no data).
Between 1 (certainly good) and 0 (certainly bad) a test may return any probability; NaN where
it has no opinion (e.g. the first point of a spike test).

Example::

    >>> import numpy as np
    >>> @qc_test("positive", version="1", parameters=[Param("strict", "boolean", default=False)])
    ... def positive(data: QCInput, *, strict: bool) -> Probability:
    ...     return np.where(data.values > 0, 1.0, 0.0)
    >>> positive.check({"strict": True}, where="O3.tests[0]")
    {'strict': True}
"""

from __future__ import annotations

import datetime
import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from stratoflow.errors import PluginNotFound, QCConfigError, QCError
from stratoflow.qc import parallel

__all__ = [
    "P_SUSPECT",
    "InputUnavailable",
    "Param",
    "Probability",
    "QCInput",
    "QCTest",
    "TimeAxis",
    "check_parameters",
    "get_test",
    "new_probability",
    "not_inside",
    "qc_test",
    "require_times",
    "soft_limit",
    "soft_range",
    "soft_range_at",
    "sparse_flatnonzero",
    "sparse_flatzero",
    "test_names",
]

Probability = npt.NDArray[np.floating[Any]]
FloatArray = npt.NDArray[np.float64]

#: Probability given by tests that only know "suspect" (QARTOD SUSPECT): maps to ``limited``.
P_SUSPECT = 0.5
# Largest float32 below 1: a value just beyond a doubtful limit must stay below 1 after the
# float32 cast, or it would map back to "good".
_BELOW_ONE = float(np.nextafter(np.float32(1), np.float32(0)))
_BIGGEST = float(np.finfo(np.float64).max)


class InputUnavailable(QCError):
    """A test needs another variable (or its results) that this dataset does not have, or
    cannot judge this dataset at all (a window too short for its sampling).

    The runner records the test as skipped with this message instead of failing the run.
    """


Kind = Literal["number", "integer", "boolean", "string", "numbers", "table"]
_KIND_TEXT = {
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "string": "a string",
    "numbers": "a list of numbers",
    "table": "a list of rows of numbers",
}


# a number in exponent notation: YAML 1.2 and JSON read 1e3 as a number, PyYAML (YAML 1.1,
# which wants a dot and a sign: 1.0e+3) as a string, so a config saying bad_max: 1e3 failed
_EXPONENT = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)[eE][-+]?\d+$")


def _exponent(value: Any) -> Any:
    """A string in exponent notation (``1e3``, as PyYAML reads it) as its float; else as is."""
    if isinstance(value, str) and _EXPONENT.match(value):
        return float(value)
    return value


def _is_number(value: object) -> bool:
    """A real number float can hold, numpy scalars included (a limit computed with numpy is one).

    YAML reads a 400-digit number as an int, which float() refuses with OverflowError.
    """
    if not isinstance(value, numbers.Real) or isinstance(value, bool | np.bool_):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


_PLAIN_NUMBERS = (float, int)  # exactly these types: bool (an int) is refused below


@dataclass(frozen=True)
class Param:
    """One declared parameter of a test or evaluation method.

    ``minimum``/``maximum`` are inclusive bounds, ``exclusive_minimum`` a strict lower bound
    (for "must be positive"); ``choices`` restricts strings; ``nullable`` allows ``None``
    (an optional limit); a parameter without ``default`` is required.
    """

    name: str
    kind: Kind
    default: Any = ...
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    choices: tuple[str, ...] | None = None
    nullable: bool = False
    columns: int | None = None
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is ...

    def check(self, value: Any, where: str) -> Any:
        """The validated (and normalised) value, or :class:`QCConfigError` naming ``where``."""
        if self.kind == "number" and type(value) in _PLAIN_NUMBERS:
            # the usual case first, without the type checks below: run_test checks the
            # parameters of every call, and on 10^4 points that is a good part of the call
            try:
                number = float(value)
            except OverflowError:  # YAML reads a 400-digit number as an int
                number = math.nan
            if not math.isfinite(number):
                raise QCConfigError(f"{self._key(where)}: must be a number")
            self._bounds(number, where)
            return number
        key = self._key(where)
        if value is None:
            if self.nullable:
                return None
            raise QCConfigError(f"{key}: must be {_KIND_TEXT[self.kind]}, not null")
        if self.kind == "number":
            value = _exponent(value)
            if not _is_number(value) or not math.isfinite(value):
                raise QCConfigError(f"{key}: must be a number")
            value = float(value)
            self._bounds(value, where)
        elif self.kind == "integer":
            if not isinstance(value, numbers.Integral) or isinstance(value, bool | np.bool_):
                raise QCConfigError(f"{key}: must be an integer")
            value = int(value)  # numpy integers too: parameters are stored as JSON
            self._bounds(value, where)
        elif self.kind == "boolean":
            if not isinstance(value, bool | np.bool_):
                raise QCConfigError(f"{key}: must be true or false")
            value = bool(value)
        elif self.kind == "string":
            if isinstance(value, datetime.date):  # YAML reads an unquoted date as a date
                raise QCConfigError(f"{key}: must be a string; quote the date: '{value}'")
            if not isinstance(value, str):
                raise QCConfigError(f"{key}: must be a string")
            if self.choices is not None and value not in self.choices:
                raise QCConfigError(f"{key}: must be one of {', '.join(self.choices)}")
        elif self.kind == "numbers":
            if isinstance(value, list | tuple):
                value = [_exponent(v) for v in value]  # fill_values: [1e20, -9999]
            if not isinstance(value, list | tuple) or not all(_is_number(v) for v in value):
                raise QCConfigError(f"{key}: must be a list of numbers")
            value = [float(v) for v in value]
        elif self.kind == "table":
            value = self._table(value, key)
        return value

    def _key(self, where: str) -> str:
        """The key named in error messages (built only for one)."""
        return f"{where}.{self.name}" if where else self.name

    def _bounds(self, value: float, where: str) -> None:
        if self.minimum is not None and value < self.minimum:
            raise QCConfigError(f"{self._key(where)}: must be >= {self.minimum:g}, got {value:g}")
        if self.maximum is not None and value > self.maximum:
            raise QCConfigError(f"{self._key(where)}: must be <= {self.maximum:g}, got {value:g}")
        if self.exclusive_minimum is not None and value <= self.exclusive_minimum:
            raise QCConfigError(
                f"{self._key(where)}: must be > {self.exclusive_minimum:g}, got {value:g}"
            )

    def _table(self, value: Any, key: str) -> list[list[float]]:
        if not isinstance(value, list | tuple) or not value:
            raise QCConfigError(f"{key}: must be a non-empty list of rows of numbers")
        rows: list[list[float]] = []
        for i, row in enumerate(value):
            if isinstance(row, list | tuple):
                row = [_exponent(v) for v in row]
            # finite: a NaN limit lets every point pass, silently
            if not isinstance(row, list | tuple) or not all(
                _is_number(v) and math.isfinite(v) for v in row
            ):
                raise QCConfigError(f"{key}[{i}]: must be a list of numbers")
            if self.columns is not None and len(row) != self.columns:
                raise QCConfigError(f"{key}[{i}]: must have {self.columns} numbers")
            rows.append([float(v) for v in row])
        return rows


def check_parameters(
    params: Sequence[Param], given: Mapping[str, Any], where: str, owner: str
) -> dict[str, Any]:
    """Validate ``given`` against declared ``params``; fill defaults; reject unknown keys."""
    known = {p.name: p for p in params}
    for key in given:
        if key not in known:
            expected = ", ".join(known) or "none"
            prefix = f"{where}.{key}" if where else key
            raise QCConfigError(f"{prefix}: unknown parameter of {owner} (known: {expected})")
    out: dict[str, Any] = {}
    for p in params:
        if p.name in given:
            out[p.name] = p.check(given[p.name], where)
        elif p.required:
            prefix = f"{where}.{p.name}" if where else p.name
            raise QCConfigError(f"{prefix}: required parameter of {owner} is missing")
        else:
            out[p.name] = p.default
    return out


class Resolver(Protocol):
    """Finds another variable of the same dataset by name or by QC profile name."""

    def __call__(self, name: str) -> FloatArray: ...


TimeArray = npt.NDArray[np.datetime64]


class TimeAxis:
    """The time of one dataset, and what several tests derive from it, each computed once.

    Every test of every variable in a QC run sees the same time. Seconds since the first point
    (time gaps, stuck values, ground speed) and the median time step are therefore computed on
    first use and kept, not redone per test and variable: at 10^7 points each is a few passes
    and 80 MB of fresh memory, which made the default suite 27x slower at 10^7 than at 10^6.
    The kept arrays are read-only, so no test can change what the next one sees.
    """

    __slots__ = ("_seconds", "_step", "_time")

    def __init__(self, time: TimeArray | Callable[[], TimeArray]) -> None:
        self._time = time
        self._seconds: FloatArray | None = None
        self._step: float | None = None

    @property
    def time(self) -> TimeArray:
        """Time of each point, ``datetime64[ns]`` (built on first use if given as a function)."""
        if callable(self._time):
            self._time = self._time()
        return self._time

    def ns(self) -> npt.NDArray[np.int64]:
        """The times as int64 nanoseconds (a view, no copy, when they are ``datetime64[ns]``)."""
        return self.time.astype("datetime64[ns]", copy=False).view(np.int64)

    def seconds(self, variable: str = "") -> FloatArray:
        """Time as float seconds since the first point; :class:`QCError` naming ``variable``
        if a time is missing (NaT)."""
        if self._seconds is None:
            ns = self.ns()
            if ns.size == 0:
                return np.empty(0)
            require_times(ns, variable)
            out: FloatArray = np.subtract(ns, ns[0]) / 1e9
            out.flags.writeable = False
            self._seconds = out
        return self._seconds

    def median_step(self, variable: str = "") -> float:
        """Median size of the time steps in seconds (NaN for fewer than two points).

        Regular sampling (every step equal, checked on the integer nanoseconds) needs no sort;
        only irregular time pays for a median. Data listed newest first step back in time: the
        size of their steps counts.
        """
        if self._step is None:
            ns = self.ns()
            if ns.size < 2:
                return float("nan")
            step = np.subtract(ns[1:], ns[:-1])
            if bool((step == step[0]).all()):
                require_times(ns, variable, first_only=True)  # all NaT: equal steps of 0
                self._step = abs(float(step[0])) / 1e9
            else:
                self._step = float(np.median(np.abs(np.diff(self.seconds(variable)))))
        return self._step


class QCInput:
    """What a test receives: one variable's values and the context needed by some tests.

    ``values`` is float64 with NaN at every already-missing point; ``time`` is
    ``datetime64[ns]``. ``other(name)`` returns another variable (NaN where missing), found by
    dataset name or QC profile name (``"pressure"``); ``worst_of(name)`` the worst-case
    probability of another variable's tests (used by flag propagation); ``stored(name)``
    another variable as the dataset stores it, in its own dtype, for tests that need its exact
    values (status bit words: float64 cannot hold a uint64 word beyond 2^53).

    ``time`` may be given as a zero-argument function that builds it: it is then built on
    first use, so a test that never looks at time (gross range, spike) does not pay a pass
    over ``n`` points for the one-per-second grid :func:`~stratoflow.qc.run.run_test` makes up
    when it is given no time. Or it may be a :class:`TimeAxis` shared by every test of a QC
    run, which then derives seconds and the median step once for all of them.
    """

    __slots__ = ("_axis", "attrs", "other", "stored", "values", "variable", "worst_of")

    def __init__(
        self,
        values: FloatArray,
        time: TimeArray | Callable[[], TimeArray] | TimeAxis,
        variable: str = "",
        attrs: Mapping[str, Any] | None = None,
        other: Resolver | None = None,
        worst_of: Resolver | None = None,
        stored: Callable[[str], npt.NDArray[Any]] | None = None,
    ) -> None:
        self.values = values
        self._axis = time if isinstance(time, TimeAxis) else TimeAxis(time)
        self.variable = variable
        self.attrs: Mapping[str, Any] = {} if attrs is None else attrs
        self.other = other
        self.worst_of = worst_of
        self.stored = stored

    @property
    def time(self) -> TimeArray:
        """Time of each point, ``datetime64[ns]``."""
        return self._axis.time

    def seconds(self) -> FloatArray:
        """Time as float seconds since the first point, read-only (shared by every test).

        Relative to the first point so that whole-second steps stay exact in float64 (epoch
        nanoseconds times 1e-9 would not be).
        """
        return self._axis.seconds(self.variable)

    def median_step(self) -> float:
        """Median size of the time steps in seconds (see :meth:`TimeAxis.median_step`)."""
        return self._axis.median_step(self.variable)

    def get(self, name: str) -> FloatArray:
        """Another variable of the dataset, or :class:`QCConfigError` if it is not there."""
        if self.other is None:
            raise InputUnavailable(f"{self.variable}: needs variable {name!r}, none available")
        return self.other(name)


_NAT = np.iinfo(np.int64).min  # NaT seen as int64


def require_times(ns: npt.NDArray[np.int64], variable: str, *, first_only: bool = False) -> None:
    """:class:`QCError` if a time (``datetime64[ns]`` seen as int64) is NaT.

    For tests that compute with time steps: NaT is the smallest int64, so its steps wrap
    round to nonsense (a rate of almost 0 next to it, any value passing). Only
    ``duplicate_time`` and ``impossible_date`` judge such points (they give them 0). With
    ``first_only`` just the first time is looked at: enough when every step is known to be
    equal (a NaT among valid times makes the steps unequal).
    """
    if not ns.size:
        return
    if (ns[0] == _NAT) if first_only else (ns.min() == _NAT):
        first = int(np.argmax(ns == _NAT))
        raise QCError(
            f"{variable}: time is missing (NaT) at point {first}; this test needs the time of "
            "every point (duplicate_time and impossible_date flag such points)"
        )


TestFunction = Callable[..., Probability]
_CHECKED_SETS = 64
"""Parameter sets a test remembers as checked (see :meth:`QCTest.check`)."""


@dataclass(frozen=True)
class QCTest:
    """A registered test: the function plus its declared contract."""

    name: str
    version: str
    parameters: tuple[Param, ...]
    function: TestFunction
    validator: Callable[[dict[str, Any], str], None] | None = None
    marks_missing: bool = False
    doc: str = ""
    #: The function's result is already a probability in [0, 1] or NaN (it comes from
    #: :func:`soft_limit`/:func:`soft_range` or constants), so the framework need not clip it.
    bounded: bool = False
    #: The function treats non-finite values (NaN, ±inf) as missing by itself: NaN there in
    #: the result, and other points judged as if those values were NaN. The framework then
    #: need not find and mask missing values before running it on a plain array
    #: (:func:`~stratoflow.qc.run.run_test`), which saves a pass over the data.
    handles_nonfinite: bool = False
    #: The test judges the time stamps themselves (impossible_date, duplicate_time): on a
    #: plain array without time, :func:`~stratoflow.qc.run.run_test` refuses it instead of
    #: judging the one-per-second grid from 1970 it makes up for the others.
    judges_time: bool = False
    #: Parameter sets already checked, by their values and the values' types (see check).
    _checked: dict[tuple[Any, ...], dict[str, Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def check(self, given: Mapping[str, Any], where: str = "") -> dict[str, Any]:
        """Validated parameters with defaults filled, or :class:`QCConfigError`.

        A parameter set that passed before is looked up instead of checked again:
        :func:`~stratoflow.qc.run.run_test` checks the parameters of every call, and on 10^4
        points checking four limits and their order was a tenth of the call. The key holds
        each value's type, so ``1``, ``1.0`` and ``True`` (no number) stay apart; a set with
        an unhashable value (a list) is checked every time. Only passing sets are kept, so
        an error always names ``where``; the result is a fresh dict each time.
        """
        try:
            key = tuple([(k, type(v), v) for k, v in given.items()])
            known = self._checked.get(key)
        except TypeError:  # an unhashable value
            return self._check(given, where)
        if known is None:
            known = self._check(given, where)
            if len(self._checked) >= _CHECKED_SETS:  # many different sets: start afresh
                self._checked.clear()
            self._checked[key] = known
        return dict(known)

    def _check(self, given: Mapping[str, Any], where: str) -> dict[str, Any]:
        params = check_parameters(self.parameters, given, where, f"test {self.name!r}")
        if self.validator is not None:
            self.validator(params, where)
        return params

    def __call__(self, data: QCInput, **params: Any) -> Probability:
        return self.function(data, **params)


def qc_test(
    name: str,
    *,
    version: str,
    parameters: Sequence[Param] = (),
    validator: Callable[[dict[str, Any], str], None] | None = None,
    marks_missing: bool = False,
    bounded: bool = False,
    handles_nonfinite: bool = False,
    judges_time: bool = False,
) -> Callable[[TestFunction], QCTest]:
    """Declare a function as a QC test (see the module docstring).

    ``bounded=True`` promises that the function only returns probabilities in [0, 1] or NaN,
    which spares the framework a clipping pass over the result. ``handles_nonfinite=True``
    promises that the function treats NaN and ±inf as missing itself
    (see :attr:`QCTest.handles_nonfinite`). ``judges_time=True`` marks a test of the time
    stamps themselves (see :attr:`QCTest.judges_time`).
    """

    def wrap(fn: TestFunction) -> QCTest:
        return QCTest(
            name=name,
            version=version,
            parameters=tuple(parameters),
            function=fn,
            validator=validator,
            marks_missing=marks_missing,
            doc=(fn.__doc__ or "").strip().split("\n")[0],
            bounded=bounded,
            handles_nonfinite=handles_nonfinite,
            judges_time=judges_time,
        )

    return wrap


def get_test(name: str) -> QCTest:
    """The test registered as ``name`` (entry point group ``stratoflow.qc_tests``)."""
    from stratoflow import plugins

    obj = plugins.load("qc_tests", name)
    if not isinstance(obj, QCTest):
        raise PluginNotFound(
            f"qc_tests plugin {name!r} is not a QCTest (decorate it with @qc_test)"
        )
    return obj


def test_names() -> list[str]:
    """Names of the installed QC tests."""
    from stratoflow import plugins

    return plugins.names("qc_tests")


_HUGE_PAGE = 1 << 21
"""Size of a transparent huge page on x86-64 and arm64 Linux (2 MiB)."""
_ALIGN_FROM = 1 << 22
"""Results of at least this many bytes start on a huge-page boundary (numpy asks the kernel for
huge pages from 4 MiB on)."""


def new_probability(
    shape: int | tuple[int, ...], fill: float | None = None
) -> npt.NDArray[np.float32]:
    """A float32 result array (uninitialised, or all ``fill``); a large one starts on a 2 MiB
    boundary.

    Why: a large result is memory the process has never touched (glibc maps anything above
    32 MiB afresh on every call), so writing it costs one page fault per page, and on a VM
    a fault costs microseconds. numpy asks for transparent huge pages on arrays of 4 MiB and
    more, but the kernel can only back the 2 MiB-aligned part of a mapping with them:
    ``np.empty`` returns memory 16 bytes past a page boundary, so up to 2 x 511 small pages
    at the ends of the array fault one by one (568 faults for 10^7 float32 instead of 20;
    measured 1.5 ms of the ~9 ms a fresh 40 MB result costs on the 2-core CI VM). Allocating
    2 MiB more and starting the array at the first boundary in it lets every part of it be
    huge pages. The bytes before the start are never touched, so they cost no memory; the
    array is a view of that buffer. Small arrays are plain ``np.empty``.
    """
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = 4 * math.prod(dims)
    if nbytes < _ALIGN_FROM:
        p = np.empty(dims, dtype=np.float32)
    else:
        raw = np.empty(nbytes + _HUGE_PAGE, dtype=np.uint8)
        start = -raw.ctypes.data % _HUGE_PAGE
        p = raw[start : start + nbytes].view(np.float32).reshape(dims)
    if fill is not None:
        p.fill(fill)
    return p


def _at(limit: Any, idx: npt.NDArray[np.intp]) -> Any:
    """A scalar limit as is, an array limit at the selected points."""
    return limit[idx] if isinstance(limit, np.ndarray) and limit.ndim else limit


def _soft(x: FloatArray, d: Any, b: Any) -> FloatArray:
    """Probabilities of points already known to lie beyond a limit (see :func:`soft_limit`)."""
    if d is None:
        return np.zeros(x.shape)
    if b is None:
        out = np.full(x.shape, P_SUSPECT)
    elif isinstance(d, float) and isinstance(b, float):  # fixed limits: the same arithmetic,
        span = b - d  # in place and without the per-point branches (a fixed per-call cost)
        if span > 0:
            out = np.subtract(x, d)
            np.divide(out, span, out=out)
            np.multiply(out, -0.5, out=out)  # 1 - 0.5 * frac, exactly
            np.add(out, 1.0, out=out)
            np.minimum(out, _BELOW_ONE, out=out)  # two ufuncs: np.clip costs more on few points
            np.maximum(out, P_SUSPECT, out=out)
        else:
            out = np.full(x.shape, P_SUSPECT)
        out[x > b] = 0.0
    else:
        width = np.asarray(b - d, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = (x - d) / np.where(width > 0, width, 1.0)
        soft = np.clip(1.0 - 0.5 * frac, P_SUSPECT, _BELOW_ONE)
        out = np.where(width > 0, soft, P_SUSPECT)
        out[x > b] = 0.0  # also covers bad < doubtful: selected points are beyond min(d, b)
    return out


def _limit(v: Any, shape: tuple[int, ...]) -> Any:
    """A limit as None, a float, or an array of ``shape``."""
    a = np.asarray(v, dtype=np.float64)
    return float(a) if a.ndim == 0 else np.broadcast_to(a, shape)


def _limit_arrays(doubtful: Any, bad: Any, shape: tuple[int, ...]) -> tuple[Any, Any, Any]:
    # the usual fixed limit (float or None) as is: no 0-d array round trip, no call
    d = doubtful if doubtful is None or type(doubtful) is float else _limit(doubtful, shape)
    b = bad if bad is None or type(bad) is float else _limit(bad, shape)
    if b is None or d is None:
        first = d if b is None else b
    elif isinstance(d, float) and isinstance(b, float):
        first = min(d, b) if d == d and b == b else math.nan  # NaN wins, as in np.minimum
    else:
        first = np.minimum(d, b)
    return d, b, first


def sparse_flatnonzero(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """``np.flatnonzero(mask)``, faster when few elements are set (the usual case in QC).

    Looks at the mask eight bytes at a time first and only expands the words that have a set
    byte; when many words do, it falls back to :func:`numpy.flatnonzero`.
    """
    return _sparse_where(mask, np.uint64(0))


def sparse_flatzero(mask: npt.NDArray[np.bool_], *, scratch: bool = False) -> npt.NDArray[np.intp]:
    """``np.flatnonzero(~mask)`` without the negated copy: the few points a mask leaves out.

    Used on "within the limits" masks, which are True almost everywhere. ``scratch=True``:
    the mask may be destroyed (negated in place when a plain scan is faster).
    """
    return _sparse_where(mask, _ALL_TRUE, scratch=scratch)


_ALL_TRUE = np.uint64(0x0101010101010101)  # eight True bytes seen as one word
# below this many points a plain flatnonzero is faster: the word-wise search costs about six
# numpy calls more (measured: 20 against 9 us at 36,000 points, 132 against 202 at 10^6)
_WORDWISE_FROM = 1 << 18


def _sparse_where(
    mask: npt.NDArray[np.bool_],
    word: np.uint64,
    busy: npt.NDArray[np.bool_] | None = None,
    *,
    scratch: bool = False,
) -> npt.NDArray[np.intp]:
    """Indices of the bytes of ``mask`` that differ from those of ``word`` (all 0 or all 1).

    Compares eight bytes at a time and expands only the words that differ, so looking for
    the few False points of a mask (``word=_ALL_TRUE``) needs no negated copy of it.
    ``busy`` (one bool per whole word of ``mask``: whether it differs from ``word``) may be
    given by a caller that computed it while the mask was in cache (:func:`not_inside`).
    The busy words are themselves found word-wise (``numpy.flatnonzero`` looks at every
    byte, with a branch each: 0.7 ms for the 1.25 million words of 10^7 points, against
    0.3 ms word-wise when 12 % of them are busy). ``scratch=True`` says the mask is the
    caller's scratch (contents may be destroyed): a plain search for False points then
    negates it in place instead of into a new array (1 of the 7 us on 10^4 points).
    """
    flat = mask if mask.ndim == 1 else mask.reshape(-1)
    want_set = word == 0
    n = flat.size
    m = n - n % 8
    if not flat.flags.c_contiguous or m < _WORDWISE_FROM:
        return _plain_where(flat, want_set, scratch)
    words = flat[:m].view(np.uint64)
    if busy is None:
        busy = words != word
    found = _sparse_where(busy, np.uint64(0))
    # measured on 1.25 million flags: word-wise is faster up to 40 % busy words (0.94 against
    # 1.36 ms), slower at 67 % (1.23 against 0.94); from 1 busy word in 4 the plain scan
    if found.size > m // 32:
        return _plain_where(flat, want_set, scratch)
    sub = words[found]  # gathered as words (a row gather of 8 bytes each is 10x slower)
    if not want_set:
        np.bitwise_xor(sub, word, out=sub)  # the differing bytes become 1, the others 0
    k = np.flatnonzero(sub.view(np.bool_))
    out: npt.NDArray[np.intp] = found[k >> 3] * 8 + (k & 7)
    if m < n:
        rest = flat[m:]
        out = np.concatenate((out, m + np.flatnonzero(rest if want_set else ~rest)))
    return out


def _plain_where(
    flat: npt.NDArray[np.bool_], want_set: bool, scratch: bool
) -> npt.NDArray[np.intp]:
    """Indices of the True (``want_set``) or False points of a 1-d mask, by a plain scan."""
    if want_set:
        return flat.nonzero()[0]
    if scratch and flat.flags.writeable:
        return np.logical_not(flat, out=flat).nonzero()[0]
    return np.logical_not(flat).nonzero()[0]


BLOCK = 1 << 16
"""Points per block when a test compares each point with two limits: the block's values
(512 KiB of float64) are still in the core's L2 cache for the second comparison, so the data
comes from main memory once instead of twice. Measured on the 2-core CI VM at 10^6 points:
0.82 ms blocked against 1.09 ms in two whole-array passes (2^15 and 2^17 are close behind)."""


def not_inside(
    x: FloatArray, low: Any, high: Any, scratch: npt.NDArray[Any] | None = None
) -> npt.NDArray[np.intp]:
    """Indices of the points not within ``[low, high]`` (None: unbounded), NaN included.

    One comparison per given side: NaN compares false, so it lands in the (usually tiny)
    selection with the out-of-range points and costs no separate pass. ``scratch`` (at least
    one byte per point, contents destroyed) holds the comparison mask instead of a new array:
    a freshly allocated array of a million points can cost more in page faults on this kind
    of VM than the comparisons themselves, and the caller's result array, written afterwards
    anyway, is memory already paid for. With two fixed limits the data is compared in blocks
    of :data:`BLOCK` points, both limits while the block is in cache, and (given scratch of
    1.125 bytes per point, as a float32 result is) which groups of eight points hold one
    outside is noted there too, so the mask is not read back from memory to find them.
    """
    n = x.size
    if scratch is not None and scratch.flags.c_contiguous and scratch.nbytes >= n:
        room = (scratch if scratch.ndim == 1 else scratch.reshape(-1)).view(np.bool_)
        a = room[:n] if x.ndim == 1 else room[:n].reshape(x.shape)
    else:
        room = None
        a = np.empty(x.shape, dtype=np.bool_)
    if low is None and high is None:
        np.isnan(x, out=a)
        return _sparse_where(a, np.uint64(0))
    if low is None:
        np.less_equal(x, high, out=a)
    elif high is None:
        np.greater_equal(x, low, out=a)
    elif isinstance(low, float) and isinstance(high, float) and x.flags.c_contiguous:
        m = n - n % 8
        busy = other = None
        if m >= _WORDWISE_FROM:  # the words are looked at: note the busy ones in cache
            busy = room[n : n + m // 8] if room is not None and room.size >= n + m // 8 else None
            busy = np.empty(m // 8, dtype=np.bool_) if busy is None else busy
        elif room is not None and room.size >= 2 * n:  # the second comparison's mask too
            other = room[n : 2 * n]
        x1, a1 = (x, a) if x.ndim == 1 else (x.reshape(-1), a.reshape(-1))
        _inside_blocked(x1, low, high, a1, busy, other)
        return _sparse_where(a, _ALL_TRUE, busy, scratch=True)
    else:
        np.greater_equal(x, low, out=a)
        np.logical_and(a, np.less_equal(x, high), out=a)
    return _sparse_where(a, _ALL_TRUE, scratch=True)


def _inside_blocked(
    x: FloatArray,
    low: float,
    high: float,
    out: npt.NDArray[np.bool_],
    busy: npt.NDArray[np.bool_] | None = None,
    other: npt.NDArray[np.bool_] | None = None,
) -> None:
    """``out = (x >= low) & (x <= high)`` for 1-d ``x``, in blocks of :data:`BLOCK` points.

    ``busy`` (one flag per eight points, the whole groups only): set where a group has a
    point outside, from the block's mask while it is in cache. ``other`` (optional scratch,
    one bool per point of a block) holds the second comparison. One block is compared
    without the loop: on 10^4 points its slicing was a tenth of the call.
    """
    if other is None:
        other = np.empty(min(BLOCK, x.size), dtype=np.bool_)
    if busy is None and x.size <= BLOCK:
        b = other[: x.size]
        np.greater_equal(x, low, out=out)
        np.less_equal(x, high, out=b)
        np.logical_and(out, b, out=out)
        return
    words = out[: 8 * busy.size].view(np.uint64) if busy is not None else None
    for start in range(0, x.size, BLOCK):
        xs = x[start : start + BLOCK]
        a, b = out[start : start + BLOCK], other[: xs.size]
        np.greater_equal(xs, low, out=a)
        np.less_equal(xs, high, out=b)
        np.logical_and(a, b, out=a)
        if busy is not None and words is not None:  # BLOCK is a multiple of 8
            w = slice(start // 8, (start + xs.size) // 8)
            np.not_equal(words[w], _ALL_TRUE, out=busy[w])


def _soft_selected(
    xs: FloatArray,
    idx: npt.NDArray[np.intp],
    upper: tuple[Any, Any, Any],
    lower: tuple[Any, Any, Any],
) -> FloatArray:
    """Probabilities of the selected points ``idx`` (beyond a limit or NaN), values ``xs``.

    ``upper``/``lower`` are ``(doubtful, bad, first)`` from :func:`_limit_arrays`, the lower
    ones negated. A selected point beyond neither limit (a NaN limit) keeps 1; NaN stays NaN.
    """
    if _fixed_soft(upper) and _fixed_soft(lower):
        return _soft_fixed(xs, upper, lower)
    out = np.ones(xs.shape)
    for sign, (d, b, first) in ((1.0, upper), (-1.0, lower)):
        if first is None:
            continue
        v = xs if sign > 0 else -xs
        sub = np.flatnonzero(v > _at(first, idx))
        if not sub.size:
            continue
        at = idx[sub]
        out[sub] = np.minimum(out[sub], _soft(v[sub], _at(d, at), _at(b, at)))
    out[np.isnan(xs)] = np.nan
    return out


def _fixed_soft(side: tuple[Any, Any, Any]) -> bool:
    """Whether a side ``(doubtful, bad, first)`` is absent or has fixed doubtful < bad limits."""
    d, b, first = side
    return first is None or (type(d) is float and type(b) is float and b - d > 0)


def _soft_fixed(
    xs: FloatArray, upper: tuple[Any, Any, Any], lower: tuple[Any, Any, Any]
) -> FloatArray:
    """:func:`_soft_selected` when every given side has fixed doubtful < bad limits.

    The usual configuration, in about a third of the numpy calls (they, not the few points,
    are the cost): both sides' fractions beyond the doubtful limit at once, the larger one
    taken (the probability falls as it grows, so that is the minimum over the sides), then
    the same arithmetic as :func:`_soft`. NaN stays NaN through every step. Every selected
    point that is not NaN lies beyond a doubtful limit (it is the nearer limit of its side),
    so none keeps 1.
    """
    parts: list[tuple[FloatArray, npt.NDArray[np.bool_]]] = []  # per side: -0.5 * frac, bad
    for sign, (d, b, first) in ((1.0, upper), (-1.0, lower)):
        if first is None:
            continue
        if sign > 0:  # (x - d) / (b - d)
            f, bad = np.subtract(xs, d), np.greater(xs, b)
        else:  # the negated side: (-x - d) / (b - d), with -x - d computed as -d - x (exact)
            f, bad = np.subtract(-d, xs), np.less(xs, -b)
        span = b - d
        if -2.0 * span > -_BIGGEST:  # -0.5 * (f / span) in one division: scaling by a power
            np.divide(f, -2.0 * span, out=f)  # of two commutes with rounding (a subnormal
        else:  # quotient only arises where 1 + it rounds to 1 either way)
            np.divide(f, span, out=f)
            np.multiply(f, -0.5, out=f)
        parts.append((f, bad))
    if not parts:  # no limit at all: only NaN was selected
        return np.where(np.isnan(xs), np.nan, 1.0)
    frac, beyond_bad = parts[0]
    for f, bad in parts[1:]:
        np.minimum(frac, f, out=frac)  # the larger fraction, negated
        np.logical_or(beyond_bad, bad, out=beyond_bad)
    np.add(frac, 1.0, out=frac)  # 1 - 0.5 * frac, exactly as in _soft
    np.minimum(frac, _BELOW_ONE, out=frac)
    # No maximum with P_SUSPECT as in _soft: below 0.5 means a fraction above 1, i.e. a value
    # beyond its bad limit (rounding is monotone: x <= b gives fl(x - d) <= b - d), which gets 0
    np.copyto(frac, 0.0, where=beyond_bad)
    return frac


def soft_range_at(
    value: npt.ArrayLike,
    doubtful_min: npt.ArrayLike | None,
    doubtful_max: npt.ArrayLike | None,
    bad_min: npt.ArrayLike | None,
    bad_max: npt.ArrayLike | None,
    *,
    nonfinite_missing: bool = False,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.intp]]:
    """:func:`soft_range` and the indices where it is not 1 (beyond a limit, or NaN).

    The indices let a caller fix up the few special points (e.g. "a NaN rate next to a
    missing value passes") without another pass over the whole array. With
    ``nonfinite_missing`` ±inf comes out NaN (missing) like NaN, not 0: for a test that takes
    non-finite values as missing, decided on the selected values already gathered (a second
    gather and mask of them was a good part of a call on 10^4 points).
    """
    x = np.asarray(value, dtype=np.float64)
    p = new_probability(x.shape)
    upper = _limit_arrays(doubtful_max, bad_max, x.shape)
    lower = _limit_arrays(_negated(doubtful_min), _negated(bad_min), x.shape)
    low = None if lower[2] is None else -lower[2]
    # one errstate for all steps (entering one costs about 2 us): comparisons with NaN and
    # the arithmetic on selected NaN points must stay silent, and so must a fraction that
    # overflows (a value far beyond a very narrow soft band: it gets 0 all the same)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        idx = _outside_filled(x, low, upper[2], p)
        if idx.size:
            xs = x[idx]
            selected = _soft_selected(xs, idx, upper, lower)
            if nonfinite_missing:
                selected[np.isinf(xs)] = np.nan
            p[idx] = selected
    return p, idx


def _outside_filled(
    x: FloatArray, low: Any, high: Any, p: npt.NDArray[np.float32]
) -> npt.NDArray[np.intp]:
    """``not_inside(x, low, high)`` with the result ``p`` as scratch, then ``p`` all 1.

    A large 1-d ``x`` with fixed limits is split into pieces run in threads (see
    :mod:`stratoflow.qc.parallel`), each comparing its points, finding those outside and
    filling its part of ``p``, so the page faults of the fresh result are taken in parallel
    too.
    """
    fixed = (low is None or type(low) is float) and (high is None or type(high) is float)
    bounds = parallel.pieces(x.size, BLOCK) if fixed and x.ndim == 1 else [(0, x.size)]
    if len(bounds) == 1:
        idx = not_inside(x, low, high, scratch=p)  # the result's memory as scratch
        p.fill(1.0)
        return idx

    def piece(start: int, stop: int) -> npt.NDArray[np.intp]:
        part = p[start:stop]
        with np.errstate(invalid="ignore"):  # a worker thread has numpy's default errstate
            found = not_inside(x[start:stop], low, high, scratch=part)
        part.fill(1.0)
        found += start
        return found

    return np.concatenate(parallel.run_pieces(piece, bounds))


def soft_limit(
    value: npt.ArrayLike, doubtful: npt.ArrayLike | None, bad: npt.ArrayLike | None
) -> npt.NDArray[np.float32]:
    """Probability from how far a value goes: 1 up to ``doubtful``, 0 beyond ``bad``.

    Higher ``value`` is worse (negate value and limits for "lower is worse"). Between the two
    limits the probability falls linearly from just below 1 to 0.5 (the decision boundary
    between limited and bad); strictly beyond ``bad`` it is 0. With only ``doubtful``, points
    beyond it get :data:`P_SUSPECT`; with only ``bad``, points beyond it get 0. NaN stays NaN.
    Comparisons are strict, like QARTOD's: a value *at* a limit passes it. Limits may be arrays
    (limits that vary with another variable); a point whose limit is NaN passes. Only the points
    beyond a limit or NaN are computed in float64, after one comparison pass over the data;
    the result is float32, the storage type of test results.
    """
    return soft_range_at(value, None, doubtful, None, bad)[0]


def _negated(v: npt.ArrayLike | None) -> Any:
    if v is None:
        return None
    if type(v) is float:  # the usual case first: the checks below cost more than the rest
        return -v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return -float(v)
    return np.negative(np.asarray(v, dtype=np.float64))


def soft_range(
    value: npt.ArrayLike,
    doubtful_min: npt.ArrayLike | None,
    doubtful_max: npt.ArrayLike | None,
    bad_min: npt.ArrayLike | None,
    bad_max: npt.ArrayLike | None,
) -> npt.NDArray[np.float32]:
    """Two-sided :func:`soft_limit`: soft limits below ``*_min`` and above ``*_max``.

    Two comparison passes (``x >= low``, ``x <= high``) find every point that is out of range
    or NaN; only those are computed further.
    """
    return soft_range_at(value, doubtful_min, doubtful_max, bad_min, bad_max)[0]
