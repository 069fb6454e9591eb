"""The OAuth 2.0 token endpoint, rate-limited per address, and per client id and address for the
requests that get no token: client credentials (the toolkit), and the CSC authorization code of the
holder's consent page (scope ``credential``: ``signing/services/oauth.py``, whose codes carry a SAD).

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
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauth2_provider.views import TokenView
from oauthlib.common import Request as OauthlibRequest  # type: ignore[import-untyped]  # oauthlib ships no types

from accounts.oauth import CREDENTIAL_SCOPE, ApiClientOAuth2Validator, api_client_for_application, is_plain_text
from accounts.services.api_clients import api_client_token_refused
from core.errors import ApplicationError
from core.ratelimit import _parse, client_ip, consume, hit
from signing.services import credential_code_exchange

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


def body_params(request: HttpRequest) -> dict[str, str] | None:
    """The parameters of a form or JSON body (the last of a repeated one); None if it cannot be read."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
        if not isinstance(data, dict):
            return None
        return {k: v for k, v in data.items() if isinstance(v, str) and is_plain_text(k) and is_plain_text(v)}
    if not _form_readable(request):
        return None
    return {key: str(value) for key, value in request.POST.items()}


def _oauth_error(error: str, description: str, status: int = 400) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    if status == 401:
        response["WWW-Authenticate"] = 'Basic realm="oauth2"'
    return response


def _authorization_code_token(request: HttpRequest) -> HttpResponse:
    """``grant_type=authorization_code``: the client authenticated as for client credentials (Basic or
    body), then the code, its redirect URI and the PKCE verifier (``credential_code_exchange``)."""
    core = get_oauthlib_core()
    uri, http_method, body, headers = core._extract_params(request)
    oauth_request = OauthlibRequest(uri, http_method, body, headers)
    if oauth_request.duplicate_params:
        return _oauth_error("invalid_request", "Duplicate parameter " + ", ".join(oauth_request.duplicate_params))
    validator = ApiClientOAuth2Validator()
    if not validator.authenticate_client(oauth_request):
        return _oauth_error("invalid_client", "Client authentication failed.", status=401)
    application = oauth_request.client
    api_client = api_client_for_application(application)
    if api_client is None:
        return _oauth_error("invalid_client", "Client authentication failed.", status=401)
    if not validator.validate_grant_type(
        application.client_id, "authorization_code", application, oauth_request
    ):
        return _oauth_error("unauthorized_client", "The client may not use the authorization code grant.")
    claimed = oauth_request.client_id
    if claimed and claimed != application.client_id:
        return _oauth_error("invalid_grant", "The code was not issued to this client.")
    code, redirect_uri, verifier = (str(oauth_request.code or ""), str(oauth_request.redirect_uri or ""),
                                    str(oauth_request.code_verifier or ""))
    if not code or not redirect_uri:
        return _oauth_error("invalid_request", "Missing parameter code or redirect_uri.")
    if not verifier:
        return _oauth_error("invalid_request", "Missing parameter code_verifier (PKCE is required).")
    try:
        token, expires_in = credential_code_exchange(
            client=api_client, code=code, redirect_uri=redirect_uri, code_verifier=verifier, ip=client_ip(request)
        )
    except ApplicationError as exc:
        return _oauth_error(exc.code, str(exc.message))
    response = JsonResponse(
        {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": CREDENTIAL_SCOPE}
    )
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


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
    params = body_params(request) or {}
    if params.get("grant_type") == "authorization_code":
        response = _authorization_code_token(request)
    else:
        response = _token_view(request)
    if response.status_code == 200:
        attempt.undo()
    elif response.status_code == 401:  # invalid_client: unknown id, revoked client or wrong secret
        api_client_token_refused(client_id=client_id, ip=ip)
    return response
