"""Seeds at rest: AES-256-GCM under a key named by id, so keys can be rotated (ASVS 6.2, 6.4).

``OTP_SEED_KEYS`` maps key ids to 32-byte keys (base64); ``OTP_SEED_KEY_ID`` names the one used
for new seeds. Each row stores the key id, a random 96-bit nonce and the ciphertext+tag; the
associated data binds the ciphertext to its device, so a seed copied onto another row does not
decrypt there. ``manage.py otp_rotate_seed_key`` re-encrypts rows under the current key.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SeedDecryptionError(Exception):
    """The seed cannot be decrypted: unknown key id, wrong key, or a tampered row."""


@dataclass(frozen=True)
class SealedSeed:
    key_id: str
    nonce: bytes
    ciphertext: bytes


def _key(key_id: str) -> bytes:
    try:
        key = base64.b64decode(settings.OTP_SEED_KEYS[key_id])
    except KeyError as exc:
        raise SeedDecryptionError(f"unknown seed key id {key_id!r}") from exc
    if len(key) != 32:
        raise ImproperlyConfigured(f"OTP seed key {key_id!r} must be 32 bytes (base64)")
    return key


def seed_seal(seed: bytes, *, binding: str) -> SealedSeed:
    key_id = settings.OTP_SEED_KEY_ID
    nonce = os.urandom(12)
    ciphertext = AESGCM(_key(key_id)).encrypt(nonce, seed, binding.encode())
    return SealedSeed(key_id=key_id, nonce=nonce, ciphertext=ciphertext)


def seed_open(sealed: SealedSeed, *, binding: str) -> bytes:
    try:
        return AESGCM(_key(sealed.key_id)).decrypt(sealed.nonce, sealed.ciphertext, binding.encode())
    except InvalidTag as exc:
        raise SeedDecryptionError("seed does not decrypt (wrong key or tampered row)") from exc
