"""Processing of standardized Datasets before import: pure functions, no database.

Calibration with pre/post calibrations, unit conversion (pint), clock synchronisation against
a reference series, merging instrument streams onto one time base, basic import flags, and the
configuration-driven pipeline that composes them and records what it did.
"""

from __future__ import annotations

from stratoflow.processing.basic import basic_flags, physical_range
from stratoflow.processing.calibration import CalibrationPoint, calibrate
from stratoflow.processing.clock import (
    ClockDrift,
    ClockOffset,
    correct_drift,
    estimate_drift,
    estimate_offset,
    shift_time,
)
from stratoflow.processing.merge import merge_streams, resample_onto
from stratoflow.processing.pipeline import STEPS, run_steps
from stratoflow.processing.units import convert, convertible

__all__ = [
    "STEPS",
    "CalibrationPoint",
    "ClockDrift",
    "ClockOffset",
    "basic_flags",
    "calibrate",
    "convert",
    "convertible",
    "correct_drift",
    "estimate_drift",
    "estimate_offset",
    "merge_streams",
    "physical_range",
    "resample_onto",
    "run_steps",
    "shift_time",
]
