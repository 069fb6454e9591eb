"""Provider callbacks (Twilio message status). Filled by the Twilio work of the Notifications issue."""

from __future__ import annotations

app_name = "notifications"
urlpatterns: list = []
