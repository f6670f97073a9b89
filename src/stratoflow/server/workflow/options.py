"""Checking a task manager's options when it is saved or loaded, not when it first runs.

A job file is written once and then runs unattended for months; a misspelt reader name, an
unknown processing step or ``levl: L1`` must be refused by ``stratoflow job load`` (and the
admin form) with the offending key, instead of failing every task of the first scheduled run
at night. Each kind lists the options it understands; anything else is an error. Kinds
registered by a site (see :func:`stratoflow.server.workflow.managers.register`) are not
checked here: they validate their own options when they run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stratoflow.errors import ConfigError, StratoflowError

__all__ = ["WRITER_FORMATS", "check_manager_options"]

_LEVELS = ("L0", "L1", "L2")
_IMPORT = {
    "reader": "reader plugin name (default: guessed from the file)",
    "reader_options": "options of the reader, e.g. {preset: fairo_omc}",
    "level": "data level of the imported series: L0, L1 or L2",
    "processing": "list of {step, params}: clock_sync, calibration, units, ...",
    "references": "name -> {pattern, transfer, reader, reader_options} or {path}",
    "instrument": "the instrument in the catalog, 'component type/serial'",
    "qc": "{config: stored name or YAML path, evaluation: method} or false",
    "review": "leave imported flights for the PI's review (default true)",
}
_EXPORT = {
    "level": "release level to export: L1 or L2",
    "format": "netcdf, iagos-netcdf, nasa-ames, icartt or csv",
    "writer": "older spelling of format (a writer plugin name)",
    "writer_options": "options of the writer",
    "variables": "list of variables (default: all)",
    "resample": "resolution such as '10s' (flag-aware means)",
    "aggregate": "flag of a resampled point: worst or majority",
    "valid_flags": "flags whose values are exported, e.g. [good, limited]",
    "name_template": "file names, e.g. 'IAGOS_timeseries_{flight}_{level}_{version}.nc4'",
    "retry": "{attempts, base} for uploads",
    "redeliveries": "how often a failed delivery is offered again (default 3)",
    "check_target": "settle an unconfirmed upload by looking at the target (default true)",
}
_NOOP = {"tasks", "sleep", "release", "log", "fail", "transient"}


def _known(options: Mapping[str, Any], known: Mapping[str, str] | set[str], kind: str) -> None:
    for key in options:
        if key not in known:
            hint = f"use one of {', '.join(sorted(known))}" if known else "they take none"
            raise ConfigError(f"{key}: unknown option of {kind!r} managers; {hint}")


def _check_import(options: Mapping[str, Any]) -> None:
    from stratoflow import plugins
    from stratoflow.processing.pipeline import PARAMS, STEPS
    from stratoflow.qc.evaluation import evaluation_names

    _known(options, _IMPORT, "import")
    reader = options.get("reader")
    if reader is not None and reader not in plugins.names("readers"):
        raise ConfigError(
            f"reader: no reader {reader!r}; installed: {', '.join(plugins.names('readers'))}"
        )
    if not isinstance(options.get("reader_options") or {}, Mapping):
        raise ConfigError("reader_options: must be a mapping")
    if options.get("level", "L0") not in _LEVELS:
        raise ConfigError(f"level: use one of {', '.join(_LEVELS)}, not {options['level']!r}")
    steps = options.get("processing") or []
    if not isinstance(steps, list):
        raise ConfigError("processing: must be a list of {step, params}")
    for i, spec in enumerate(steps):
        if not isinstance(spec, Mapping) or "step" not in spec:
            raise ConfigError(f"processing[{i}]: must be a mapping with 'step'")
        if spec["step"] not in STEPS:
            raise ConfigError(
                f"processing[{i}].step: unknown step {spec['step']!r}; known: "
                f"{', '.join(sorted(STEPS))}"
            )
        extra = sorted(map(str, set(spec) - {"step", "params"}))
        if extra:  # e.g. 'parms': the step would run with its defaults
            raise ConfigError(f"processing[{i}].{extra[0]}: unknown key; use step, params")
        params = spec.get("params") or {}
        if not isinstance(params, Mapping):
            raise ConfigError(f"processing[{i}].params: must be a mapping")
        known = PARAMS.get(spec["step"])
        unknown = sorted(map(str, set(params) - known)) if known is not None else []
        if unknown:
            raise ConfigError(
                f"processing[{i}].params.{unknown[0]}: unknown parameter of step "
                f"{spec['step']!r}; known: {', '.join(sorted(known or ()))}"
            )
    references = options.get("references") or {}
    if not isinstance(references, Mapping):
        raise ConfigError("references: must map names to {pattern, ...} or {path}")
    qc = options.get("qc", {})
    if qc is not False and not isinstance(qc, Mapping):
        raise ConfigError("qc: must be a mapping {config, evaluation} or false")
    if isinstance(qc, Mapping):
        unknown = sorted(set(qc) - {"config", "evaluation"})
        if unknown:
            raise ConfigError(f"qc.{unknown[0]}: unknown key; use config, evaluation")
        method = qc.get("evaluation")
        if method is not None and method not in evaluation_names():
            raise ConfigError(
                f"qc.evaluation: no evaluation method {method!r}; known: "
                f"{', '.join(evaluation_names())}"
            )


#: The older ``writer`` option (a writer plugin name) and the export format it means.
WRITER_FORMATS = {"netcdf": "netcdf", "nasa_ames": "nasa-ames", "icartt": "icartt", "csv": "csv"}


def _check_export(options: Mapping[str, Any]) -> None:
    from stratoflow.flags import Flag
    from stratoflow.transfer.retry import RetryPolicy

    _known(options, _EXPORT, "export")
    formats = ("netcdf", "iagos-netcdf", "nasa-ames", "icartt", "csv")
    if options.get("format") is not None and options["format"] not in formats:
        raise ConfigError(f"format: use one of {', '.join(formats)}, not {options['format']!r}")
    if options.get("writer") is not None:
        writer = options["writer"]
        if writer not in WRITER_FORMATS:
            raise ConfigError(
                f"writer: use one of {', '.join(WRITER_FORMATS)} (or 'format'), not {writer!r}"
            )
        fmt = options.get("format")
        same = fmt in (WRITER_FORMATS[writer], "iagos-netcdf" if writer == "netcdf" else None)
        if fmt is not None and not same:
            raise ConfigError(f"writer: {writer!r} writes {WRITER_FORMATS[writer]}, not {fmt}")
    if options.get("level", "L1") not in ("L1", "L2"):
        raise ConfigError(f"level: use L1 or L2, not {options['level']!r}")
    for label in options.get("valid_flags") or []:
        if str(label).upper() not in Flag.__members__:
            names = ", ".join(f.name.lower() for f in Flag)
            raise ConfigError(f"valid_flags: unknown flag {label!r}; use {names}")
    if options.get("aggregate", "worst") not in ("worst", "majority"):
        raise ConfigError(f"aggregate: use worst or majority, not {options['aggregate']!r}")
    if options.get("name_template") is not None:
        from stratoflow.exporters.naming import check_name_template

        fmt = options.get("format") or WRITER_FORMATS.get(str(options.get("writer", "netcdf")))
        check_name_template(options["name_template"], str(fmt), what="name_template")
    if not isinstance(options.get("check_target", True), bool):
        raise ConfigError(f"check_target: true or false, not {options['check_target']!r}")
    if options.get("retry"):
        try:
            RetryPolicy.from_config(options["retry"])
        except (StratoflowError, TypeError, ValueError) as exc:
            raise ConfigError(f"retry: {exc}") from None


def _check_metadata(options: Mapping[str, Any]) -> None:
    _known(options, set(), "metadata")


def _check_noop(options: Mapping[str, Any]) -> None:
    _known(options, _NOOP, "noop")


_CHECKS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "import": _check_import,
    "export": _check_export,
    "metadata": _check_metadata,
    "noop": _check_noop,
}


def check_manager_options(kind: str, options: Any) -> None:
    """Raise :class:`ConfigError` (message starts with the offending key) for bad options."""
    if not isinstance(options, Mapping):
        raise ConfigError(f"must be a mapping of options, not {type(options).__name__}")
    check = _CHECKS.get(kind)
    if check is not None:
        check(options)
