"""Developer tools of the embedded default (the mailbox); mounted only when DEBUG is on."""

from __future__ import annotations

from django.urls import path

from notifications.views import devtools as views

app_name = "devtools"
urlpatterns = [
    path("posta/", views.mailbox_view, name="mailbox"),
]
