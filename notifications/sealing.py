"""Bodies that carry a secret (an OTP code, a one-time link) are kept sealed until sent.

The outbox stores the *masked* rendering (what the Notifiche page and the console may show) and
the real one encrypted with Fernet (AES-128-CBC + HMAC-SHA256). The worker unseals it to send and
the sealed copy is wiped as soon as the message is sent or dead, so a code never sits readable in
the database (ASVS 6.1.1, 8.3.4).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

MASK = "••••••"


def _fernet() -> Fernet:
    # A key of its own, derived from the configured secret: rotating SECRET_KEY only makes the
    # messages queued at that moment unsendable (they go dead with a clear error).
    digest = hashlib.sha256(f"notifications-seal:{settings.NOTIFICATIONS_SEAL_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode()


class UnsealError(Exception):
    pass


def unseal(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise UnsealError("sealed body cannot be read (key changed?)") from exc
