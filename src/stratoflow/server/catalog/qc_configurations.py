"""Stored QC configurations: validate their YAML, keep every version, resolve them by name.

A :class:`~stratoflow.server.catalog.models.QCConfiguration` holds the YAML of
:mod:`stratoflow.qc.config` under a name that jobs use (``options: {qc: {config: tight-o3}}``).
Each save that changes the text adds an immutable
:class:`~stratoflow.server.catalog.models.QCConfigurationVersion`, so a PI can see what changed
and a QC run can record exactly which text it ran with (name, version, SHA-256).

What a ``config`` reference may be (:func:`qc_config_resolve`):

* ``None``: the stored configuration marked default, else the shipped ``default_qc.yaml``;
* ``"name"`` / ``"name@3"``: a stored configuration, its current or a pinned version;
* a path to a YAML file; a mapping (the YAML as plain data, e.g. from a job's options JSON).

Example::

    config = QCConfiguration(name="tight-o3", text=yaml_text)
    qc_configuration_save(config, user=request.user, comment="O3 limits of the new sensor")
    resolved = qc_config_resolve("tight-o3")   # .config (validated), .record (for the QC run)

Errors name the configuration, the line and column and the offending key, e.g.
``QC configuration 'tight-o3': line 27, column 9: O3.tests[1].bad_max: must be a number``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from stratoflow.errors import QCConfigError
from stratoflow.plain_yaml import read_text_file
from stratoflow.qc import QCConfig, parse_config, parse_config_text
from stratoflow.qc.config import DEFAULT_NAME, default_text
from stratoflow.server.catalog.models import (
    QC_CONFIGURATION_NAME,
    QCConfiguration,
    QCConfigurationVersion,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

__all__ = [
    "BUILTIN_NAME",
    "ResolvedQCConfig",
    "default_text",
    "is_stored_reference",
    "looks_like_name",
    "qc_config_resolve",
    "qc_configuration_diff",
    "qc_configuration_save",
    "qc_configuration_summary",
    "qc_source",
    "qc_text_checksum",
    "qc_text_parse",
]

#: How QC runs name the configuration shipped with stratoflow.
BUILTIN_NAME = DEFAULT_NAME


def qc_text_checksum(text: str) -> str:
    """SHA-256 (hex) of a configuration text: identifies a version across databases."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def qc_source(name: str | None) -> str:
    """How errors name a configuration text edited under ``name`` (in the admin)."""
    return f"QC configuration {name!r}" if name else "QC configuration"


@lru_cache(maxsize=64)
def _parse(text: str, source: str) -> tuple[QCConfig, str]:
    config, data = parse_config_text(text, source)
    # kept as JSON so that every caller gets its own copy of the plain data
    return config, json.dumps(data if data is not None else {})


def qc_text_parse(text: str, source: str = "QC configuration") -> tuple[QCConfig, dict[str, Any]]:
    """Validate a configuration text: the parsed configuration and its plain data.

    Raises :class:`~stratoflow.errors.QCConfigError` naming ``source`` (where the text came
    from: ``"QC configuration 'tight-o3'"``), the line and column, and the YAML problem or the
    offending key, as for a file (:func:`stratoflow.qc.parse_config_text`).
    """
    config, data = _parse(text, source)
    return config, json.loads(data)


@dataclass(frozen=True)
class ResolvedQCConfig:
    """A configuration reference made concrete.

    ``record`` says which configuration it is (``source``: stored, file, inline or builtin; name,
    version, checksum) and goes into each QC run; ``data`` is the configuration as plain data
    (None for the shipped defaults, which the review code falls back to).
    """

    config: QCConfig
    record: dict[str, Any]
    data: dict[str, Any] | None


def _stored(name: str, configuration: QCConfiguration, pin: int | None) -> ResolvedQCConfig:
    versions = configuration.versions.all()
    row = (
        versions.filter(version=pin).first()
        if pin is not None
        else versions.order_by("-version").first()
    )
    if pin is not None and row is None:
        known = sorted(versions.values_list("version", flat=True))
        raise QCConfigError(
            f"QC configuration {name!r} has no version {pin} (versions: {known or 'none'})"
        )
    text = row.text if row is not None else configuration.text
    config, data = qc_text_parse(text, f"stored {qc_source(name)}")
    record = {
        "source": "stored",
        "name": configuration.name,
        "version": row.version if row is not None else configuration.version,
        "version_id": row.pk if row is not None else None,
        "checksum": qc_text_checksum(text),
    }
    return ResolvedQCConfig(config, record, data)


def _from_file(path: Path) -> ResolvedQCConfig:
    what = "QC configuration"
    text = read_text_file(path, what, QCConfigError)  # a binary file too: one line naming it
    config, data = qc_text_parse(text, f"{path}: {what}")
    record = {"source": "file", "path": str(path.resolve()), "checksum": qc_text_checksum(text)}
    return ResolvedQCConfig(config, record, data)


def qc_config_resolve(
    config: Mapping[str, Any] | str | os.PathLike[str] | None,
) -> ResolvedQCConfig:
    """Turn a configuration reference into a validated configuration and its record.

    A string is first looked up as a stored configuration (``name`` or ``name@version``), then
    as a YAML file; when it is neither, the error lists the stored names.
    """
    if config is None:
        default = QCConfiguration.objects.filter(is_default=True).first()
        if default is not None:
            return _stored(default.name, default, None)
        text = default_text()
        parsed, _ = qc_text_parse(text, f"{BUILTIN_NAME}: QC configuration")
        record = {"source": "builtin", "name": BUILTIN_NAME, "checksum": qc_text_checksum(text)}
        return ResolvedQCConfig(parsed, record, None)
    if isinstance(config, Mapping):
        data = json.loads(json.dumps(dict(config), default=str))
        checksum = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        parsed = parse_config(data)
        return ResolvedQCConfig(parsed, {"source": "inline", "checksum": checksum}, data)
    if isinstance(config, str):
        name, at, pin = config.partition("@")
        if not at or pin.isdigit():
            stored = QCConfiguration.objects.filter(name=name).first()
            if stored is not None:
                return _stored(name, stored, int(pin) if pin else None)
    path = Path(config)
    if path.is_file():
        return _from_file(path)
    names = list(QCConfiguration.objects.order_by("name").values_list("name", flat=True)[:20])
    raise QCConfigError(
        f"QC configuration {str(config)!r} is neither a stored QC configuration "
        f"(stored: {', '.join(names) if names else 'none'}; add one in the admin under "
        "Catalog > QC configurations) nor an existing YAML file"
    )


def is_stored_reference(value: str) -> bool:
    """Whether ``value`` names an existing stored configuration (``name`` or ``name@N``)."""
    name, at, pin = value.partition("@")
    if at and not pin.isdigit():
        return False
    if pin:
        return QCConfigurationVersion.objects.filter(
            configuration__name=name, version=int(pin)
        ).exists()
    return QCConfiguration.objects.filter(name=name).exists()


def looks_like_name(value: str) -> bool:
    """Whether ``value`` is shaped like a stored name (else it is taken for a file path)."""
    name = value.partition("@")[0]
    try:
        QC_CONFIGURATION_NAME(name)
    except ValidationError:
        return False
    return not name.endswith((".yaml", ".yml"))


def qc_configuration_save(
    configuration: QCConfiguration,
    *,
    user: User | AnonymousUser | None,
    comment: str = "",
) -> QCConfigurationVersion | None:
    """Validate and save ``configuration``; a new or changed text becomes a new version.

    Returns the new version (None when only the name, description or default mark changed).
    Marking it default removes the mark from the previous default. Raises
    :class:`~stratoflow.errors.QCConfigError` for an invalid text or name.
    """
    try:
        configuration.full_clean()
    except ValidationError as exc:
        source = qc_source(configuration.name)
        problems = "; ".join(
            # the text's errors name the configuration already (QCConfiguration.clean)
            " ".join(v) if field == "text" else f"{source}: {field}: {' '.join(v)}"
            for field, v in exc.message_dict.items()
        )
        raise QCConfigError(problems) from exc
    checksum = qc_text_checksum(configuration.text)
    who = user if isinstance(user, get_user_model()) else None
    with transaction.atomic():
        current = (
            QCConfiguration.objects.select_for_update()
            .filter(pk=configuration.pk)
            .values_list("checksum", "version")
            .first()
            if configuration.pk is not None
            else None
        )
        old_checksum, old_version = current if current is not None else ("", 0)
        changed = checksum != old_checksum
        if changed:
            configuration.version = old_version + 1
            configuration.checksum = checksum
        configuration.updated_by = who
        if configuration.is_default:
            QCConfiguration.objects.filter(is_default=True).exclude(pk=configuration.pk).update(
                is_default=False
            )
        configuration.save()
        if not changed:
            return None
        return QCConfigurationVersion.objects.create(
            configuration=configuration,
            name=configuration.name,
            version=configuration.version,
            text=configuration.text,
            checksum=checksum,
            created_by=who,
            comment=comment[:300],
        )


def qc_configuration_diff(version: QCConfigurationVersion) -> str:
    """Unified diff of ``version`` against the previous version of its configuration."""
    previous = (
        QCConfigurationVersion.objects.filter(
            configuration=version.configuration, version__lt=version.version
        )
        .order_by("-version")
        .first()
        if version.configuration_id is not None
        else None
    )
    before = previous.text if previous is not None else ""
    label = f"{previous.name} v{previous.version}" if previous is not None else "(nothing)"
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            version.text.splitlines(keepends=True),
            fromfile=label,
            tofile=f"{version.name} v{version.version}",
        )
    )


def qc_configuration_summary(config: QCConfig) -> list[dict[str, Any]]:
    """One row per profile (``common`` first): what it matches and which tests it runs."""

    def tests(specs: Any) -> list[str]:
        return [
            f"{s.label}{'' if s.label == s.test.name else f' ({s.test.name})'}"
            f"{'' if s.critical else ', non-critical'}"
            f"{'' if s.weight == 1.0 else f', weight {s.weight:g}'}"
            for s in specs
        ]

    rows: list[dict[str, Any]] = []
    if config.common:
        rows.append(
            {"profile": "common", "matches": "every matched variable", "units": "", "tests": []}
        )
        rows[0]["tests"] = tests(config.common)
    for p in config.profiles:
        matches = ", ".join(p.names)
        if p.standard_names:
            matches += f"; standard_name {', '.join(p.standard_names)}"
        rows.append(
            {
                "profile": p.name,
                "matches": matches,
                "units": ", ".join(p.units) if p.units is not None else "any",
                "tests": tests(p.tests),
            }
        )
    return rows
