"""Public URLs of the signing service."""

from __future__ import annotations

from django.urls import path

from signing import views_tsa

app_name = "signing"

urlpatterns = [
    path("tsa/", views_tsa.tsa_view, name="tsa"),
]
