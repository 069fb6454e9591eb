"""Outages: what cannot be reached now and will be again, so a request gets 503 + Retry-After, not 500."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

RETRY_AFTER_SECONDS = 30
OUTAGE_DESCRIPTION = "The service is temporarily unavailable: try again shortly."


def database_unreachable(exc: BaseException | None) -> bool:
    """The database refused or lost the connection (stopped, restarting, failing over), or gave up on
    a statement it may run next time (a lock or serialization timeout): the transaction did not
    commit, so the same request may be sent again."""
    return isinstance(exc, OperationalError | InterfaceError)
