"""Fixed-window rate limits; the budgets themselves are data in ``config/ratelimits.py``."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def _parse(rule: str) -> tuple[int, int]:
    count, _, window = rule.partition("/")
    return int(count), int(window.rstrip("s"))


def consume(name: str, key: str) -> bool:
    """Count one hit against ``name`` for ``key``; ``False`` once the window's budget is spent."""
    limit, window = _parse(settings.RATE_LIMITS[name])
    bucket = int(time.time() // window)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    cache_key = f"rl:{name}:{digest}:{bucket}"
    cache.add(cache_key, 0, timeout=window + 1)
    try:
        hits = cache.incr(cache_key)
    except ValueError:  # expired between add and incr: start the new window
        cache.add(cache_key, 1, timeout=window + 1)
        hits = 1
    return hits <= limit


def client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))[:45]


def consume_or_429(request: HttpRequest, name: str, key: str | None = None) -> HttpResponse | None:
    """``None`` if allowed; otherwise the 429 page to return as is."""
    if consume(name, key if key is not None else client_ip(request)):
        return None
    _, window = _parse(settings.RATE_LIMITS[name])
    response = render(request, "errors/429.html", status=429)
    response["Retry-After"] = str(window)
    return response
