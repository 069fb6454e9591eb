"""The holder's activation pages: the e-mailed link, then one address for every step."""

from __future__ import annotations

from django.urls import path

from certificates.views import activation

app_name = "activation"

urlpatterns = [
    path("attivazione/", activation.activation_step_view, name="step"),
    path("attivazione/link/<str:token>/", activation.activation_start_view, name="start"),
]
