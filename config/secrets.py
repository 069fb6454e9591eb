"""The server's secrets: one each, independent of each other, and a command that makes a complete set.

The product holds five secrets besides ``DJANGO_SECRET_KEY``, each protecting something different:

=========================  =========================================================================
``CA_KEK_KEYS``            wraps every private key (CA and holders): with the database, opens the CA
``CA_PIN_PEPPER``          mixed into every signing PIN: without it a PIN cannot even be guessed
``OTP_SEED_KEYS``          encrypts the OTP seeds: with the database, yields every holder's codes
``AUDIT_CHAIN_KEY``        keys the audit chain's HMAC: with it, an edited trail can be re-chained
``NOTIFICATIONS_SEAL_KEY`` seals messages that carry a code until they are sent
=========================  =========================================================================

In development (DEBUG on) each defaults to a value derived from the secret key, so ``make run``
needs nothing. In production that would make the secret key — which every web process reads, and
which leaks most easily (a debug page, a settings dump, a backup of the environment) — the key to
all of them: a copy of the database plus the secret key would open the CA keys, the holders' keys
(after an offline PIN guess) and the seeds. So with DEBUG off the process refuses to start unless
each is set explicitly (``NAME`` or ``NAME_FILE``), distinct from the others and from the secret
key; ``manage.py check --deploy`` says the same of a development configuration.

``python -m config.secrets --dir DIR`` writes a complete, fresh set as one file per secret (mode
0600), ready for ``NAME_FILE`` variables (Docker/Kubernetes secrets); ``--env`` prints them as
``NAME=value`` lines instead.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import secrets
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

SECRET_KEY_NAME = "DJANGO_SECRET_KEY"
# The secrets that must be set on their own in production, in the order the README lists them.
SEPARATE_SECRETS = ("CA_KEK_KEYS", "CA_PIN_PEPPER", "OTP_SEED_KEYS", "AUDIT_CHAIN_KEY", "NOTIFICATIONS_SEAL_KEY")
# Key maps ("id:base64,…") hold 32-byte AES keys; the others are strings of at least this length.
KEY_MAP_SECRETS = ("CA_KEK_KEYS", "OTP_SEED_KEYS")
MIN_STRING_SECRET_LENGTH = 32


def _forms(value: str | Mapping[str, str]) -> set[bytes]:
    """Every form under which a secret could be reused elsewhere: the text, and each key's bytes."""
    if isinstance(value, Mapping):
        forms: set[bytes] = set()
        for key in value.values():
            forms.add(key.encode())
            try:
                forms.add(base64.b64decode(key))
            except (binascii.Error, ValueError):
                pass
        return forms
    return {value.encode()}


def secrets_problems(
    *, secret_key: str, values: Mapping[str, str | Mapping[str, str]], derived: Iterable[str]
) -> list[str]:
    """What is wrong with a production set of secrets, one sentence per problem (empty: all good).

    ``values`` maps each name of :data:`SEPARATE_SECRETS` to its configured value; ``derived``
    names those that fell back to the development default.
    """
    derived = set(derived)
    problems = [
        f"{name} is not set: with DEBUG off it must be given explicitly ({name} or {name}_FILE), "
        f"not derived from {SECRET_KEY_NAME}"
        for name in SEPARATE_SECRETS
        if name in derived
    ]
    explicit = [name for name in SEPARATE_SECRETS if name not in derived]
    for name in explicit:
        value = values[name]
        if isinstance(value, str) and len(value) < MIN_STRING_SECRET_LENGTH:
            problems.append(f"{name} must be at least {MIN_STRING_SECRET_LENGTH} characters long")
    seen: dict[bytes, str] = {form: SECRET_KEY_NAME for form in _forms(secret_key)}
    for name in explicit:
        for form in _forms(values[name]):
            other = seen.get(form)
            if other is not None and other != name:
                problems.append(f"{name} must differ from {other}: each secret protects something else")
                break
            seen[form] = name
    return problems


def secrets_generate() -> dict[str, str]:
    """A complete, fresh set: the secret key and every separate secret."""

    def key_map() -> str:
        return f"k1:{base64.b64encode(os.urandom(32)).decode()}"

    return {
        SECRET_KEY_NAME: secrets.token_urlsafe(64),
        "CA_KEK_KEYS": key_map(),
        "CA_PIN_PEPPER": secrets.token_urlsafe(48),
        "OTP_SEED_KEYS": key_map(),
        "AUDIT_CHAIN_KEY": secrets.token_urlsafe(48),
        "NOTIFICATIONS_SEAL_KEY": secrets.token_urlsafe(48),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.secrets", description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--dir", type=Path, help="write one file per secret (lower-case name), mode 0600")
    where.add_argument("--env", action="store_true", help="print NAME=value lines")
    args = parser.parse_args(argv)
    generated = secrets_generate()
    if args.env:
        for name, value in generated.items():
            print(f"{name}={value}")
        return 0
    args.dir.mkdir(parents=True, exist_ok=True)
    for name in generated:
        path = args.dir / name.lower()
        if path.exists():
            print(f"{path} exists: not overwritten (a new key would make the old data unreadable)", file=sys.stderr)
            return 1
    for name, value in generated.items():
        path = args.dir / name.lower()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
        print(f"{name}_FILE={path.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
