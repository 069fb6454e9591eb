"""The one domain error type. Services raise it; edges turn it into a message or an HTTP answer."""

from __future__ import annotations

from django.utils.functional import Promise


class ApplicationError(Exception):
    """A business rule said no. ``code`` is stable for machines, ``message`` is for people."""

    def __init__(self, code: str, message: str | Promise, *, field: str | None = None) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = message
        self.field = field
