"""Django settings, all taken from the environment so one installed package serves every site.

=============================  ==========================================================
variable                       meaning (default)
=============================  ==========================================================
STRATOFLOW_HOME                data directory: SQLite file, staging, secret key
                               (``~/.local/share/stratoflow``)
STRATOFLOW_DATABASE_URL        database URL; empty means embedded SQLite in the home
STRATOFLOW_SECRET_KEY          Django secret key (generated once into the home if unset)
STRATOFLOW_DEBUG               ``1`` for Django debug pages (off)
STRATOFLOW_ALLOWED_HOSTS       comma-separated host names (127.0.0.1,localhost)
STRATOFLOW_EMAIL_URL           SMTP server for notifications: ``smtp://[user@]host[:port]``
                               (plain, 25), ``smtp+starttls://...`` (STARTTLS, 587) or
                               ``smtps://...`` (implicit TLS, 465); never a password
                               (unset: notifications are printed on the console)
STRATOFLOW_EMAIL_PASSWORD      the SMTP login's password as a secret reference,
                               ``env:NAME`` or ``file:/path``, read when mail is sent
                               (required with a user in the URL)
STRATOFLOW_EMAIL_CA_FILE       PEM file of a private CA the SMTP server's certificate is
                               verified against (the system's trust store)
STRATOFLOW_EMAIL_TIMEOUT       seconds to wait for the SMTP server's answers (60)
STRATOFLOW_FROM_EMAIL          sender of notifications (stratoflow@localhost)
STRATOFLOW_BASE_URL            the web UI's address, for links in notifications
                               (http://127.0.0.1:8000)
STRATOFLOW_BROKER_URL          Celery broker (redis://127.0.0.1:6379/0)
STRATOFLOW_EXECUTOR            ``inprocess`` (default: tasks in threads of the running
                               process) or ``celery`` (tasks to ``stratoflow worker``)
=============================  ==========================================================
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

import dj_database_url
import django_stubs_ext

# Generic admin/queryset classes (ModelAdmin[Model]) at run time, as the type checker sees them.
django_stubs_ext.monkeypatch()

HOME = Path(
    os.environ.get("STRATOFLOW_HOME") or Path.home() / ".local" / "share" / "stratoflow"
).resolve()
HOME.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = os.environ.get("STRATOFLOW_SECRET_KEY")
    if key:
        return key
    path = HOME / "secret_key"
    if not path.exists():
        # Written whole under a temporary name, then linked into place: processes starting
        # together (a scheduler and its standby) never read a half-written key, and the one
        # that loses the race reads the winner's instead of failing.
        fd, tmp = tempfile.mkstemp(dir=HOME, prefix=".secret_key.")  # owner-only (0600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(50))
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("STRATOFLOW_DEBUG", "") == "1"
ALLOWED_HOSTS = os.environ.get("STRATOFLOW_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "stratoflow.server.catalog",
    "stratoflow.server.workflow",
    "stratoflow.server.review",
    "stratoflow.server.exports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "stratoflow.server.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(__file__).resolve().parent / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = "stratoflow.server.wsgi.application"

_database_url = os.environ.get("STRATOFLOW_DATABASE_URL", "")
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(HOME / "stratoflow.sqlite3"),
            # WAL lets the web UI read while a job writes; a busy timeout instead of errors.
            # IMMEDIATE: a transaction takes the write lock when it begins. A deferred one
            # that has read first and then writes fails at once with "database is locked"
            # when another process writes (SQLite cannot wait there without deadlocking), so
            # a PI flagging in the web UI during an import would fail one side at random.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
# Test databases: a name of one's own for parallel runs; SQLite tests use a file (not the
# shared-cache in-memory database, whose table locks ignore the busy timeout and make threaded
# tests flaky).
_test_name = os.environ.get("STRATOFLOW_TEST_DATABASE_NAME") or None
if _test_name is None and not _database_url:
    _test_name = str(HOME / "test-stratoflow.sqlite3")
DATABASES["default"]["TEST"] = {"NAME": _test_name}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = HOME / "static"
LOGIN_URL = "/admin/login/"

STAGING_DIR = HOME / "staging"

_email_url = os.environ.get("STRATOFLOW_EMAIL_URL", "")
if _email_url:
    # Checked here, so a wrong URL stops every command at once with one clear line; the
    # password itself is only a reference, resolved by the backend when it sends.
    from stratoflow.server.mail import email_server, email_timeout

    _email = email_server(
        _email_url,
        password=os.environ.get("STRATOFLOW_EMAIL_PASSWORD", ""),
        ca_file=os.environ.get("STRATOFLOW_EMAIL_CA_FILE", ""),
    )
    EMAIL_BACKEND = "stratoflow.server.mail.EmailBackend"
    EMAIL_HOST = _email.host
    EMAIL_PORT = _email.port
    EMAIL_HOST_USER = _email.user
    EMAIL_USE_TLS = _email.starttls
    EMAIL_USE_SSL = _email.implicit_tls
    STRATOFLOW_EMAIL_PASSWORD = _email.password
    STRATOFLOW_EMAIL_CA_FILE = _email.ca_file
    EMAIL_TIMEOUT = email_timeout(os.environ.get("STRATOFLOW_EMAIL_TIMEOUT", ""))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("STRATOFLOW_FROM_EMAIL", "stratoflow@localhost")
STRATOFLOW_BASE_URL = os.environ.get("STRATOFLOW_BASE_URL", "http://127.0.0.1:8000")

CELERY_BROKER_URL = os.environ.get("STRATOFLOW_BROKER_URL", "redis://127.0.0.1:6379/0")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "stratoflow.server.log.CurrentStderrHandler"}},
    "loggers": {"stratoflow": {"handlers": ["console"], "level": "WARNING"}},
}
