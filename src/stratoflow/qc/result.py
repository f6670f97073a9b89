"""The result of a QC run: per-test probabilities (stored), evaluation and final flags.

Everything needed to explain and re-evaluate a flag is kept as plain arrays and small
JSON-able records, so the database layer can store it columnar like the values themselves:

* per variable, the missing-value mask and one float32 probability array per test, with the
  test name, its parameters, version and runtime (:class:`TestRun`);
* the evaluation method and its parameters, and the final uint8 IAGOS flags.

:meth:`QCResult.evaluate` produces a new result with another method from the stored arrays
(no test is re-run); :meth:`QCResult.to_store` / :meth:`QCResult.from_store` round-trip the
whole result through an :class:`xarray.Dataset` (and so through netCDF).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow.dataset import TIME, flag_name
from stratoflow.errors import QCError
from stratoflow.flags import FLAG_DTYPE, Flag, combine_judgements, count_flags
from stratoflow.qc.evaluation import ManualFlag, TestInfo, apply_overrides, get_evaluation
from stratoflow.qc.mapper import cf_attributes

__all__ = ["PROVIDER_FLAG_SUFFIX", "QCResult", "TestRun", "VariableQC", "provider_flag_name"]

#: Suffix of the variable that keeps a source file's own flags of ``<var>`` after QC.
PROVIDER_FLAG_SUFFIX = "_provider_flag"


def provider_flag_name(variable: str) -> str:
    """Name under which :meth:`QCResult.to_dataset` keeps the source's flags of ``variable``."""
    return f"{variable}{PROVIDER_FLAG_SUFFIX}"


_STORE_PREFIX = "qc__"


@dataclass(frozen=True)
class TestRun:
    """One test's outcome on one variable, with everything needed to reproduce it."""

    __test__ = False  # not a pytest test class, despite the name

    label: str
    test: str
    version: str
    params: Mapping[str, Any]
    runtime: float
    probability: npt.NDArray[np.float32]
    critical: bool = True
    weight: float = 1.0

    @property
    def info(self) -> TestInfo:
        return TestInfo(self.label, self.critical, self.weight)


@dataclass(frozen=True)
class VariableQC:
    """The QC of one variable: missing mask, per-test results, and skipped tests with why."""

    variable: str
    profile: str
    missing: npt.NDArray[np.bool_]
    tests: tuple[TestRun, ...]
    skipped: Mapping[str, str] = field(default_factory=dict)
    #: ``"hPa -> Pa"`` when the values were converted to the profile's units for the tests
    converted: str = ""

    def stack(self) -> npt.NDArray[np.float32]:
        """Probabilities as a (tests x points) float32 array."""
        if not self.tests:
            return np.empty((0, self.missing.size), dtype=np.float32)
        return np.stack([t.probability for t in self.tests])


@dataclass(frozen=True)
class QCResult:
    """Per-test results of a QC run plus one evaluation of them."""

    time: npt.NDArray[np.datetime64]
    variables: Mapping[str, VariableQC]
    method: str
    params: Mapping[str, Any]
    flags: Mapping[str, npt.NDArray[np.uint8]]
    probability: Mapping[str, npt.NDArray[np.float32] | None] = field(default_factory=dict)
    overrides: tuple[ManualFlag, ...] = ()

    @classmethod
    def evaluated(
        cls,
        time: npt.NDArray[np.datetime64],
        variables: Mapping[str, VariableQC],
        method: str = "worst",
        params: Mapping[str, Any] | None = None,
        overrides: Sequence[ManualFlag] = (),
    ) -> QCResult:
        """Evaluate stored per-test results with ``method`` (validated ``params``)."""
        unchecked = sorted({o.variable for o in overrides} - set(variables))
        if unchecked:  # the PI decision would vanish: no flags of that variable to apply it to
            raise QCError(
                f"manual flags for {', '.join(map(repr, unchecked))}: variable not checked by "
                "this QC run (no profile matches it, or it was left out of variables=)"
            )
        evaluation = get_evaluation(method)
        checked = evaluation.check(params or {}, "evaluation")
        flags: dict[str, npt.NDArray[np.uint8]] = {}
        probs: dict[str, npt.NDArray[np.float32] | None] = {}
        for name, var in variables.items():
            prob, f = evaluation(var.stack(), var.missing, [t.info for t in var.tests], **checked)
            mine = [o for o in overrides if o.variable == name]
            flags[name] = apply_overrides(f, time, mine) if mine else f
            probs[name] = prob
        return cls(time, dict(variables), method, checked, flags, probs, tuple(overrides))

    def evaluate(
        self,
        method: str = "worst",
        *,
        good: float | None = None,
        bad: float | None = None,
        k: int | None = None,
        overrides: Sequence[ManualFlag] | None = None,
    ) -> QCResult:
        """A new result: the same test results evaluated with another method or thresholds.

        Unset options keep their defaults; ``overrides`` (manual PI flags) default to the ones
        of this result.
        """
        given = {"good": good, "bad": bad, "k": k}
        params = {key: v for key, v in given.items() if v is not None}
        keep = self.overrides if overrides is None else tuple(overrides)
        return QCResult.evaluated(self.time, self.variables, method, params, keep)

    def counts(self) -> dict[str, dict[str, int]]:
        """Points per flag class per variable."""
        return {name: count_flags(f) for name, f in self.flags.items()}

    def to_dataset(self, dataset: xr.Dataset, *, include_tests: bool = False) -> xr.Dataset:
        """``dataset`` with a ``<var>_flag`` variable (CF attributes) for each QC'd variable.

        A file may already carry flags for ``<var>`` (an IAGOS L2 file's validity flags, the
        flag columns of a NASA Ames or ICARTT file): that is the provider's judgement and is
        never dropped. It is kept unchanged as ``<var>_provider_flag`` (an ancillary variable
        of ``<var>``), and ``<var>_flag`` becomes the combination of both judgements
        (:func:`~stratoflow.flags.combine_judgements`: the worse flag wins where both judged a
        point, ``not_validated`` on one side defers to the other), so a point the provider
        called bad is never written as good. Flags that judge nothing (only not_validated
        and missing, as readers derive them for formats without flags) are combined but not
        kept separately. When the Dataset already has a
        ``<var>_provider_flag`` (QC run again on our own output), that one is the provider's
        and our earlier QC flags are replaced, not compounded.

        With ``include_tests``, each test's probability is added too, as ``<var>_qc_<label>``
        (float32, 1 good .. 0 bad), so a file shows why a point was flagged.
        """
        out = dataset.copy()
        if self.flags and TIME in out.coords and out.sizes[TIME] == self.time.size:
            # the same number of points is not the same points: another flight's flags were
            # attached without a word
            theirs = np.asarray(out[TIME].values).astype("datetime64[ns]")
            differ = theirs != np.asarray(self.time).astype("datetime64[ns]")
            if differ.any():
                i = int(np.argmax(differ))
                raise QCError(
                    f"the QC result is for other times than the dataset (point {i}: "
                    f"{self.time[i]} in the result, {theirs[i]} in the dataset)"
                )
        for name, flags in self.flags.items():
            if flags.shape != (out.sizes[TIME],):
                raise QCError(
                    f"{name}: QC result has {flags.size} points, dataset {out.sizes[TIME]}"
                )
            var = self.variables[name]
            attrs = cf_attributes(name, self.method)
            attrs["qc_tests"] = " ".join(t.label for t in var.tests)
            extra = [flag_name(name)]
            provider, stored = self._provider_flags(out, name)
            final = flags
            if provider is not None:
                final = combine_judgements(provider, flags)
            if stored:
                attrs["comment"] += (
                    f"; combined with the provider's flags {provider_flag_name(name)} "
                    "(worse flag wins where both judged a point; not_validated defers)"
                )
                extra.append(provider_flag_name(name))
            out[flag_name(name)] = xr.Variable((TIME,), final.astype(FLAG_DTYPE), attrs)
            present = str(out[name].attrs.get("ancillary_variables", "")).split()
            if include_tests:
                for t in var.tests:
                    pname = f"{name}_qc_{t.label}"
                    out[pname] = xr.Variable((TIME,), t.probability, _test_attrs(name, t))
                    extra.append(pname)
            new = [*present, *(e for e in extra if e not in present)]
            out[name].attrs["ancillary_variables"] = " ".join(new)
        return out

    @staticmethod
    def _provider_flags(out: xr.Dataset, name: str) -> tuple[npt.NDArray[np.uint8] | None, bool]:
        """The flags the source gave ``name``, and whether ``<name>_provider_flag`` keeps them.

        Flags that judge nothing (only ``not_validated`` and ``missing``, what a reader
        derives for a format without flags) still take part in the combination, but are not
        kept as a variable of their own: the combined flag already says all they say.
        """
        kept = provider_flag_name(name)
        if kept in out.data_vars:
            codes = np.asarray(out[kept].values)
            if codes.dtype.kind not in "iu" or codes.shape != (out.sizes[TIME],):
                raise QCError(
                    f"{kept}: expected IAGOS validity flags of {name}, found "
                    f"{codes.dtype} values of shape {codes.shape}; rename that variable"
                )
            return codes.astype(FLAG_DTYPE), True
        if flag_name(name) not in out.data_vars:
            return None, False
        codes = np.asarray(out[flag_name(name)].values).astype(FLAG_DTYPE)
        if np.isin(codes, (int(Flag.NOT_VALIDATED), int(Flag.MISSING))).all():
            return codes, False
        attrs = dict(out[flag_name(name)].attrs)
        attrs["long_name"] = f"validity flag of {name} as given by the source file"
        attrs["units"] = "1"  # flag variable not named <var>_flag: the contract wants units
        attrs["comment"] = "the provider's flags, kept unchanged by stratoflow QC"
        out[kept] = xr.Variable((TIME,), codes, attrs)
        return codes, True

    def to_store(self) -> xr.Dataset:
        """All per-test results, missing masks and flags as one columnar Dataset."""
        data: dict[str, xr.Variable] = {}
        for name, var in self.variables.items():
            data[f"{_STORE_PREFIX}{name}__missing"] = xr.Variable(
                (TIME,),
                var.missing.astype(np.uint8),
                {
                    "profile": var.profile,
                    "skipped": json.dumps(dict(var.skipped)),
                    "converted": var.converted,
                },
            )
            for i, t in enumerate(var.tests):
                data[f"{_STORE_PREFIX}{name}__{i:03d}"] = xr.Variable(
                    (TIME,), t.probability, _test_attrs(name, t)
                )
            data[f"{_STORE_PREFIX}{name}__flags"] = xr.Variable((TIME,), self.flags[name])
        attrs = {"qc_method": self.method, "qc_params": json.dumps(dict(self.params))}
        return xr.Dataset(data, coords={TIME: self.time}, attrs=attrs)

    @classmethod
    def from_store(cls, store: xr.Dataset) -> QCResult:
        """The result saved by :meth:`to_store` (flags re-derived by the stored method)."""
        time = store[TIME].values
        variables: dict[str, VariableQC] = {}
        for key in sorted(str(k) for k in store.data_vars):
            if not key.startswith(_STORE_PREFIX) or not key.endswith("__missing"):
                continue
            name = key[len(_STORE_PREFIX) : -len("__missing")]
            m = store[key]
            runs = []
            prefix = f"{_STORE_PREFIX}{name}__"
            for tkey in sorted(str(k) for k in store.data_vars):
                rest = tkey[len(prefix) :]
                if tkey.startswith(prefix) and rest.isdigit():
                    a = store[tkey].attrs
                    runs.append(
                        TestRun(
                            label=str(a["qc_label"]),
                            test=str(a["qc_test"]),
                            version=str(a["qc_version"]),
                            params=json.loads(str(a["qc_params"])),
                            runtime=float(a["qc_runtime"]),
                            probability=np.asarray(store[tkey].values, dtype=np.float32),
                            critical=bool(int(a["qc_critical"])),
                            weight=float(a["qc_weight"]),
                        )
                    )
            variables[name] = VariableQC(
                name,
                str(m.attrs.get("profile", "")),
                np.asarray(m.values).astype(bool),
                tuple(runs),
                json.loads(str(m.attrs.get("skipped", "{}"))),
                str(m.attrs.get("converted", "")),
            )
        method = str(store.attrs.get("qc_method", "worst"))
        params = json.loads(str(store.attrs.get("qc_params", "{}")))
        return cls.evaluated(time, variables, method, params)

    def with_overrides(self, overrides: Sequence[ManualFlag]) -> QCResult:
        """The same evaluation with manual PI flags applied on top."""
        return self.evaluate(self.method, **_thresholds(self.params), overrides=overrides)


def _thresholds(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: params[k] for k in ("good", "bad", "k") if k in params}


def _test_attrs(name: str, t: TestRun) -> dict[str, Any]:
    return {
        "long_name": f"QC test {t.label} of {name}: probability that the value is valid",
        "units": "1",
        "valid_range": np.array([0, 1], dtype=np.float32),
        "qc_label": t.label,
        "qc_test": t.test,
        "qc_version": t.version,
        "qc_params": json.dumps(dict(t.params)),
        "qc_runtime": float(t.runtime),
        "qc_critical": int(t.critical),
        "qc_weight": float(t.weight),
    }
