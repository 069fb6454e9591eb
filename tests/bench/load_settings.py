"""Settings of the load benchmark's server (``bench_load``): production settings, two changes.

- ``ROOT_URLCONF`` adds a trivial view (``/bench/ok``) next to the product's URLs: the reference every
  page is compared with, served by the same gunicorn, middleware and settings. The product has no
  such view.
- The per-source-address budgets of ``RATE_LIMITS`` are raised: wrk sends everything from 127.0.0.1,
  and a 429 measures the limiter, not the endpoint.

Everything else — DEBUG off, secrets from files, HTTPS-only cookies, Argon2 at production cost — is
what a deployment runs.
"""

from __future__ import annotations

from config.settings import *  # noqa: F403
from config.settings import RATE_LIMITS as _PRODUCT_RATE_LIMITS

ROOT_URLCONF = "tests.bench.load_urls"
RATE_LIMITS = {name: "1000000000/60s" for name in _PRODUCT_RATE_LIMITS}
