"""HOTP (RFC 4226) and TOTP (RFC 6238): the arithmetic only, no state and no policy."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from urllib.parse import quote, urlencode

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def hotp(secret: bytes, counter: int, *, digits: int = 6, algorithm: str = "sha1") -> str:
    """The code for ``counter``: HMAC, dynamic truncation, modulo 10^digits, zero-padded."""
    mac = hmac.new(secret, struct.pack(">Q", counter), ALGORITHMS[algorithm]).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def totp_step(unix_time: float, period: int = 30) -> int:
    return int(unix_time // period)


def totp(secret: bytes, unix_time: float, *, period: int = 30, digits: int = 6, algorithm: str = "sha1") -> str:
    return hotp(secret, totp_step(unix_time, period), digits=digits, algorithm=algorithm)


def codes_equal(expected: str, given: str) -> bool:
    """Constant-time comparison of two codes."""
    return hmac.compare_digest(expected.encode(), given.encode())


def otpauth_uri(
    *, secret: bytes, issuer: str, account: str, kind: str = "totp", digits: int = 6, period: int = 30,
    algorithm: str = "sha1", counter: int = 0,
) -> str:
    """The ``otpauth://`` URI that authenticator apps read from a QR code (Key Uri Format)."""
    label = quote(f"{issuer}:{account}", safe=":@")
    params = {
        "secret": base64.b32encode(secret).decode().rstrip("="),
        "issuer": issuer,
        "algorithm": algorithm.upper(),
        "digits": str(digits),
    }
    if kind == "totp":
        params["period"] = str(period)
    else:
        params["counter"] = str(counter)
    return f"otpauth://{kind}/{label}?{urlencode(params, quote_via=quote)}"
