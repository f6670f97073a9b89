"""The built-in QC tests, one module per family.

Each test is registered under its name in the ``stratoflow.qc_tests`` entry-point group, so a
configuration refers to it by name (``test: gross_range``) and third-party packages can add
their own the same way.
"""

from __future__ import annotations

from stratoflow.qc.tests.flatline import flat_line, low_variance, stuck_value
from stratoflow.qc.tests.missing import missing
from stratoflow.qc.tests.position import ground_speed, position
from stratoflow.qc.tests.propagate import propagate
from stratoflow.qc.tests.range import gross_range, range_by
from stratoflow.qc.tests.rate import jump, rate_of_change
from stratoflow.qc.tests.rule import rule
from stratoflow.qc.tests.spike import hampel, spike
from stratoflow.qc.tests.time import duplicate_time, impossible_date, time_gap

__all__ = [
    "duplicate_time",
    "flat_line",
    "gross_range",
    "ground_speed",
    "hampel",
    "impossible_date",
    "jump",
    "low_variance",
    "missing",
    "position",
    "propagate",
    "range_by",
    "rate_of_change",
    "rule",
    "spike",
    "stuck_value",
    "time_gap",
]
