"""QC of stored series: run :mod:`stratoflow.qc` on imported data and store every result.

The per-test probabilities are stored (columnar) next to the final flags, so the PI can switch
the evaluation method later without re-running a test. Each run records the configuration it
used (``config["qc_configuration"]``: source, name, version, SHA-256 of the text; and the
configuration itself as ``config["qc_config"]`` unless it is the shipped default), so a flag can
be traced to the exact limits behind it and a re-evaluation knows each test's options.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from django.db import transaction

from stratoflow.dataset import TIME, flags_of
from stratoflow.flags import FLAG_DTYPE, Flag, worst
from stratoflow.qc.run import run_qc
from stratoflow.server.catalog.models import QCRun, Series
from stratoflow.server.catalog.qc_configurations import qc_config_resolve
from stratoflow.server.catalog.services import TestOutcome, flight_lock, qc_run_store

__all__ = ["QCSettings", "qc_import_runs", "qc_outdated", "qc_series", "qc_settings"]


@dataclass(frozen=True)
class QCSettings:
    """Which QC an import would run: the configuration text (by checksum) and the method.

    Two imports with equal settings give the same flags on the same values, so re-processing
    compares these with the settings of each series' last import QC run to tell which files
    a changed ``qc`` option or a new version of a stored configuration would flag otherwise.
    """

    checksum: str
    evaluation: str
    label: str

    def changes(self, other: QCSettings | None) -> list[str]:
        """``qc.config``/``qc.evaluation`` lines saying how ``other`` (the old) differs."""
        if other is None:
            return [f"qc: (never run) -> {self.label}, {self.evaluation}"]
        lines = []
        if other.checksum != self.checksum:
            lines.append(f"qc.config: {other.label} -> {self.label}")
        if other.evaluation != self.evaluation:
            lines.append(f"qc.evaluation: {other.evaluation} -> {self.evaluation}")
        return lines


def _label(record: Mapping[str, Any]) -> str:
    """A configuration record as people name it: ``name vN (checksum)``, a path, inline."""
    checksum = str(record.get("checksum", ""))[:12]
    if record.get("source") == "stored":
        what = f"{record.get('name')} v{record.get('version')}"
    elif record.get("source") == "file":
        what = str(record.get("path"))
    elif record.get("source") == "inline":
        what = "inline"
    else:
        what = str(record.get("name") or record.get("source") or "unknown")
    return f"{what} ({checksum})"


def qc_settings(qc: Mapping[str, Any] | bool) -> QCSettings | None:
    """The settings an import manager's ``qc`` option stands for now; None for ``false``.

    Resolved as :func:`stratoflow.importers.series.import_file` resolves them (a stored name
    means its latest version; no ``evaluation``: the configuration's own). Raises
    :class:`~stratoflow.errors.QCConfigError` for a configuration that cannot be resolved.
    """
    if qc is False:
        return None
    options = dict(qc) if isinstance(qc, Mapping) else {}
    resolved = qc_config_resolve(options.get("config"))
    return QCSettings(
        checksum=str(resolved.record.get("checksum", "")),
        evaluation=str(options.get("evaluation") or resolved.config.evaluation),
        label=_label(resolved.record),
    )


def _imported_run(series: Series) -> QCRun | None:
    """The series' last QC run made by an import (the PI's re-evaluations are not)."""
    return series.qc_runs.exclude(config__has_key="review").order_by("-created_at", "-id").first()


def qc_outdated(
    series: Sequence[Series], wanted: QCSettings | None
) -> tuple[list[Series], QCSettings | None]:
    """The series whose last import QC run was not made with ``wanted`` (or never made).

    Also returns the old settings of the first of them, for listing what changed. A PI's
    re-evaluation or QC re-run on the review page does not count: it is a decision on the
    review page, and what the job's settings made is what a changed setting replaces.
    """
    if wanted is None:
        return [], None
    outdated: list[Series] = []
    old: QCSettings | None = None
    for s in series:
        run = _imported_run(s)
        record = run.config.get("qc_configuration") if run is not None else None
        have = (
            QCSettings(str(record.get("checksum", "")), run.evaluation, _label(record))
            if run is not None and isinstance(record, Mapping)
            else None
        )
        if have is None or (have.checksum, have.evaluation) != (wanted.checksum, wanted.evaluation):
            if not outdated:
                old = have
            outdated.append(s)
    return outdated, old


def qc_import_runs(series: Sequence[Series]) -> int:
    """How many import QC runs ``series`` have (a generation counter for task keys)."""
    return QCRun.objects.filter(series__in=list(series)).exclude(config__has_key="review").count()


def qc_series(
    series: Sequence[Series],
    ds: xr.Dataset,
    *,
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    evaluation: str | None = "worst",
) -> list[QCRun]:
    """QC the variables of ``ds`` that ``series`` store; one stored QC run per series.

    ``config``: the name of a stored QC configuration (``name`` or ``name@version``), a YAML
    file path, the configuration as plain data, or None (the stored default, else the shipped
    one); see :func:`~stratoflow.server.catalog.qc_configurations.qc_config_resolve`.
    Variables without a QC profile keep their source flags (e.g. an IAGOS file's validity
    flags); where the source already says bad, QC cannot make it good: the worse flag wins.
    """
    resolved = qc_config_resolve(config)
    result = run_qc(
        ds,
        config=resolved.config,
        evaluation=evaluation,
        variables=[s.variable for s in series],
    )
    used: dict[str, Any] = {"qc_configuration": resolved.record}
    if resolved.data is not None:
        used["qc_config"] = resolved.data
    from stratoflow.server.review.services import replay_manual_flags  # review builds on catalog

    runs = []
    for s in series:
        source = flags_of(ds, s.variable)
        vqc = result.variables.get(s.variable)
        if vqc is None or not vqc.tests:
            flags = source.copy()
            outcomes: list[TestOutcome] = []
        else:
            qc_flags = np.asarray(result.flags[s.variable], dtype=FLAG_DTYPE)
            # a source flag of "not validated" carries no information; anything else does
            informative = source != int(Flag.NOT_VALIDATED)
            flags = np.where(informative, worst(np.stack([qc_flags, source])), qc_flags)
            outcomes = [
                TestOutcome(
                    test=t.label,
                    parameters={"test": t.test, **dict(t.params)},
                    version=t.version,
                    runtime_s=t.runtime,
                    probabilities=t.probability,
                )
                for t in vqc.tests
            ]
        with transaction.atomic():
            # the PI's manual flags on this flight and variable win, in every new version;
            # read under the flight's lock, so a flag set meanwhile waits for this run and is
            # then applied to it, instead of being stored under it (see flight_lock)
            flight_lock([s.flight_id])
            flags = replay_manual_flags(s, flags.astype(FLAG_DTYPE), ds[TIME].values)
            runs.append(
                qc_run_store(
                    s,
                    flags=flags.astype(FLAG_DTYPE),
                    evaluation=result.method,
                    thresholds=dict(result.params),
                    config={
                        "profile": vqc.profile if vqc else None,
                        "skipped": dict(vqc.skipped) if vqc else {},
                        "units_converted": vqc.converted if vqc else "",
                        **used,
                    },
                    outcomes=outcomes,
                )
            )
    return runs
