from __future__ import annotations

from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    name = "certificates"

    def ready(self) -> None:
        from django.core import checks

        from certificates.checks import key_vault_check

        checks.register(key_vault_check)
