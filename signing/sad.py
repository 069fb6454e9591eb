"""The SAD token and the one-time wrapping of a data key: pure functions, no database.

A SAD token is ``base64url(activation id ‖ K)`` (16 + 32 bytes, no padding). K is a fresh AES-256
key per activation (or per extension); the activation row keeps only the certificate's data key
encrypted under K, bound by AES-GCM's associated data to that row (its id, certificate and key
version). K exists only in the token the caller holds, so neither the row nor the token opens
anything alone. The rules around the token (expiry, counts, which client) are in
``signing/services/activation.py``.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_LENGTH = 12
ID_LENGTH = 16
KEY_LENGTH = 32


class TokenMalformed(ValueError):
    """The string is not a SAD token: not base64url, or not an id and a key of the right lengths."""


def token_encode(public_id: uuid.UUID, key: bytes) -> str:
    """The token naming activation ``public_id`` and carrying its one-time key."""
    return base64.urlsafe_b64encode(public_id.bytes + key).rstrip(b"=").decode()


def token_decode(token: str) -> tuple[uuid.UUID, bytes]:
    """The activation id and the one-time key a token carries; :class:`TokenMalformed` otherwise."""
    text = str(token).strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenMalformed("not base64url") from exc
    if len(raw) != ID_LENGTH + KEY_LENGTH:
        raise TokenMalformed("wrong length")
    return uuid.UUID(bytes=raw[:ID_LENGTH]), raw[ID_LENGTH:]


def data_key_wrap(data_key: bytes, *, aad: bytes) -> tuple[bytes, bytes]:
    """``data_key`` encrypted under a fresh one-time key K for the row ``aad`` names: (wrapped, K)."""
    one_time_key = AESGCM.generate_key(bit_length=KEY_LENGTH * 8)
    nonce = os.urandom(NONCE_LENGTH)
    return nonce + AESGCM(one_time_key).encrypt(nonce, data_key, aad), one_time_key


def data_key_unwrap(wrapped: bytes, *, one_time_key: bytes, aad: bytes) -> bytes:
    """The data key ``wrapped`` holds under K. ``InvalidTag`` for a wrong K (a forged token), another
    row's AAD, a tampered or an emptied blob."""
    wrapped = bytes(wrapped)
    if len(wrapped) <= NONCE_LENGTH or len(one_time_key) != KEY_LENGTH:
        raise InvalidTag
    return AESGCM(one_time_key).decrypt(wrapped[:NONCE_LENGTH], wrapped[NONCE_LENGTH:], aad)
