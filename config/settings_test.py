"""Settings of the test suite: the product's settings, with the embedded defaults and a var/ of its own.

Nothing here changes behaviour: it only makes ``pytest`` work from a bare shell (DEBUG on means a
generated secret key and no HTTPS-only cookies for the test client) and keeps test state — SQLite
test database, filesystem broker queue, generated keys — apart from the ``make run`` instance, whose
worker would otherwise consume the tests' tasks. ``DATABASE_URL``, ``CELERY_BROKER_URL`` and
``CACHE_URL`` still come from the environment, which is how CI runs the suite on PostgreSQL + Redis.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))

from config.settings import *  # noqa: E402,F403

# Argon2id at its minimum cost: the tests derive many PIN keys; production keeps CA_PIN_KDF_COST's
# defaults (the parameters travel with each wrapped key, so nothing else changes).
CA_PIN_KDF_COST = {"time_cost": 1, "memory_cost": 64, "parallelism": 1}

# Passwords and API client secrets: still Argon2id (the same hasher, the same "argon2$" hashes), at
# its minimum cost. At production cost every login and token request of the suite took a third of a
# second of CPU — most of the suite's time; the parameters travel with each hash, as above.
PASSWORD_HASHERS = [
    "config.settings_test.CheapArgon2PasswordHasher",
    *(h for h in PASSWORD_HASHERS if not h.endswith(".Argon2PasswordHasher")),  # noqa: F405
]


from django.contrib.auth.hashers import Argon2PasswordHasher  # noqa: E402


class CheapArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 64
    parallelism = 1
