"""Public URLs of the signing service."""

from __future__ import annotations

from django.urls import path

from signing import views

app_name = "signing"

urlpatterns = [
    path("tsa/", views.tsa_view, name="tsa"),
]
