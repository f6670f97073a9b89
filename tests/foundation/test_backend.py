"""Which database backend the suite runs on (the PostgreSQL pass must really use PostgreSQL)."""

from __future__ import annotations

import os

import pytest
from django.db import connection


@pytest.mark.django_db
def test_database_backend_is_the_requested_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    if os.environ.get("STRATOFLOW_REQUIRE_POSTGRES") == "1":
        assert connection.vendor == "postgresql"
    elif not os.environ.get("STRATOFLOW_DATABASE_URL"):
        assert connection.vendor == "sqlite"


@pytest.mark.django_db(transaction=True)
def test_the_flush_between_transactional_tests_empties_every_table() -> None:
    """The test flush (PostgreSQL: DELETEs instead of one TRUNCATE, see conftest.py) leaves
    no row behind, also of rows that others reference (deferred foreign keys)."""
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from stratoflow.server.workflow.models import Job, TaskManager

    user = User.objects.create_user("flushed")
    job = Job.objects.create(name="flushed", responsible=user)
    TaskManager.objects.create(job=job, name="import", kind=TaskManager.Kind.IMPORT)
    # as TransactionTestCase flushes (the command alone would also reset the sequences)
    call_command("flush", verbosity=0, interactive=False, reset_sequences=False)
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with connection.cursor() as cursor:
        left = {}
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            left[table] = cursor.fetchone()[0]  # type: ignore[index]
    # the post_migrate signal of the flush recreates content types and permissions only
    assert {t for t, n in left.items() if n} <= {"django_content_type", "auth_permission"}, left
