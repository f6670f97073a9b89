"""Platforms store the canonical key of their name, unique (see ``Platform.key``); the rows
are given their keys, and the rows of one platform spelt twice merged, by the next migration
(a migration of its own: on PostgreSQL, the index on the new column is built at the end of
the migration that adds it, which may not follow changes to the rows' references)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_flight_identity")]

    operations = [
        migrations.AddField(
            model_name="platform",
            name="key",
            field=models.TextField(
                editable=False, help_text="canonical key of the name", null=True, unique=True
            ),
        ),
    ]
