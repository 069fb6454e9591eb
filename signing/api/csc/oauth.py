"""CSC API v2 OAuth 2.0 for the holder's consent: the authorization endpoint (the consent page, PIN +
OTP typed here, never by the client), token revocation (RFC 7009), the server's metadata (RFC 8414),
and how a signing call finds its SAD when the bearer is a ``credential`` token.

The code exchange is the token endpoint's (``signing/api/token.py``); the rules and the cryptography
are ``signing/services/oauth.py`` and ``signing/sad.py``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from oauth2_provider.models import get_access_token_model, get_application_model
from oauth2_provider.views import RevokeTokenView
from oauthlib.common import add_params_to_uri  # type: ignore[import-untyped]  # oauthlib ships no types

from accounts.models import ApiClient, UserKind
from accounts.oauth import CREDENTIAL_SCOPE, CSC_SCOPES, ApiClientOAuth2Validator, api_client_for_application
from accounts.selectors import holder_for_user
from certificates.models import Certificate
from core.errors import ApplicationError
from core.ratelimit import client_ip, consume
from otp.forms import SMS_CHOICE, code_device_choices
from otp.selectors import device_get_for_holder
from otp.views.panel import signing_code_post
from signing.api.csc.algorithms import invalid_request
from signing.api.selectors import credential_get_usable_for_api_client
from signing.api.token import body_params
from signing.oauth_forms import (
    CredentialConsentForm,
    CredentialRequest,
    RequestError,
    client_and_redirect,
    credential_request_parse,
)
from signing.sad import secret_checksum
from signing.services import (
    credential_code_issue,
    credential_consent_refuse,
    credential_grant_sad,
    credential_token_revoked,
)

FIELD_OF_ERROR = {"invalid_pin": "pin", "locked_pin": "pin", "invalid_otp": "code", "locked_otp": "code",
                  "otp_replayed": "code"}


def issuer(request: HttpRequest) -> str:
    """This authorization server's identifier: the site's base URL as the request sees it (RFC 8414)."""
    return request.build_absolute_uri("/").rstrip("/")


# --- Signing with a "credential" token ------------------------------------------------------------


def _credential_token(request: Any) -> bool:
    token = request.auth
    return token is not None and CREDENTIAL_SCOPE in str(token.scope or "").split()


def request_sad_check(request: Any, data: dict[str, Any]) -> None:
    """A signing call names its authorization: a ``SAD`` in the body, or a ``credential`` access token
    (checked with the input, before the credential is looked up, as the error tables order it)."""
    if not _credential_token(request) and not data.get("SAD"):
        raise invalid_request("Missing (or invalid type) string parameter SAD")


def request_sad(request: Any, data: dict[str, Any], certificate: Certificate) -> str:
    """The SAD of a signing call: the body's ``SAD``, or — with a ``credential`` access token, which
    stands for it — the SAD the holder's consent sealed under that token."""
    if _credential_token(request):
        if data.get("SAD"):
            raise invalid_request("Invalid parameter SAD: the access token already carries the authorization")
        return credential_grant_sad(access_token=request.auth, bearer=getattr(request.user, "bearer", ""),
                                    certificate=certificate)
    request_sad_check(request, data)
    return str(data["SAD"])


# --- Authorization endpoint: the consent page -----------------------------------------------------


def _client(client_id: str) -> ApiClient | None:
    if not client_id or len(client_id) > 100 or not client_id.isprintable():
        return None
    application = get_application_model().objects.filter(client_id=client_id).first()
    return api_client_for_application(application)


def _error_page(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    # Until client and redirect URI are known good nothing is redirected: an error page is not an
    # open redirect.
    return render(request, "signing/csc_oauth_error.html", {"message": message}, status=status)


def _back_to_client(request: HttpRequest, redirect_uri: str, state: str, **params: str) -> HttpResponseRedirect:
    values = dict(params)
    if state:
        values["state"] = state
    values["iss"] = issuer(request)  # RFC 9207: the client checks who answers (mix-up attacks)
    response = HttpResponseRedirect(add_params_to_uri(redirect_uri, list(values.items())))
    response["Cache-Control"] = "no-store"
    return response


def _consent_csp(redirect_uri: str) -> str:
    # After the form is sent the browser follows our redirect to the client: CSP form-action covers
    # that redirect, so the page allows the registered redirect URI's origin besides its own.
    parts = urlsplit(redirect_uri)
    return settings.CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'", f"form-action 'self' {parts.scheme}://{parts.netloc}"
    )


@sensitive_post_parameters("pin", "code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def authorize_view(request: HttpRequest) -> HttpResponse:
    try:
        client_id, redirect_uri = client_and_redirect(request.GET)
    except RequestError:
        return _error_page(request, _("The signing request is not valid."))
    api_client = _client(client_id)
    if (
        api_client is None
        or not redirect_uri
        or not api_client.application.redirect_uri_allowed(redirect_uri)
        or not ApiClientOAuth2Validator().validate_grant_type(
            client_id, "authorization_code", api_client.application, None
        )
    ):
        return _error_page(request, _(
            "The application that sent you here is not known, or it did not register this return address. "
            "Nothing was signed; go back to the application and contact its administrator."
        ))
    state = request.GET.get("state", "")[:500]
    try:
        credential_request = credential_request_parse(request.GET)
    except RequestError as exc:
        return _back_to_client(request, redirect_uri, state, error=exc.error, error_description=exc.description)
    if len(credential_request.digests) > settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION:
        return _back_to_client(request, redirect_uri, state, error="invalid_request",
                               error_description="numSignatures is greater than multisign")
    user = request.user
    if not user.is_authenticated or getattr(user, "kind", None) != UserKind.HOLDER:
        # The credential is looked up only for its signed-in holder: an anonymous visitor learns nothing.
        return redirect_to_login(request.get_full_path(), resolve_url("accounts:login"))
    holder = holder_for_user(user=user)
    try:
        certificate = credential_get_usable_for_api_client(
            client=api_client, credential_id=credential_request.credential_id
        )
        if certificate.holder_id != holder.pk:
            raise Certificate.DoesNotExist
    except (Certificate.DoesNotExist, ApplicationError):
        credential_consent_refuse(client=api_client, holder=holder, certificate=None, ip=client_ip(request),
                                  reason="credential")
        return _back_to_client(request, redirect_uri, state, error="invalid_request",
                               error_description="Invalid parameter credentialID")
    response = _consent(request, api_client=api_client, holder=holder, certificate=certificate,
                        credential_request=credential_request, redirect_uri=redirect_uri, state=state)
    response["Content-Security-Policy"] = _consent_csp(redirect_uri)
    return response


def _consent(
    request: HttpRequest, *, api_client: ApiClient, holder: Any, certificate: Certificate,
    credential_request: CredentialRequest, redirect_uri: str, state: str,
) -> HttpResponse:
    choices, sms_device = code_device_choices(holder)
    sending = request.method == "POST" and "send_sms" in request.POST
    form = CredentialConsentForm(
        request.POST if request.method == "POST" and not sending else None, devices=choices,
        initial={"device": SMS_CHOICE} if sending else None,
    )
    status = 200
    sms_notice = sms_error = ""
    if request.method == "POST":
        if request.POST.get("decision") == "deny":
            credential_consent_refuse(client=api_client, holder=holder, certificate=certificate,
                                      ip=client_ip(request))
            return _back_to_client(request, redirect_uri, state, error="access_denied",
                                   error_description="The holder refused the authorization")
        # Every other POST checks (or sends) an OTP: the same budget as the panel's signing page.
        start = signing_code_post(request, holder, sms_device=sms_device, sending=sending)
        if start.response is not None:
            return start.response
        status, sms_notice, sms_error = start.status, start.sms_notice, start.sms_error
        if sending:
            pass  # "send me a code by SMS": its notice or error is shown, the form stays unbound
        elif form.is_valid():
            data = form.cleaned_data
            by_sms = data["device"] == SMS_CHOICE
            try:
                device = None if by_sms else device_get_for_holder(holder=holder, public_id=data["device"])
                code = credential_code_issue(
                    client=api_client, holder=holder, certificate=certificate, redirect_uri=redirect_uri,
                    code_challenge=credential_request.code_challenge, pin=data["pin"], otp_code=data["code"],
                    otp_device=device, sms=by_sms, hashes=[d.value for d in credential_request.digests],
                    hash_algorithm=credential_request.hash_algorithm, ip=client_ip(request),
                )
            except ApplicationError as exc:
                field = exc.field if exc.field in form.fields else FIELD_OF_ERROR.get(exc.code)
                form.add_error(field, str(exc.message))
                status = 400
            else:
                return _back_to_client(request, redirect_uri, state, code=code)
        else:
            status = 400
    return render(
        request, "signing/csc_oauth_consent.html",
        {
            "holder": holder, "api_client": api_client, "certificate": certificate,
            "request_data": credential_request, "form": form, "has_devices": bool(choices),
            "sms_usable": sms_device is not None, "sms_notice": sms_notice, "sms_error": sms_error,
            "redirect_host": urlsplit(redirect_uri).netloc, "action": request.get_full_path(),
            "hash_name": credential_request.hash_algorithm.upper().replace("SHA", "SHA-"),
        },
        status=status,
    )


# --- Revocation (RFC 7009) ------------------------------------------------------------------------

_revoke_view = RevokeTokenView.as_view()


@csrf_exempt
@never_cache
@require_POST
def revoke_view(request: HttpRequest) -> HttpResponse:
    """Revoke an access token (client credentials or ``credential``): the toolkit checks the client and
    deletes the token — a ``credential`` token's sealed SAD goes with it. Audited when a token went."""
    if len(request.body) > 16 * 1024:
        return JsonResponse({"error": "invalid_request", "error_description": _("The request is too large.")},
                            status=413)
    if not consume("api_token_ip", client_ip(request)):
        return JsonResponse({"error": "too_many_requests",
                             "error_description": _("Too many token requests: try again later.")}, status=429)
    params = body_params(request)
    if params is None:
        return JsonResponse({"error": "invalid_request",
                             "error_description": _("The request body cannot be read.")}, status=400)
    token = params.get("token", "")
    before = (
        list(get_access_token_model().objects.filter(token_checksum=secret_checksum(token))
             .values_list("pk", "application_id", "scope"))
        if token and token.isascii() and len(token) <= 255 else []
    )
    response = _revoke_view(request)
    if response.status_code == 200 and before:
        gone = set(pk for pk, _app, _scope in before) - set(
            get_access_token_model().objects.filter(pk__in=[pk for pk, _a, _s in before]).values_list("pk", flat=True)
        )
        for pk, application_id, scope in before:
            api_client = ApiClient.objects.filter(application_id=application_id).select_related("application").first()
            if pk in gone and api_client is not None:
                credential_token_revoked(client=api_client, token_kind=scope, ip=client_ip(request))
    response["Cache-Control"] = "no-store"
    return response


# --- Metadata (RFC 8414) --------------------------------------------------------------------------


@require_GET
def metadata_view(request: HttpRequest) -> JsonResponse:
    base = issuer(request)
    return JsonResponse({
        "issuer": base,
        "authorization_endpoint": base + reverse("csc_v2_oauth2_authorize"),
        "token_endpoint": base + reverse("csc_v2_oauth2_token"),
        "revocation_endpoint": base + reverse("csc_v2_oauth2_revoke"),
        "grant_types_supported": ["client_credentials", "authorization_code"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": sorted({*settings.API_SCOPES, *CSC_SCOPES}),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_details_types_supported": ["credential"],
        "authorization_response_iss_parameter_supported": True,
    })
