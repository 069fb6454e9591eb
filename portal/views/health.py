"""Readiness: whether this process can serve now, as JSON for a load balancer or an orchestrator.

Each check says whether it passed and how long it took; no secret, no stack trace. 200 when every
check passes, 503 otherwise (the process stays up: an unreachable database or key device recovers
without a restart).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from certificates.vault import vault_get

logger = logging.getLogger(__name__)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _key_vault() -> None:
    vault_get().check()


CHECKS: dict[str, Callable[[], None]] = {"database": _database, "key_vault": _key_vault}


@never_cache
@require_GET
def readiness_view(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # noqa: BLE001  (any failure is "not ready", named, never shown in full)
            logger.warning("readiness check %s failed: %s", name, type(exc).__name__)
            ok, error = False, type(exc).__name__
        else:
            ok, error = True, ""
        results[name] = {"ok": ok, "ms": round((time.perf_counter() - started) * 1000, 1)}
        if error:
            results[name]["error"] = error
    ready = all(result["ok"] for result in results.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503)
