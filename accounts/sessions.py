"""Session engine: Django's database sessions, refusing malformed session ids before any query, and
remembering when the row it loaded expires.

Django's own keys are 32 characters of ``[a-z0-9]``; anything else in the cookie (a NUL byte,
which PostgreSQL refuses outright, or megabytes of garbage) is treated as "no session" instead of
reaching the database.

The expiry of the loaded row lets :class:`accounts.middleware.SessionLifetimeMiddleware` push the
idle deadline only when it has moved on by a minute, instead of writing the row on every request.
"""

from __future__ import annotations

import string
from datetime import datetime
from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore

_KEY_CHARACTERS = frozenset(string.ascii_lowercase + string.digits)


class SessionStore(DatabaseSessionStore):
    # When the row read for this request expires; None for a new session or one not read yet.
    loaded_expiry: datetime | None = None

    def _validate_session_key(self, key: str | None) -> bool:
        return key is not None and 8 <= len(key) <= 40 and set(key) <= _KEY_CHARACTERS

    # Django's hook that reads the row (load() keeps only its data); the stubs do not declare it.
    def _get_session_from_db(self) -> Any:
        row = super()._get_session_from_db()  # type: ignore[misc]
        self.loaded_expiry = row.expire_date if row is not None else None
        return row
