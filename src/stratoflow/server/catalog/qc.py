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
from typing import Any

import numpy as np
import xarray as xr

from stratoflow.dataset import TIME, flags_of
from stratoflow.flags import FLAG_DTYPE, Flag, worst
from stratoflow.qc.run import run_qc
from stratoflow.server.catalog.models import QCRun, Series
from stratoflow.server.catalog.qc_configurations import qc_config_resolve
from stratoflow.server.catalog.services import TestOutcome, qc_run_store

__all__ = ["qc_series"]


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
        # the PI's manual flags on this flight and variable win, in every new version
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
