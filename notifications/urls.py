"""Developer tools of the embedded default (the mailbox); mounted only when DEBUG is on."""

from __future__ import annotations

app_name = "devtools"
urlpatterns: list = []
