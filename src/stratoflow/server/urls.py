"""URL configuration: the admin and the dashboard."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from stratoflow.server import views as server_views
from stratoflow.server.workflow import views as workflow_views

urlpatterns = [
    path("", workflow_views.dashboard, name="dashboard"),
    path("admin/plugins/", server_views.plugin_list, name="plugins"),
    path("admin/", admin.site.urls),
    path("", include("stratoflow.server.workflow.urls")),
    path("review/", include("stratoflow.server.review.urls")),
]

admin.site.site_header = "stratoflow"
admin.site.site_title = "stratoflow"
