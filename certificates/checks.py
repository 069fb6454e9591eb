"""System checks of the certificates app (``manage.py check``, ``runserver``, ``migrate``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def key_vault_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A device vault that cannot be opened is an error before anything runs (the software vault,
    in this process's memory, always opens)."""
    if settings.CA_KEY_VAULT_BACKEND == "certificates.vault.SoftwareKeyVault":
        return []
    from certificates.vault import vault_startup_check

    try:
        vault_startup_check()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="certificates.E001")]
    return []
