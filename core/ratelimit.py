"""Fixed-window rate limits; the budgets themselves are data in ``config/ratelimits.py``."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def _parse(rule: str) -> tuple[int, int]:
    count, _, window = rule.partition("/")
    return int(count), int(window.rstrip("s"))


@dataclass(frozen=True)
class Hit:
    """One hit counted against a budget: whether it was within it, and how to take it back."""

    allowed: bool
    count: int
    cache_key: str

    def undo(self) -> None:
        """Give the hit back (the request turned out not to be what the budget counts)."""
        try:
            cache.decr(self.cache_key)
        except ValueError:  # the window has ended meanwhile: nothing left to give back
            pass


def hit(name: str, key: str) -> Hit:
    """Count one hit against ``name`` for ``key`` in the current fixed window."""
    limit, window = _parse(settings.RATE_LIMITS[name])
    bucket = int(time.time() // window)
    # surrogatepass: a key may come from a JSON body, where "\ud800" is a valid string.
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    cache_key = f"rl:{name}:{digest}:{bucket}"
    cache.add(cache_key, 0, timeout=window + 1)
    try:
        hits = cache.incr(cache_key)
    except ValueError:  # expired between add and incr: start the new window
        cache.add(cache_key, 1, timeout=window + 1)
        hits = 1
    return Hit(allowed=hits <= limit, count=hits, cache_key=cache_key)


def consume(name: str, key: str) -> bool:
    """Count one hit against ``name`` for ``key``; ``False`` once the window's budget is spent."""
    return hit(name, key).allowed


def window_number(name: str) -> int:
    """Which fixed window of ``name`` it is now (the same for every key)."""
    return int(time.time() // _parse(settings.RATE_LIMITS[name])[1])


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
