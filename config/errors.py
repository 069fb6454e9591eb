"""What a request gets when the server fails: an outage is a 503 to retry, never a 500.

Django calls ``handler500`` for an exception raised anywhere in the request — a view, a middleware,
the session or the user loaded lazily — while the exception is being handled, so the cause is in
``sys.exc_info()``. A database that cannot be reached (stopped, restarting, failing over) and a key
device that cannot be reached are outages: nothing was written, the same request may be sent again.
Anything else stays a 500 (and is logged with its traceback by Django).
"""

from __future__ import annotations

import logging
import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

from core.outage import OUTAGE_DESCRIPTION, RETRY_AFTER_SECONDS, database_unreachable

logger = logging.getLogger(__name__)



def outage_cause(exc: BaseException | None) -> str:
    """``"database"`` or ``"key_vault"`` for an outage, ``""`` for anything else."""
    from certificates.vault import VaultUnavailable

    if database_unreachable(exc):
        return "database"
    if isinstance(exc, VaultUnavailable):
        return "key_vault"
    return ""


def _is_api(path: str) -> bool:
    return path.startswith(("/api/", "/csc/", "/oauth2/"))


def outage_response(request: HttpRequest, cause: str) -> HttpResponse:
    """503 with Retry-After: JSON for the APIs (their error shapes), the panel's page otherwise."""
    response: HttpResponse
    if _is_api(request.path):
        if request.path.startswith("/api/"):
            response = JsonResponse({"code": "temporarily_unavailable", "message": OUTAGE_DESCRIPTION, "fields": {}},
                                    status=503)
        else:  # CSC and OAuth 2.0 (RFC 6749's word for this case)
            response = JsonResponse({"error": "temporarily_unavailable", "error_description": OUTAGE_DESCRIPTION},
                                    status=503)
    else:
        try:
            response = render(request, "errors/503.html", {"cause": cause}, status=503)
        except Exception:  # noqa: BLE001  (the page's context needs the database too: render it without)
            response = HttpResponse(render_to_string("errors/503.html", {"cause": cause}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    exc = sys.exc_info()[1]
    cause = outage_cause(exc)
    if not cause:
        return defaults.server_error(request)
    logger.error("%s unavailable on %s %s: %s", cause, request.method, request.path, type(exc).__name__)
    return outage_response(request, cause)
