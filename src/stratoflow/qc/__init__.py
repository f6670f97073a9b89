"""Quality control: fast, explainable tests and evaluation methods the PI can change.

Usable without Django on any standardized Dataset (or plain numpy array)::

    from stratoflow.qc import run_qc
    result = run_qc(ds)                        # default per-variable configuration
    result.counts()                            # {"O3_P1": {"good": 7990, "limited": 12, ...}}
    flagged = result.to_dataset(ds)            # adds <var>_flag variables (CF attributes)
    result.evaluate("critical").counts()       # another evaluation, no test re-run

The pieces: :mod:`~stratoflow.qc.base` (test contract), :mod:`~stratoflow.qc.tests` (test
families), :mod:`~stratoflow.qc.evaluation` (methods), :mod:`~stratoflow.qc.mapper`
(probability -> flags), :mod:`~stratoflow.qc.config` (YAML), :mod:`~stratoflow.qc.run`.
"""

from __future__ import annotations

from stratoflow.qc.base import (
    P_SUSPECT,
    InputUnavailable,
    Param,
    QCInput,
    QCTest,
    get_test,
    qc_test,
    soft_limit,
    soft_range,
    test_names,
)
from stratoflow.qc.config import (
    Profile,
    QCConfig,
    TestSpec,
    default_config,
    load_config,
    parse_config,
    parse_config_text,
)
from stratoflow.qc.evaluation import (
    Evaluation,
    ManualFlag,
    TestInfo,
    evaluation_names,
    get_evaluation,
)
from stratoflow.qc.mapper import Thresholds, probability_from_qartod, to_flags
from stratoflow.qc.result import QCResult, TestRun, VariableQC, provider_flag_name
from stratoflow.qc.run import run_qc, run_test

__all__ = [
    "P_SUSPECT",
    "Evaluation",
    "InputUnavailable",
    "ManualFlag",
    "Param",
    "Profile",
    "QCConfig",
    "QCInput",
    "QCResult",
    "QCTest",
    "TestInfo",
    "TestRun",
    "TestSpec",
    "Thresholds",
    "VariableQC",
    "default_config",
    "evaluation_names",
    "get_evaluation",
    "get_test",
    "load_config",
    "parse_config",
    "parse_config_text",
    "probability_from_qartod",
    "provider_flag_name",
    "qc_test",
    "run_qc",
    "run_test",
    "soft_limit",
    "soft_range",
    "test_names",
    "to_flags",
]
