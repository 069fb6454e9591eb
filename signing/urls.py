"""Public URLs of the signing service."""

from __future__ import annotations

from django.urls import path

from signing.views import tsa

app_name = "signing"

urlpatterns = [
    path("tsa/", tsa.tsa_view, name="tsa"),
]
