"""Session engine: Django's database sessions, refusing malformed session ids before any query.

Django's own keys are 32 characters of ``[a-z0-9]``; anything else in the cookie (a NUL byte,
which PostgreSQL refuses outright, or megabytes of garbage) is treated as "no session" instead of
reaching the database.
"""

from __future__ import annotations

import string

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore

_KEY_CHARACTERS = frozenset(string.ascii_lowercase + string.digits)


class SessionStore(DatabaseSessionStore):
    def _validate_session_key(self, key: str | None) -> bool:
        return key is not None and 8 <= len(key) <= 40 and set(key) <= _KEY_CHARACTERS
