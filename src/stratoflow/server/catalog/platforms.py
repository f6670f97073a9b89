"""One platform spelt twice: merging its rows into one.

Before platform names had a canonical key (:func:`stratoflow.flights.platform_key`, stored in
``Platform.key``), each spelling a file gave made a platform row of its own: ``NASA B200
Aircraft`` from the ICARTT header, ``NASA B-200 Aircraft`` from the archive's netCDF. Their
flights, aircraft and review assignments are split between the rows. Merging moves all of it
onto one row (the one holding the key, else the oldest) and deletes the others, when that
loses nothing and decides nothing:

* every foreign key to the platform is re-pointed, found from the model's meta (hidden ones,
  such as a many-to-many table, included), so a model added later is not forgotten; a row is
  not merged when re-pointing would break a uniqueness rule of the referring model (an
  aircraft on both rows, a PI assigned to both);
* the rows' own fields (description, project) must agree where both are given; a field only
  one of them gives is kept.

The functions take the model class, so that migration ``catalog/0007_platform_merge`` runs them
on its historical models and :func:`platform_merge` (the admin action) on today's: they must
keep reading the schema from the meta, never naming fields of the referring models.
A GenericForeignKey to a platform (none exists) would not be found.

Example::

    >>> result = platform_merge(Platform.objects.get(name="NASA B-200 Aircraft"))
    >>> result.survivor.name, result.merged
    ('NASA B200 Aircraft', ['NASA B-200 Aircraft'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from django.db.models import Q

from stratoflow.errors import CatalogError
from stratoflow.flights import platform_key

__all__ = ["PlatformMerge", "platform_merge", "platform_rows_merge"]

#: Fields of the platform itself that are not compared: the name (one spelling stays, for
#: display) and its key.
OWN = ("name", "key")


def _references(model: Any) -> list[Any]:
    """The foreign keys (and one-to-one fields) of every model that point at ``model``."""
    return [
        rel.field
        for rel in model._meta.get_fields(include_hidden=True)
        if rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)
    ]


def _unique_rest(fk: Any) -> list[tuple[tuple[str, ...], bool] | None]:
    """The uniqueness rules of ``fk``'s model that include ``fk``: the other fields of each,
    and whether NULLs are distinct there; None for a rule on expressions naming ``fk``, which
    is not checked here (a row pointing at the platform is then not merged)."""
    meta = fk.model._meta
    rules: list[tuple[tuple[str, ...], bool] | None] = []
    if fk.unique:
        rules.append(((), True))
    for together in meta.unique_together:
        if fk.name in together:
            rules.append((tuple(n for n in together if n != fk.name), True))
    for constraint in meta.constraints:
        if not isinstance(constraint, models.UniqueConstraint):
            continue
        distinct = constraint.nulls_distinct is not False
        if fk.name in constraint.fields:  # a condition is ignored: checked as if always on
            rules.append((tuple(n for n in constraint.fields if n != fk.name), distinct))
        elif constraint.expressions and (
            fk.name in repr(constraint.expressions) or fk.attname in repr(constraint.expressions)
        ):
            rules.append(None)
    return rules


def _reference_conflicts(fk: Any, survivor: Any, other: Any) -> list[str]:
    """Why the rows of ``fk``'s model pointing at ``other`` cannot point at ``survivor``."""
    target = fk.target_field.attname
    manager = fk.model._base_manager
    mine = manager.filter(**{fk.attname: getattr(survivor, target)})
    theirs = manager.filter(**{fk.attname: getattr(other, target)})
    found = []
    for rule in _unique_rest(fk):
        what = f"{fk.model.__name__}.{fk.name}"
        if rule is None:
            if theirs.exists():
                found.append(f"{what}: a unique constraint on an expression (not checked)")
            continue
        rest, distinct = rule
        if not rest:
            if mine.exists() and theirs.exists():
                found.append(f"{what}: one row each, and at most one may point at a platform")
            continue
        held = set(mine.values_list(*rest))
        clash = [v for v in theirs.values_list(*rest) if v in held and not (distinct and None in v)]
        if clash:
            shown = ", ".join(str(v if len(v) > 1 else v[0]) for v in clash[:5])
            found.append(f"{what}: both rows have {'/'.join(rest)} {shown}")
    return found


def _own_conflicts(model: Any, survivor: Any, other: Any) -> tuple[list[str], dict[str, Any]]:
    """The platform fields the two rows give differently, and those only ``other`` gives."""
    conflicts, filled = [], {}
    for own in model._meta.concrete_fields:
        if own.primary_key or own.name in OWN:
            continue
        mine, theirs = getattr(survivor, own.attname), getattr(other, own.attname)
        if theirs in (None, "") or mine == theirs:
            continue
        if mine in (None, ""):
            filled[own.attname] = theirs
        else:
            conflicts.append(f"{own.name} differs ({mine!r} and {theirs!r})")
    return conflicts, filled


def platform_rows_merge(model: Any, survivor: Any, others: list[Any]) -> dict[Any, list[str]]:
    """Merge the platform rows ``others`` into ``survivor``, one at a time (oldest first),
    each only when nothing stands in the way (see the module's docstring); call inside a
    transaction. Returns the rows not merged, with the reasons, as ``{row: [reason, ...]}``.
    """
    left: dict[Any, list[str]] = {}
    references = _references(model)
    for other in sorted(others, key=lambda row: row.pk):
        conflicts, filled = _own_conflicts(model, survivor, other)
        for fk in references:
            conflicts += _reference_conflicts(fk, survivor, other)
        if conflicts:
            left[other] = conflicts
            continue
        for fk in references:
            target = fk.target_field.attname
            fk.model._base_manager.filter(**{fk.attname: getattr(other, target)}).update(
                **{fk.attname: getattr(survivor, target)}
            )
        model._base_manager.filter(pk=other.pk).delete()
        if filled:
            for attname, value in filled.items():
                setattr(survivor, attname, value)
            model._base_manager.filter(pk=survivor.pk).update(**filled)
    return left


@dataclass
class PlatformMerge:
    """What :func:`platform_merge` did: the row kept, the names merged into it, and the rows
    left (name -> reasons)."""

    survivor: Any
    merged: list[str] = field(default_factory=list)
    left: dict[str, list[str]] = field(default_factory=dict)


def platform_merge(platform: Any) -> PlatformMerge:
    """Merge the platforms spelt like ``platform`` (its name's key) into one: the row that
    holds the key, else the oldest. Rows that cannot be merged are left and reported in
    :attr:`PlatformMerge.left`; resolve what is named there (an aircraft or an assignment on
    both, a description given twice) and merge again.

    Raises :class:`~stratoflow.errors.CatalogError` for a name without a key.
    """
    from stratoflow.server.catalog.models import Platform

    key = platform_key(platform.name)
    if not key:
        raise CatalogError(f"platform {platform.name!r}: its name has no letters or digits")
    with transaction.atomic():
        rows = [
            row
            for row in Platform.objects.select_for_update()
            .filter(Q(key=key) | Q(key__isnull=True))
            .order_by("pk")
            if platform_key(row.name) == key
        ]
        if not rows:
            raise CatalogError(f"platform {platform.name!r} is no longer in the catalog")
        survivor = next((row for row in rows if row.key == key), rows[0])
        others = [row for row in rows if row.pk != survivor.pk]
        left = platform_rows_merge(Platform, survivor, others)
        survivor.refresh_from_db()
        if survivor.key is None:
            survivor.save(update_fields=["key"])
    return PlatformMerge(
        survivor,
        merged=[row.name for row in others if row not in left],
        left={row.name: reasons for row, reasons in left.items()},
    )
