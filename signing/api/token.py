"""The OAuth 2.0 token endpoint (client credentials only), rate-limited per client id and per address."""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import unquote_plus

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from oauth2_provider.views import TokenView

from accounts.ratelimit import _parse, client_ip, consume

_token_view = TokenView.as_view()


def _claimed_client_id(request: HttpRequest) -> str:
    """The client id the request claims (Basic auth, form or JSON body), for rate limiting only."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8", "replace")
            return unquote_plus(decoded.split(":", 1)[0])[:200]
        except (binascii.Error, ValueError):
            return ""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return ""
        value = data.get("client_id") if isinstance(data, dict) else None
        return value[:200] if isinstance(value, str) else ""
    return str(request.POST.get("client_id", ""))[:200]


def _too_many(name: str) -> HttpResponse:
    _limit, window = _parse(settings.RATE_LIMITS[name])
    response = JsonResponse(
        {"error": "too_many_requests", "error_description": _("Too many token requests: try again later.")}, status=429
    )
    response["Retry-After"] = str(window)
    return response


@csrf_exempt
@never_cache
@require_POST
def token_view(request: HttpRequest) -> HttpResponse:
    if len(request.body) > 16 * 1024:  # a token request is a few hundred bytes
        body = {"error": "invalid_request", "error_description": _("The request is too large.")}
        return JsonResponse(body, status=413)
    if not consume("api_token_ip", client_ip(request)):
        return _too_many("api_token_ip")
    if not consume("api_token_client", _claimed_client_id(request)):
        return _too_many("api_token_client")
    return _token_view(request)
