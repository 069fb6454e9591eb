from __future__ import annotations

from django.urls import path

from otp import views

app_name = "otp"
urlpatterns = [
    path("dispositivi/verifica/", views.stepup_view, name="stepup"),
]
