"""WSGI entry point (``stratoflow serve`` uses Django's own server; production uses this)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stratoflow.server.settings")
application = get_wsgi_application()
