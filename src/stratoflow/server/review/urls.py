"""URLs of the review app (mounted at ``/review/``)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from stratoflow.server.review import views

app_name = "review"

urlpatterns = [
    path("", views.queue, name="queue"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="review/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="review:login"), name="logout"),
    path("assets/plotly.min.js", views.plotly_js, name="plotly_js"),
    path("flight/<str:identifier>/", views.flight_page, name="flight"),
    path("flight/<str:identifier>/data", views.flight_data, name="flight_data"),
    path("flight/<str:identifier>/evaluate", views.action_evaluate, name="evaluate"),
    path("flight/<str:identifier>/rerun", views.action_rerun, name="rerun"),
    path("flight/<str:identifier>/flag", views.action_flag, name="flag"),
    path("flight/<str:identifier>/reprocess", views.action_reprocess, name="reprocess"),
    path("flight/<str:identifier>/approve", views.action_approve, name="approve"),
    path("flight/<str:identifier>/reject", views.action_reject, name="reject"),
]
