"""Per-variable QC configuration, in YAML, checked completely before anything runs.

A configuration maps *profile* names to the variables they match and the tests they run::

    evaluation:                 # optional: default method and its parameters
      method: worst
    common:                     # optional: tests run on every matched variable
      tests:
        - test: impossible_date
    O3:                         # a profile
      match:
        name: ["O3", "O3_*"]                              # fnmatch patterns on the name
        exclude: ["*_error"]                              # optional (default: *_flag, ...)
        standard_name: ["mole_fraction_of_ozone_in_air"]
      units: ["ppb", "nmol mol-1"]      # optional: limits are in these; others are converted
      tests:
        - test: gross_range                               # a registered test
          id: range                                       # optional label (default: test)
          critical: true                                  # for the "critical" evaluation
          weight: 1.0                                     # for the "mean" evaluation
          doubtful_max: 800
          bad_max: 1500

A variable gets the first profile (in file order) that matches it. Every problem is reported
with the path of the offending key: ``O3.tests[2].bad_max: must be a number``, and, for a
configuration written as YAML, the file or name, line and column (:func:`parse_config_text`).
The defaults shipped with stratoflow (``default_qc.yaml``) cover O3, CO, H2O, temperature,
pressure, altitude and position with IAGOS names and CF standard names.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from stratoflow.errors import ConfigError, PluginNotFound, QCConfigError
from stratoflow.plain_yaml import parse_yaml, read_text_file
from stratoflow.processing.units import to_pint
from stratoflow.qc.base import Param, QCTest, get_test
from stratoflow.qc.evaluation import get_evaluation

__all__ = [
    "DEFAULT_NAME",
    "Profile",
    "QCConfig",
    "TestSpec",
    "default_config",
    "default_text",
    "load_config",
    "parse_config",
    "parse_config_text",
]

RESERVED = ("evaluation", "common")
_TEST_KEYS = ("test", "id", "critical", "weight")
#: Names never matched unless a profile sets its own ``match.exclude``: companions of a
#: measurement (its flags, uncertainty, QC outputs), not measurements.
DEFAULT_EXCLUDE = ("*_flag", "*_error", "*_stddev", "*_uncertainty", "*_qc_*")


@dataclass(frozen=True)
class TestSpec:
    """One configured test: which test, with which (validated) parameters."""

    __test__ = False  # not a pytest test class, despite the name

    label: str
    test: QCTest
    params: Mapping[str, Any]
    critical: bool = True
    weight: float = 1.0


@dataclass(frozen=True)
class Profile:
    """A named set of tests and the variables it applies to."""

    name: str
    names: tuple[str, ...] = ()
    standard_names: tuple[str, ...] = ()
    units: tuple[str, ...] | None = None
    tests: tuple[TestSpec, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE

    def matches(self, name: str, attrs: Mapping[str, Any]) -> bool:
        """Whether the variable ``name`` with attributes ``attrs`` belongs to this profile.

        Name patterns ignore case: files spell the same variable ``Pressure``, ``PRESSURE`` or
        ``pressure``. Standard names are lower case by the CF rules and compared as they are.
        """
        lower = name.lower()
        if any(fnmatch.fnmatchcase(lower, pat.lower()) for pat in self.exclude):
            return False
        if any(fnmatch.fnmatchcase(lower, pat.lower()) for pat in self.names):
            return True
        std = str(attrs.get("standard_name", ""))
        return bool(std) and any(fnmatch.fnmatchcase(std, pat) for pat in self.standard_names)


@dataclass(frozen=True)
class QCConfig:
    """A validated QC configuration."""

    profiles: tuple[Profile, ...]
    common: tuple[TestSpec, ...] = ()
    evaluation: str = "worst"
    evaluation_params: Mapping[str, Any] = field(default_factory=dict)

    def profile_for(self, name: str, attrs: Mapping[str, Any]) -> Profile | None:
        """The first profile matching a variable, if any."""
        return next((p for p in self.profiles if p.matches(name, attrs)), None)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise QCConfigError(f"{where}: must be a mapping")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QCConfigError(f"{where}: must be a string or a list of strings")
    return tuple(value)


_WEIGHT = Param("weight", "number", minimum=0.0)


def _tests(value: Any, where: str) -> tuple[TestSpec, ...]:
    if not isinstance(value, list):
        raise QCConfigError(f"{where}: must be a list of tests")
    specs: list[TestSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(value):
        key = f"{where}[{i}]"
        entry = _mapping(raw, key)
        name = entry.get("test")
        if not isinstance(name, str):
            raise QCConfigError(f"{key}.test: must name a test")
        try:
            test = get_test(name)
        except PluginNotFound as exc:
            raise QCConfigError(f"{key}.test: {exc}") from exc
        label = entry.get("id", name)
        if not isinstance(label, str) or not label:
            raise QCConfigError(f"{key}.id: must be a non-empty string")
        if "/" in label:  # found only when a file with <var>_qc_<id> was written
            raise QCConfigError(f"{key}.id: must not contain '/' (it names <var>_qc_<id> in files)")
        if label in seen:
            raise QCConfigError(f"{key}.id: duplicate test id {label!r}; give each an 'id'")
        seen.add(label)
        critical = entry.get("critical", True)
        if not isinstance(critical, bool):
            raise QCConfigError(f"{key}.critical: must be true or false")
        # finite: a NaN weight (YAML .nan) turned every mean into NaN, all not_validated
        weight = _WEIGHT.check(entry.get("weight", 1.0), key)
        params = {k: v for k, v in entry.items() if k not in _TEST_KEYS}
        specs.append(TestSpec(label, test, test.check(params, key), critical, float(weight)))
    return tuple(specs)


def parse_config(data: Any) -> QCConfig:
    """Validate a configuration given as plain data (what ``yaml.safe_load`` returns)."""
    top = _mapping(data if data is not None else {}, "configuration")
    evaluation, eval_params = "worst", {}
    if "evaluation" in top:
        ev = dict(_mapping(top["evaluation"], "evaluation"))
        method = ev.pop("method", "worst")
        if not isinstance(method, str):
            raise QCConfigError("evaluation.method: must be a string")
        try:
            evaluation, eval_params = method, get_evaluation(method).check(ev, "evaluation")
        except PluginNotFound as exc:
            raise QCConfigError(f"evaluation.method: {exc}") from exc
    common: tuple[TestSpec, ...] = ()
    if "common" in top:
        c = _mapping(top["common"], "common")
        unknown = set(c) - {"tests"}
        if unknown:  # a typo (test: for tests:) ran no common test at all
            raise QCConfigError(f"common.{sorted(map(str, unknown))[0]}: unknown key (use tests)")
        common = _tests(c.get("tests", []), "common.tests")
    profiles = []
    for name, raw in top.items():
        if name in RESERVED:
            continue
        if not isinstance(name, str):
            raise QCConfigError(f"{name!r}: profile names must be strings")
        body = _mapping(raw, name)
        unknown = set(body) - {"match", "units", "tests"}
        if unknown:
            raise QCConfigError(
                f"{name}.{sorted(unknown)[0]}: unknown key (use match, units, tests)"
            )
        match = _mapping(body.get("match", {}), f"{name}.match")
        bad = set(match) - {"name", "standard_name", "exclude"}
        if bad:
            raise QCConfigError(
                f"{name}.match.{sorted(bad)[0]}: unknown key (name, standard_name, exclude)"
            )
        units = None if body.get("units") is None else _strings(body["units"], f"{name}.units")
        for i, unit in enumerate(units or ()):  # a typo left every matched variable unchecked
            try:
                to_pint(unit)
            except ConfigError as exc:
                raise QCConfigError(f"{name}.units[{i}]: {exc}") from exc
        tests = _tests(body.get("tests", []), f"{name}.tests")
        shared = {spec.label for spec in common}
        for i, spec in enumerate(tests):  # both run on the variable: one result hid the other
            if spec.label in shared:
                raise QCConfigError(
                    f"{name}.tests[{i}].id: {spec.label!r} is also the id of a common test; "
                    "give one of them another 'id'"
                )
        profiles.append(
            Profile(
                name=name,
                names=_strings(match.get("name", [name]), f"{name}.match.name"),
                standard_names=_strings(
                    match.get("standard_name", []), f"{name}.match.standard_name"
                ),
                units=units,
                tests=tests,
                exclude=_strings(
                    match.get("exclude", list(DEFAULT_EXCLUDE)), f"{name}.match.exclude"
                ),
            )
        )
    return QCConfig(tuple(profiles), common, evaluation, eval_params)


_SEGMENT = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _key_mark(text: str, path: str) -> yaml.Mark | None:
    """Where in ``text`` the deepest written key of ``path`` (``O3.tests[1].bad_max``) is."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return None
    mark = None
    for index, key in _SEGMENT.findall(path):
        if isinstance(node, yaml.MappingNode) and not index:
            found = next(((k, v) for k, v in node.value if str(k.value) == key), None)
            if found is None:
                break
            mark, node = found[0].start_mark, found[1]
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
            mark = node.start_mark
        else:
            break
    return mark


def parse_config_text(text: str, source: str) -> tuple[QCConfig, Any]:
    """A configuration written as YAML ``text``, validated, and its plain data.

    The one way from YAML text to a configuration, whether the text is a file
    (:func:`load_config`), typed in the admin or a review form, or the shipped defaults: every
    error is one line of :class:`QCConfigError` naming ``source``, the line and column, and
    the problem -- for a schema error the offending key too::

        qc.yaml: QC configuration: line 2, column 1: not valid YAML: did not find expected ...
        qc.yaml: QC configuration: line 8, column 7: O3.tests[1].bad_max: must be a number

    ``source`` says where the text came from (``"qc.yaml: QC configuration"``,
    ``"QC configuration 'tight-o3'"``).
    """
    data = parse_yaml(text, source, QCConfigError)
    try:
        return parse_config(data), data
    except QCConfigError as exc:
        message = str(exc)
        mark = _key_mark(text, message.split(":", 1)[0])
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise QCConfigError(f"{source}: {where}{message}") from exc


def load_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> QCConfig:
    """A configuration from a YAML file path or from plain data."""
    if isinstance(source, Mapping):
        return parse_config(source)
    what = "QC configuration"
    text = read_text_file(source, what, QCConfigError)
    return parse_config_text(text, f"{source}: {what}")[0]


def default_config() -> QCConfig:
    """The configuration shipped with stratoflow (``stratoflow/qc/default_qc.yaml``).

    The file is read and parsed once per process (it was most of the time of a QC run on a
    flight: 16 ms of 40); it is validated afresh on every call, so each caller gets its own
    parameter mappings.
    """
    return parse_config(_default_data())


#: How the shipped configuration is named in errors and QC run records.
DEFAULT_NAME = "default_qc.yaml"


def default_text() -> str:
    """The text of the shipped ``default_qc.yaml`` (the admin's starting point)."""
    return resources.files("stratoflow.qc").joinpath(DEFAULT_NAME).read_text("utf-8")


@functools.cache
def _default_data() -> Any:
    return parse_config_text(default_text(), f"{DEFAULT_NAME}: QC configuration")[1]


def as_config(config: QCConfig | str | os.PathLike[str] | Mapping[str, Any] | None) -> QCConfig:
    """Whatever the caller gave, as a validated :class:`QCConfig` (None: the defaults)."""
    if config is None:
        return default_config()
    if isinstance(config, QCConfig):
        return config
    return load_config(config)


def profile_names(config: QCConfig) -> Sequence[str]:
    """Names of the profiles, in matching order."""
    return [p.name for p in config.profiles]
