"""The OAuth 2.0 token endpoint (client credentials only), rate-limited per address, and per client id and
address for the requests that get no token.

Wrong secrets are never counted per client id alone: a client id is not a secret, so such a budget
would let anyone lock an organization's system out from anywhere. Each address has its own budget for
each client; a correct secret from an address that has not spent it is always checked and answered.
"""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import unquote_plus

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from oauth2_provider.views import TokenView

from accounts.services.api_clients import api_client_token_refused
from core.ratelimit import _parse, client_ip, consume, hit

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
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: "[[[[…", deeply nested
            return ""
        value = data.get("client_id") if isinstance(data, dict) else None
        return value[:200] if isinstance(value, str) else ""
    return str(request.POST.get("client_id", ""))[:200]


def _form_readable(request: HttpRequest) -> bool:
    """A form body (urlencoded or multipart) that Django can parse; read now, so that a broken one is
    a JSON 400 here rather than Django's HTML error page from inside the toolkit."""
    if request.content_type == "application/json":
        return True
    try:
        request.POST  # noqa: B018
    except (MultiPartParserError, SuspiciousOperation):
        return False
    return True


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
    ip = client_ip(request)
    if not consume("api_token_ip", ip):
        return _too_many("api_token_ip")
    if not _form_readable(request):
        body = {"error": "invalid_request", "error_description": _("The request body cannot be read.")}
        return JsonResponse(body, status=400)
    client_id = _claimed_client_id(request)
    # Counted before the secret is checked (parallel guesses cannot overrun the budget), given back
    # when a token is issued; once spent, this address's requests for this client are not checked.
    attempt = hit("api_token_client_ip", f"{client_id}\n{ip}")
    if not attempt.allowed:
        return _too_many("api_token_client_ip")
    response = _token_view(request)
    if response.status_code == 200:
        attempt.undo()
    elif response.status_code == 401:  # invalid_client: unknown id, revoked client or wrong secret
        api_client_token_refused(client_id=client_id, ip=ip)
    return response
