"""Platform rows of one platform spelt twice are merged; every platform gets its key.

Platforms were created under each spelling a file gave (``NASA B200 Aircraft``, ``NASA B-200
Aircraft``) before :func:`stratoflow.flights.platform_key` made them one platform, and
lookups then took the exact name first, the oldest row of the key else: the flights, aircraft
and review assignments of one platform stayed split between rows. The key is now a column
with a unique index (migration 0006: two imports at once cannot both create a spelling of
one platform), and this migration merges the rows sharing a key into the oldest one, when
nothing is lost or decided by it (see :mod:`stratoflow.server.catalog.platforms`: every foreign key to
a platform is re-pointed, none may break a uniqueness rule, and the rows' own fields agree).

A row that cannot be merged is left as it is, without a key (found by its exact name, and by
:func:`~stratoflow.server.catalog.services.platforms_named` under any spelling), and logged
(``stratoflow.migrations``) with the reasons and what to do: resolve them, then merge with the
platform admin's action "Merge into the platform of the same key".

Reversing this migration changes nothing (merged rows stay merged; the column goes with 0006).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from django.db import migrations

from stratoflow.flights import platform_key
from stratoflow.server.catalog.platforms import platform_rows_merge

logger = logging.getLogger("stratoflow.migrations")


def forward(apps: Any, schema_editor: Any) -> None:
    platform_model = apps.get_model("catalog", "Platform")
    groups: dict[str, list[Any]] = defaultdict(list)
    for row in platform_model.objects.order_by("pk"):
        key = platform_key(row.name)
        if key:
            groups[key].append(row)
    for key, rows in groups.items():
        survivor, others = rows[0], rows[1:]
        left = platform_rows_merge(platform_model, survivor, others)
        for row, reasons in left.items():
            logger.warning(
                "platform #%s %r not merged into #%s %r (one platform, key %r): %s; resolve "
                "this, then merge them with the action 'Merge into the platform of the same "
                "key' of the platform list in the admin",
                row.pk,
                row.name,
                survivor.pk,
                survivor.name,
                key,
                "; ".join(reasons),
            )
        merged = [row.name for row in others if row not in left]
        if merged:
            logger.info("platforms %s merged into #%s %r", merged, survivor.pk, survivor.name)
        platform_model.objects.filter(pk=survivor.pk).update(key=key)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_platform_key"),
        # the rows that refer to a platform are found from the models' meta; these are the
        # apps whose models do today (review assignments)
        ("review", "0005_decision_withdraw"),
    ]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
