"""Liveness and readiness, as JSON for a load balancer, an orchestrator or a monitoring probe.

``/healthz``: the process answers (no database, nothing else touched) — restart it if this fails.
``/readyz``: whether this process can serve now — send it traffic only while this is green. Each
check says whether it passed and how long it took, and why not in a few words; no secret, no stack
trace. 200 when every check passes, 503 otherwise (the process stays up: an unreachable database,
cache, broker or key device recovers without a restart). Cheap enough to poll every few seconds:
a handful of indexed reads and one round trip to each service, no rate limit, no session.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from certificates.models import AuthorityRole
from certificates.selectors import authority_not_after, crl_next_update
from certificates.vault import vault_get
from core.schema import migrations_pending

logger = logging.getLogger(__name__)

# The internal TSA's certificate must outlive this margin: a renewal is planned, not an emergency.
TSA_CERTIFICATE_MARGIN = timedelta(days=30)


class NotReady(Exception):  # noqa: N818  (a state, not an error of this code)
    """A check failed for a reason worth showing (a date, a count: never a secret)."""


def _database() -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")


_migrated = False  # once seen complete, a process's schema stays complete: the plan is not recomputed


def _migrations() -> None:
    global _migrated
    if _migrated:
        return
    pending = migrations_pending()
    if pending:
        raise NotReady(f"{len(pending)} migrations not applied")
    _migrated = True


def _cache() -> None:
    nonce = secrets.token_hex(8)
    cache.set("readyz:probe", nonce, 10)
    if cache.get("readyz:probe") != nonce:
        raise NotReady("the cache does not keep what is written")


def _broker() -> None:
    options = current_app.conf.broker_transport_options or {}
    if current_app.conf.broker_url == "filesystem://":
        folder = Path(options.get("data_folder_in", ""))
        if not (folder.is_dir() and os.access(folder, os.W_OK)):
            raise NotReady("the broker's folder is not writable")
        return
    connection = current_app.connection_for_write()
    try:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    finally:
        connection.release()


def _key_vault() -> None:
    vault_get().check()


def _tsa_certificate() -> None:
    if settings.SIGNING_TSA_URL:  # an external TSA: its certificate is its provider's to renew
        return
    not_after = authority_not_after(role=AuthorityRole.TSA)
    if not_after is None:
        raise NotReady("no TSA certificate: run manage.py ca_init")
    left = not_after - timezone.now()
    if left < TSA_CERTIFICATE_MARGIN:
        raise NotReady(f"the TSA certificate expires in {max(left.days, 0)} days")


def _crl() -> None:
    now = timezone.now()
    for role in (AuthorityRole.ROOT, AuthorityRole.ISSUING):
        next_update = crl_next_update(role=role)  # the date only, not the CRL itself
        if next_update is None:
            raise NotReady(f"no CRL of the {role} CA")
        if next_update <= now:
            raise NotReady(f"the {role} CA's CRL is past its nextUpdate")


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database,
    "migrations": _migrations,
    "cache": _cache,
    "broker": _broker,
    "key_vault": _key_vault,
    "tsa_certificate": _tsa_certificate,
    "crl": _crl,
}


@never_cache
@require_GET
def liveness_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readiness_view(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        error = ""
        try:
            check()
        except NotReady as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001  (any failure is "not ready", named, never shown in full)
            error = type(exc).__name__
        if error:
            logger.warning("readiness check %s failed: %s", name, error)
        results[name] = {"ok": not error, "ms": round((time.perf_counter() - started) * 1000, 1)}
        if error:
            results[name]["error"] = error
    ready = all(result["ok"] for result in results.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503)
