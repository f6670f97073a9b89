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
