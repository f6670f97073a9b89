"""Project-level pages: the installed plugins of every extension point (for admins)."""

from __future__ import annotations

import inspect
from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from stratoflow import plugins
from stratoflow.errors import PluginNotFound


def _describe(obj: Any) -> str:
    text = getattr(obj, "description", "") or inspect.getdoc(obj) or ""
    return str(text).strip().splitlines()[0] if str(text).strip() else ""


def plugin_rows() -> list[dict[str, Any]]:
    """Every extension point with its plugins: name, description, import path, load problem."""
    rows = []
    for kind in plugins.GROUPS:
        entries = []
        for name in plugins.names(kind):
            try:
                obj = plugins.load(kind, name)
            except PluginNotFound as exc:
                entries.append({"name": name, "description": "", "path": "", "error": str(exc)})
                continue
            path = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', name)}"
            entries.append({"name": name, "description": _describe(obj), "path": path, "error": ""})
        rows.append({"kind": kind, "group": plugins.GROUPS[kind], "plugins": entries})
    return rows


@staff_member_required
def plugin_list(request: HttpRequest) -> HttpResponse:
    """Readers, writers, transfer types, auth methods, QC tests... with their descriptions."""
    return render(
        request,
        "stratoflow/plugins.html",
        {"extension_points": plugin_rows(), "title": "Installed plugins"},
    )
