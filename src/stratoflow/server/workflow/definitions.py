"""Job definitions in YAML files under version control: ``stratoflow job load FILE``.

Loading is idempotent (the same file twice changes nothing) and a changed file updates the
jobs it names. A manager's tasks are its history (what it imported or exported, which later
runs rely on to not do it again, and re-processing uses), so a manager is never dropped with
them by accident: ``renamed_from: <old name>`` renames a manager, keeping its tasks; a
manager no longer listed is removed only if it has no tasks, or with ``prune`` (``job load
--prune``), else the load is refused saying what would be deleted. Errors point at the offending key
(``jobs[0].managers[1].kind: unknown kind 'imprt'``). Secrets appear only by reference:
an auth option whose name says it is secret must be ``env:NAME`` or ``file:/path``.

Example::

    qc_configurations:             # stored and versioned; the file beside this one
      - {name: iagos-standard, file: qc-iagos-standard.yaml}
    providers:
      - {name: iagos-portal, concurrency: 2}
    transfers:
      - name: portal
        provider: iagos-portal
        type: http
        options: {base_url: "https://portal.example.org/api/", list_path: files}
        auth: bearer
        auth_options: {token: "env:PORTAL_TOKEN"}
    jobs:
      - name: import-flights
        responsible: pi
        schedule: {frequency: daily, start: "2026-03-26T02:30", timezone: Europe/Berlin}
        catch_up: {policy: all, cap: 5}
        depends_on: []
        managers:
          - {name: import, kind: import, transfer: portal, concurrency: 4, options: {}}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from stratoflow.errors import ConfigError, StratoflowError
from stratoflow.jobs.catchup import POLICIES
from stratoflow.jobs.graph import find_cycle
from stratoflow.jobs.schedule import Schedule
from stratoflow.plain_yaml import read_yaml_file
from stratoflow.server.workflow import managers
from stratoflow.server.workflow.models import DataProvider, Job, TaskManager, TransferHandler
from stratoflow.server.workflow.services import job_enabled_at

__all__ = [
    "LoadReport",
    "check_secret_refs",
    "dependencies_set",
    "dependency_cycle",
    "jobs_load",
]

_SECRET_WORDS = ("password", "passphrase", "secret", "token", "key", "credential")
_TOP = {"qc_configurations", "providers", "transfers", "jobs"}
_QC_CONFIGURATION = {"name", "file", "description", "default"}
_PROVIDER = {"name", "description", "contact", "url", "licence", "concurrency"}
_TRANSFER = {"name", "provider", "type", "options", "auth", "auth_options"}
_JOB = {
    "name",
    "description",
    "responsible",
    "enabled",
    "schedule",
    "catch_up",
    "depends_on",
    "order",
    "managers",
}
_MANAGER = {
    "name",
    "kind",
    "order",
    "transfer",
    "concurrency",
    "max_attempts",
    "retry_delay",
    "timeout",
    "options",
    "renamed_from",
}


@dataclass
class LoadReport:
    """What a load changed: ``created``/``updated``/``unchanged``/``removed`` object names."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


class _Where:
    """Builds error messages that name the key path."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __truediv__(self, key: str | int) -> _Where:
        if isinstance(key, int):
            return _Where(f"{self.path}[{key}]")
        return _Where(f"{self.path}.{key}" if self.path else key)

    def __str__(self) -> str:
        return self.path

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {message}")


def _mapping(value: object, where: _Where, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise where.error(f"expected a mapping, not {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise (where / str(unknown[0])).error(
            f"unknown key; use one of {', '.join(sorted(allowed))}"
        )
    return value


def _list(value: object, where: _Where) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.error(f"expected a list, not {type(value).__name__}")
    return value


def _str(data: Mapping[str, Any], key: str, where: _Where, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or (default is None and not value):
        raise (where / key).error(f"expected a non-empty string, not {value!r}")
    return value


def _text(data: Mapping[str, Any], key: str, where: _Where) -> str:
    """An optional free text (description, contact): missing or null is empty."""
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise (where / key).error(f"expected a string, not {value!r}")
    return value


def _bool(data: Mapping[str, Any], key: str, where: _Where, default: bool) -> bool:
    """A yes/no setting: YAML's true/false only, so ``enabled: 'no'`` is not taken as true."""
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise (where / key).error(f"expected true or false, not {value!r}")
    return value


def _options(data: Mapping[str, Any], key: str, where: _Where) -> dict[str, Any]:
    """An optional mapping of plugin options (missing or null: none)."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise (where / key).error(f"expected a mapping, not {type(value).__name__}")
    return dict(value)


def _check_finite(value: object, where: _Where) -> None:
    """Refuse ``.nan`` and ``.inf`` anywhere in options: JSON has no such numbers, so the
    database refused the row with an IntegrityError traceback, far from the YAML line."""
    if isinstance(value, float) and not math.isfinite(value):
        shown = ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
        raise where.error(f"{shown} is not a number an option can have: give a finite number")
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_finite(v, where / str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_finite(v, where / i)


def _unique(items: list[Any], where: _Where) -> None:
    """Two entries of one section with the same name would silently overwrite each other."""
    seen: dict[object, int] = {}
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, Mapping) else None
        if name is None:
            continue
        if name in seen:
            raise (where / i / "name").error(f"{name!r} is defined twice (also at [{seen[name]}])")
        seen[name] = i


def _int(data: Mapping[str, Any], key: str, where: _Where, default: int, low: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise (where / key).error(f"expected an integer >= {low}, not {value!r}")
    return value


def _looks_secret(key: str) -> bool:
    """Whether an option name says it holds a secret (``password``, ``api_key``...).

    Names of *where* a secret goes (``token_url``, ``token_param``, ``key_field``) are not
    secrets themselves.
    """
    name = key.lower()
    if name.endswith(("_url", "_uri", "_param", "_field", "_header", "_format", "_path")):
        return False
    return any(word in name for word in _SECRET_WORDS)


def check_secret_refs(
    options: Mapping[str, Any], where: str, *, secret_keys: tuple[str, ...] | None = None
) -> None:
    """Reject inline secrets: secret options must be ``env:``/``file:`` references.

    ``secret_keys`` are the options known to be secrets (an auth plugin declares its own);
    without it, option names decide (:func:`_looks_secret`), nested mappings included.
    """
    for key, value in options.items():
        if isinstance(value, Mapping):
            check_secret_refs(value, f"{where}.{key}")
            continue
        secret = str(key) in secret_keys if secret_keys is not None else _looks_secret(str(key))
        if not secret or value is None:
            continue
        if not isinstance(value, str) or not value.startswith(("env:", "file:")):
            # Never echo the value: it may be the pasted secret.
            raise ConfigError(
                f"{where}.{key}: secrets only by reference ('env:NAME' or 'file:/path'), "
                "not an inline value"
            )


def dependency_cycle(name: str, depends_on: list[str]) -> list[str] | None:
    """The cycle that giving job ``name`` these dependencies would close, starting at it."""
    edges: dict[str, list[str]] = {}
    for job, dep in Job.depends_on.through.objects.values_list("from_job__name", "to_job__name"):
        edges.setdefault(job, []).append(dep)
    edges[name] = list(depends_on)
    cycle = find_cycle(edges)
    if cycle is not None and name in cycle:
        loop = cycle[:-1]
        at = loop.index(name)
        cycle = [*loop[at:], *loop[:at], name]
    return cycle


def dependencies_set(job: Job, depends_on: list[Job]) -> None:
    """Set the jobs ``job`` depends on; a cycle is rejected (ConfigError naming it)."""
    cycle = dependency_cycle(job.name, [dep.name for dep in depends_on])
    if cycle is not None:
        raise ConfigError(f"job {job.name!r}: dependency cycle {' -> '.join(cycle)}")
    job.depends_on.set(depends_on)


def _record(report: LoadReport, name: str, created: bool, changed: bool) -> None:
    (report.created if created else report.updated if changed else report.unchanged).append(name)


def _save(
    obj: Any, values: Mapping[str, Any], where: _Where, keys: Mapping[str, str] | None = None
) -> tuple[bool, bool]:
    """Set ``values`` on ``obj``; validate; save if new or changed. Returns (created, changed).

    ``keys`` maps model fields to the YAML keys they come from, for errors naming a field.
    """
    created = obj.pk is None
    changed = created or any(getattr(obj, k) != v for k, v in values.items())
    for k, v in values.items():
        setattr(obj, k, v)
    try:
        obj.full_clean(validate_unique=False)
    except ValidationError as exc:
        key, messages = next(iter(exc.message_dict.items()))
        raise (where / (keys or {}).get(key, key)).error("; ".join(messages)) from None
    for key, value in values.items():  # after the plugins' own checks, which say more
        if isinstance(value, Mapping | list):
            _check_finite(value, where / key)
    if changed:
        obj.save()
    return created, changed


def _auth_secrets(spec: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The secret options the named auth plugin declares (None: unknown plugin, guess)."""
    from stratoflow import plugins

    try:
        cls = plugins.load("auth", str(spec.get("auth") or "none"))
    except StratoflowError:
        return None
    declared = getattr(cls, "secret_options", None)
    return tuple(declared) if declared is not None else None


def jobs_load(path: Path, *, prune: bool = False) -> LoadReport:
    """Create or update providers, transfers and jobs from the YAML file at ``path``.

    ``prune`` allows removing managers no longer listed that have task history (deleting
    their tasks); without it such a load is refused, all or nothing.
    """
    data = read_yaml_file(path, "job definitions")  # binary or broken: one line naming it
    try:
        with transaction.atomic():
            return _load(data or {}, prune=prune, base=path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _load(data: object, *, prune: bool = False, base: Path | None = None) -> LoadReport:
    root = _mapping(data, _Where(""), _TOP) if data else {}
    report = LoadReport()
    for section in ("qc_configurations", "providers", "transfers", "jobs"):
        _unique(_list(root.get(section), _Where(section)), _Where(section))
    # first: the jobs below may name them
    for i, item in enumerate(_list(root.get("qc_configurations"), _Where("qc_configurations"))):
        _load_qc_configuration(item, _Where("qc_configurations") / i, report, base or Path())
    for i, item in enumerate(_list(root.get("providers"), _Where("providers"))):
        where = _Where("providers") / i
        spec = _mapping(item, where, _PROVIDER)
        name = _str(spec, "name", where)
        obj = DataProvider.objects.filter(name=name).first() or DataProvider(name=name)
        values: dict[str, Any] = {
            k: _text(spec, k, where) for k in ("description", "contact", "url", "licence")
        }
        values["concurrency"] = _int(spec, "concurrency", where, 0, 0)
        _record(report, f"provider {name}", *_save(obj, values, where))
    for i, item in enumerate(_list(root.get("transfers"), _Where("transfers"))):
        where = _Where("transfers") / i
        spec = _mapping(item, where, _TRANSFER)
        name = _str(spec, "name", where)
        provider_name = _str(spec, "provider", where)
        provider = DataProvider.objects.filter(name=provider_name).first()
        if provider is None:
            raise (where / "provider").error(f"no data provider named {provider_name!r}")
        auth_options = _options(spec, "auth_options", where)
        check_secret_refs(
            auth_options, str(where / "auth_options"), secret_keys=_auth_secrets(spec)
        )
        row = TransferHandler.objects.filter(name=name).first() or TransferHandler(name=name)
        values = {
            "provider": provider,
            "transfer_type": _str(spec, "type", where),
            "transfer_options": _options(spec, "options", where),
            "auth": _str(spec, "auth", where, "none"),
            "auth_options": auth_options,
        }
        yaml_keys = {"transfer_type": "type", "transfer_options": "options"}
        _record(report, f"transfer {name}", *_save(row, values, where, yaml_keys))
    deps: list[tuple[Job, list[str], _Where]] = []
    for i, item in enumerate(_list(root.get("jobs"), _Where("jobs"))):
        where = _Where("jobs") / i
        job, names = _load_job(item, where, report, prune)
        deps.append((job, names, where / "depends_on"))
    for job, names, where in deps:
        found = {j.name: j for j in Job.objects.filter(name__in=names)}
        missing = [n for n in names if n not in found]
        if missing:
            raise where.error(f"no job named {missing[0]!r}")
        before = sorted(job.depends_on.values_list("name", flat=True))
        try:
            dependencies_set(job, [found[n] for n in names])
        except ConfigError as exc:
            raise where.error(str(exc)) from None
        if before != sorted(names) and f"job {job.name}" in report.unchanged:
            report.unchanged.remove(f"job {job.name}")
            report.updated.append(f"job {job.name}")
    return report


def _load_qc_configuration(item: object, where: _Where, report: LoadReport, base: Path) -> None:
    """A stored QC configuration from a YAML file beside the definitions (path relative to
    them), saved as a new version only when its text changed, as the admin does; the file
    is the one to edit, and every QC run still records the version it ran with."""
    from stratoflow.errors import QCConfigError
    from stratoflow.plain_yaml import read_text_file
    from stratoflow.server.catalog.models import QCConfiguration
    from stratoflow.server.catalog.qc_configurations import qc_configuration_save

    spec = _mapping(item, where, _QC_CONFIGURATION)
    name = _str(spec, "name", where)
    path = base / _str(spec, "file", where)
    try:
        text = read_text_file(path, "QC configuration", QCConfigError)
    except QCConfigError as exc:
        raise (where / "file").error(str(exc)) from None
    obj = QCConfiguration.objects.filter(name=name).first() or QCConfiguration(name=name)
    values = {
        "text": text,
        "description": _text(spec, "description", where),
        "is_default": _bool(spec, "default", where, False),
    }
    created = obj.pk is None
    changed = created or any(getattr(obj, k) != v for k, v in values.items())
    if changed:
        for key, value in values.items():
            setattr(obj, key, value)
        try:
            qc_configuration_save(obj, user=None, comment=f"loaded from {path.name}")
        except QCConfigError as exc:
            raise (where / "file").error(str(exc)) from None
    _record(report, f"QC configuration {name}", created, changed)


def _load_job(
    item: object, where: _Where, report: LoadReport, prune: bool
) -> tuple[Job, list[str]]:
    spec = _mapping(item, where, _JOB)
    name = _str(spec, "name", where)
    schedule_spec = spec.get("schedule")
    values: dict[str, Any] = {
        "description": _text(spec, "description", where),
        "enabled": _bool(spec, "enabled", where, True),
        "order": _int(spec, "order", where, 0, -(10**9)),
        "frequency": Job.Frequency.ONCE,
        "interval": 1,
        "start": None,
        "timezone": "UTC",
        "end": None,
    }
    if schedule_spec is not None:
        if not isinstance(schedule_spec, Mapping):
            raise (where / "schedule").error("expected a mapping")
        try:
            schedule = Schedule.from_dict(schedule_spec)
        except StratoflowError as exc:
            raise (where / "schedule").error(str(exc)) from None
        values.update(
            frequency=schedule.frequency,
            interval=schedule.interval,
            start=schedule.start,
            timezone=schedule.timezone,
            end=schedule.end,
        )
    catch_up = _mapping(spec.get("catch_up") or {}, where / "catch_up", {"policy", "cap"})
    policy = catch_up.get("policy", "latest")
    if policy not in POLICIES:
        raise (where / "catch_up" / "policy").error(f"use one of {', '.join(POLICIES)}")
    values["catch_up"] = policy
    values["catch_up_cap"] = _int(catch_up, "cap", where / "catch_up", 24, 1)
    responsible = spec.get("responsible")
    values["responsible"] = None
    if responsible is not None:
        user = get_user_model().objects.filter(username=responsible).first()
        if user is None:
            raise (where / "responsible").error(f"no user named {responsible!r}")
        values["responsible"] = user
    job = Job.objects.filter(name=name).first() or Job(name=name)
    values["enabled_at"] = job_enabled_at(job, values["enabled"])  # switched back on: when
    created, changed = _save(job, values, where)
    names: list[str] = []
    for k, dep in enumerate(_list(spec.get("depends_on"), where / "depends_on")):
        if not isinstance(dep, str):
            raise (where / "depends_on" / k).error("expected a job name")
        names.append(dep)
    keep: set[str] = set()
    items = _list(spec.get("managers"), where / "managers")
    listed = {m.get("name") for m in items if isinstance(m, Mapping)}
    for k, mitem in enumerate(items):
        mwhere = where / "managers" / k
        mchanged = _load_manager(job, mitem, mwhere, k, keep, listed)
        changed = changed or mchanged
    stale = list(job.managers.exclude(name__in=keep).order_by("order", "id")) if job.pk else []
    history = {m.pk: _history(m) for m in stale}
    kept = [m for m in stale if history[m.pk]]
    if kept and not prune:
        raise (where / "managers").error(
            "; ".join(
                f"manager {m.name!r} is no longer listed but has {history[m.pk]}" for m in kept
            )
            + ". Removing it would delete that history. If it was renamed, give the new "
            "manager 'renamed_from: <old name>' to keep its tasks; to delete the manager and "
            "its tasks, load with --prune"
        )
    for manager in stale:
        what = f"manager {job.name}/{manager.name}"
        report.removed.append(f"{what} ({history[manager.pk]})" if history[manager.pk] else what)
        manager.delete()
        changed = True
    _record(report, f"job {name}", created, changed)
    return job, names


def _history(manager: TaskManager) -> str:
    """``3 task(s) in 2 run(s), the last created 2026-03-01T02:30:00+00:00``; "" for none."""
    tasks = manager.tasks.all()
    count = tasks.count()
    if not count:
        return ""
    runs = tasks.exclude(run=None).values("run").distinct().count()
    last = tasks.order_by("-created_at").values_list("created_at", flat=True).first()
    when = f", the last created {last.isoformat()}" if last else ""
    return f"{count} task(s) in {runs} run(s){when}"


def _load_manager(
    job: Job, item: object, where: _Where, index: int, keep: set[str], listed: set[Any]
) -> bool:
    spec = _mapping(item, where, _MANAGER)
    name = _str(spec, "name", where)
    if name in keep:
        raise (where / "name").error(f"manager {name!r} is listed twice")
    keep.add(name)
    renamed_from = _text(spec, "renamed_from", where) or None
    if renamed_from is not None and renamed_from in listed:
        raise (where / "renamed_from").error(
            f"manager {renamed_from!r} is listed too; a manager renamed from it cannot be"
        )
    kind = _str(spec, "kind", where)
    if kind not in managers.known():
        raise (where / "kind").error(f"unknown kind {kind!r}; known: {', '.join(managers.known())}")
    transfer = None
    if spec.get("transfer") is not None:
        transfer_name = _str(spec, "transfer", where)
        transfer = TransferHandler.objects.filter(name=transfer_name).first()
        if transfer is None:
            raise (where / "transfer").error(f"no transfer named {transfer_name!r}")
    retry_delay = spec.get("retry_delay", 30.0)
    if (
        isinstance(retry_delay, bool)
        or not isinstance(retry_delay, int | float)
        or not 0 <= retry_delay < math.inf  # also refuses .nan
    ):
        raise (where / "retry_delay").error(f"expected finite seconds >= 0, not {retry_delay!r}")
    options = _options(spec, "options", where)
    check_secret_refs(options, str(where / "options"))
    values = {
        "kind": kind,
        "order": _int(spec, "order", where, index, -(10**9)),
        "transfer": transfer,
        "concurrency": _int(spec, "concurrency", where, 4, 0),
        "max_attempts": _int(spec, "max_attempts", where, 3, 1),
        "retry_delay": float(retry_delay),
        # seconds a task may run before it is abandoned (retried, then failed as timed out)
        "timeout": _int(spec, "timeout", where, 3600, 1),
        "options": dict(options),
    }
    obj = TaskManager.objects.filter(job=job, name=name).first() if job.pk else None
    old = (
        TaskManager.objects.filter(job=job, name=renamed_from).first()
        if renamed_from is not None and job.pk
        else None
    )
    if obj is not None and old is not None:
        raise (where / "renamed_from").error(
            f"job {job.name!r} has both a manager {name!r} and {renamed_from!r}; rename "
            f"or remove one of them first (in the admin), or drop 'renamed_from'"
        )
    if obj is None and old is not None:
        obj, values["name"] = old, name  # the same row, so its tasks stay with it
    if obj is None:
        obj = TaskManager(job=job, name=name)
    created, changed = _save(obj, values, where)
    return created or changed
