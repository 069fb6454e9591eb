from __future__ import annotations

from django.apps import AppConfig


class OtpConfig(AppConfig):
    name = "otp"
