"""System checks of our own, run by ``manage.py check`` (``--deploy`` for the production ones)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from config.secrets import SEPARATE_SECRETS, secrets_problems


@register(Tags.security, deploy=True)
def separate_secrets_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A development configuration (secrets derived from the secret key) is not fit to deploy.

    With DEBUG off the settings refuse to load in that state; this check says the same, one error
    per secret, to whoever runs ``check --deploy`` against a configuration that still has DEBUG on.
    """
    problems = secrets_problems(
        secret_key=settings.SECRET_KEY,
        values={name: getattr(settings, name) for name in SEPARATE_SECRETS},
        derived=settings.DERIVED_SECRETS,
    )
    return [
        Error(problem, hint="python -m config.secrets --dir DIR generates a complete set", id="firma.E001")
        for problem in problems
    ]
