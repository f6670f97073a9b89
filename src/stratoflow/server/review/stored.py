"""Stored QC results of a series, decoded back into :mod:`stratoflow.qc` objects.

A QC run stores each test's probabilities (columnar, float32) but not the missing mask nor the
tests' ``critical``/``weight`` options; both are rebuilt here so that an evaluation method can be
run again on exactly what the tests said, without re-running a test or re-importing a file:

* missing = no finite value, or a test that marks missing values (fill values) said 0;
* ``critical``/``weight`` come from the QC configuration the run recorded (``qc_config``, set
  when the PI re-ran QC with their own configuration) or else from the shipped defaults.

Example::

    stored = stored_qc(series)
    prob, flags = get_evaluation("critical")(stored.variable.stack(), stored.variable.missing,
                                             [t.info for t in stored.variable.tests], ...)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from stratoflow.errors import PluginNotFound, QCConfigError
from stratoflow.flags import FLAG_DTYPE, Flag, worst
from stratoflow.qc import QCConfig, TestRun, VariableQC, default_config, get_test, parse_config
from stratoflow.server.catalog.models import QCRun, Series
from stratoflow.server.catalog.selectors import current_qc_run, series_arrays
from stratoflow.store.segments import decode_columns

__all__ = ["StoredQC", "merge_source_flags", "stored_qc"]


@dataclass(frozen=True)
class StoredQC:
    """A series' values with its current QC run decoded (``run`` None: never QC'd)."""

    series: Series
    time: npt.NDArray[np.datetime64]
    values: npt.NDArray[np.float64]
    source_flags: npt.NDArray[np.uint8]
    run: QCRun | None
    flags: npt.NDArray[np.uint8]
    variable: VariableQC


@lru_cache(maxsize=1)
def _defaults() -> QCConfig:
    return default_config()  # parsed once per process: it is the shipped file


def _config_of(run: QCRun) -> QCConfig:
    raw = run.config.get("qc_config") if isinstance(run.config, Mapping) else None
    if isinstance(raw, Mapping):
        try:
            return parse_config(raw)
        except QCConfigError:
            pass  # a configuration that no longer validates: fall back to the defaults
    return _defaults()


def _options(run: QCRun) -> dict[str, tuple[bool, float]]:
    """``label -> (critical, weight)`` of the profile the run used."""
    config = _config_of(run)
    name = run.config.get("profile") if isinstance(run.config, Mapping) else None
    specs = list(config.common)
    for profile in config.profiles:
        if profile.name == name:
            specs.extend(profile.tests)
    return {s.label: (s.critical, s.weight) for s in specs}


def _marks_missing(test: str) -> bool:
    try:
        return bool(get_test(test).marks_missing)
    except PluginNotFound:
        return False


def stored_qc(series: Series, run: QCRun | None = None) -> StoredQC:
    """Decode ``series`` and its QC ``run`` (default: the current one)."""
    arrays = series_arrays(series)
    time = np.asarray(arrays["time"]).astype("datetime64[ns]")
    values = np.asarray(arrays["value"], dtype=np.float64)
    source = np.asarray(arrays["flag"], dtype=FLAG_DTYPE)
    run = run if run is not None else current_qc_run(series)
    missing = ~np.isfinite(values)
    tests: list[TestRun] = []
    flags = source.copy()
    profile = ""
    if run is not None:
        flags = np.asarray(decode_columns(run.flags)["flag"], dtype=FLAG_DTYPE)
        options = _options(run)
        profile = str(run.config.get("profile") or "")
        for result in run.test_results.order_by("id"):
            p = np.asarray(decode_columns(result.probabilities)["p"], dtype=np.float32)
            params: dict[str, Any] = dict(result.parameters)
            test = str(params.pop("test", result.test))
            critical, weight = options.get(result.test, (True, 1.0))
            tests.append(
                TestRun(
                    result.test, test, result.version, params, result.runtime_s, p, critical, weight
                )
            )
            if _marks_missing(test):
                missing |= p == 0
    variable = VariableQC(series.variable, profile, missing, tuple(tests))
    return StoredQC(series, time, values, source, run, flags, variable)


def merge_source_flags(
    qc_flags: npt.NDArray[np.uint8], source: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint8]:
    """QC cannot make good what the source says is not: the worse flag wins where informative.

    The same rule as the importer's QC (:func:`stratoflow.server.catalog.qc.qc_series`).
    """
    informative = source != int(Flag.NOT_VALIDATED)
    merged = np.where(informative, worst(np.stack([qc_flags, source])), qc_flags)
    return np.asarray(merged, dtype=FLAG_DTYPE)
