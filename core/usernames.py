"""One spelling of a username everywhere it is compared, counted or looked up."""

from __future__ import annotations

USERNAME_MAX_LENGTH = 150


def normalize_username(username: object) -> str:
    """Trimmed, lower-cased, at most 150 characters (``User.username``'s length)."""
    return str(username or "").strip().lower()[:USERNAME_MAX_LENGTH]
