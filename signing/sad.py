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
import hashlib
import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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


# --- A SAD held for an OAuth 2.0 authorization code, then for the access token it was exchanged for --
#
# The CSC authorization-code flow (scope ``credential``) keeps the SAD on the server between the
# holder's consent and the client's signing call, so the client never sees PIN or OTP. It must never
# rest in a form the server alone can use: it is sealed under a key derived from the secret the client
# holds — first the authorization code, then the access token — and those secrets are stored only as
# their SHA-256. Without the client's code or token the sealed SAD is ciphertext, and the SAD itself
# is still only half of what signs (the activation row holds the other half).

SEAL_INFO_PREFIX = b"firma-remota/csc-oauth-seal|"


def secret_checksum(secret: str) -> str:
    """The SHA-256 (hex) under which a code or a token is looked up: the secret itself is never stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _seal_key(secret: str, context: bytes) -> bytes:
    # HKDF, not the bare hash: the lookup checksum is stored, so the key must be a different function
    # of the secret; the context binds the key to one purpose and one row.
    return HKDF(algorithm=hashes.SHA256(), length=KEY_LENGTH, salt=None, info=SEAL_INFO_PREFIX + context).derive(
        secret.encode("utf-8")
    )


def sad_seal(sad_token: str, *, secret: str, context: bytes) -> bytes:
    """``sad_token`` encrypted (AES-256-GCM) under HKDF-SHA256(``secret``), bound to ``context`` (AAD)."""
    nonce = os.urandom(NONCE_LENGTH)
    return nonce + AESGCM(_seal_key(secret, context)).encrypt(nonce, sad_token.encode("ascii"), context)


def sad_unseal(sealed: bytes, *, secret: str, context: bytes) -> str:
    """The SAD token ``sealed`` holds. ``InvalidTag`` for another secret, another context, a tampered or
    an emptied blob."""
    sealed = bytes(sealed)
    if len(sealed) <= NONCE_LENGTH:
        raise InvalidTag
    clear = AESGCM(_seal_key(secret, context)).decrypt(sealed[:NONCE_LENGTH], sealed[NONCE_LENGTH:], context)
    return clear.decode("ascii")
