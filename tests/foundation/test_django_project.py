"""The Django project: migrations committed, every model in the admin, admin pages render."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

OUR_APPS = ("catalog", "workflow", "review")


@pytest.mark.django_db
def test_migrations_are_committed() -> None:
    # exits non-zero (SystemExit) when a model change has no migration
    call_command("makemigrations", *OUR_APPS, "--check", "--dry-run", verbosity=0)


def test_every_model_is_in_the_admin() -> None:
    missing = [
        f"{m._meta.app_label}.{m.__name__}"
        for label in OUR_APPS
        for m in apps.get_app_config(label).get_models()
        if not admin.site.is_registered(m)
    ]
    assert missing == []


@pytest.mark.django_db
def test_admin_changelists_render(admin_client: Client) -> None:
    for label in OUR_APPS:
        for model in apps.get_app_config(label).get_models():
            url = reverse(f"admin:{label}_{model._meta.model_name}_changelist")
            response = admin_client.get(url)
            assert response.status_code == 200, url
    assert admin_client.get("/").status_code == 200


@pytest.mark.django_db
def test_dashboard_requires_login(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_plugin_page_lists_readers_with_descriptions(admin_client: Client, client: Client) -> None:
    from stratoflow.readers import get_reader

    response = admin_client.get("/admin/plugins/")
    assert response.status_code == 200
    page = response.content.decode()
    for name in ("iagos_netcdf", "nasa_ames", "icartt", "delimited", "netcdf", "local", "worst"):
        assert f"<code>{name}</code>" in page
    assert escape(get_reader("nasa_ames").description) in page
    assert "cannot be loaded" not in page
    assert client.get("/admin/plugins/").status_code == 302  # not for anonymous users


@pytest.mark.django_db(transaction=True)
def test_sqlite_write_after_read_waits_for_another_writer() -> None:
    """A transaction that reads and then writes waits for a concurrent writer instead of
    failing at once with "database is locked" (a deferred SQLite transaction cannot wait)."""
    import sqlite3
    import threading

    from django.contrib.auth.models import User
    from django.db import connection, transaction

    if connection.vendor != "sqlite":
        pytest.skip("SQLite locking (the PostgreSQL pass uses row locks)")
    User.objects.create(username="pi")
    name = connection.settings_dict["NAME"]
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:  # another process writing: an import, the scheduler, a second user
        other = sqlite3.connect(name, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        holding.set()
        release.wait(10)
        other.execute("ROLLBACK")
        other.close()

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(10)
    threading.Timer(0.3, release.set).start()
    try:
        with transaction.atomic():
            user = User.objects.get(username="pi")  # read first ...
            user.first_name = "Ada"
            user.save()  # ... then write
    finally:
        release.set()
        thread.join()
    assert User.objects.get(username="pi").first_name == "Ada"
