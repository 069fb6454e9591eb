from __future__ import annotations

from django.apps import AppConfig


class RenewalConfig(AppConfig):
    name = "renewal"
