"""django-oauth-toolkit, fitted to API clients: client credentials, scopes per client, revocation.

The toolkit does the OAuth 2.0 protocol (token endpoint, hashed secrets and tokens); what it cannot
know lives in :class:`accounts.models.ApiClient` and is enforced here: a revoked client (or one of an
inactive organization) does not authenticate, so it gets no token, and its existing tokens stop
working; a client may only obtain the scopes its organization admin granted it.

Two scopes come from the CSC API v2 itself, never granted one by one: ``service`` (client
credentials: the CSC functions, the same as ``csc``) and ``credential`` (the authorization-code flow
of the holder's consent page: a token that signs what the holder authorized, once). A client with
registered redirect URIs and the ``csc`` function may use that flow besides client credentials; the
code exchange itself is ``signing``'s (``signing/api/token.py``), since its codes carry a SAD.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from oauth2_provider.oauth2_backends import OAuthLibCore
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes

from accounts.models import ApiClient

# CSC API v2 scopes: "service" is asked with client credentials and means the CSC functions;
# "credential" is given only by the authorization-code flow (the holder's consent with PIN + OTP).
SERVICE_SCOPE = "service"
CREDENTIAL_SCOPE = "credential"
CSC_SCOPES = {
    SERVICE_SCOPE: "CSC API: service authorization (client credentials)",
    CREDENTIAL_SCOPE: "CSC API: credential authorization by the holder (authorization code)",
}


def is_plain_text(value: str) -> bool:
    """Text a database can store and compare: no NUL (PostgreSQL refuses it in a query) and no lone
    surrogate (not encodable as UTF-8), as a JSON body (``"\\u0000"``, ``"\\ud800"``) can carry."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def api_client_for_application(application: Any) -> ApiClient | None:
    """The usable API client behind an OAuth application, or ``None`` (revoked, inactive, unknown)."""
    if application is None:
        return None
    return (
        ApiClient.objects.select_related("organization", "application")
        .filter(application=application, revoked_at__isnull=True, organization__is_active=True)
        .first()
    )


class ApiClientOAuth2Validator(OAuth2Validator):
    def _authenticate_basic_auth(self, request: Any) -> bool:
        # The toolkit base64-decodes the header's str, which raises ValueError (not binascii.Error,
        # which it handles) on any non-ASCII character: such a header is simply not a client.
        auth_string = self._extract_basic_auth(request)
        if auth_string and not auth_string.isascii():
            return False
        return bool(super()._authenticate_basic_auth(request))

    def _load_application(self, client_id: str, request: Any) -> Any:
        if not isinstance(client_id, str) or not is_plain_text(client_id):
            request.client = None  # answered like an unknown client id, without asking the database
            return None
        application = super()._load_application(client_id, request)
        if application is not None and api_client_for_application(application) is None:
            # Answered exactly like an unknown client id: invalid_client.
            request.client = None
            return None
        return application

    def validate_grant_type(
        self, client_id: str, grant_type: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        # The toolkit's Application has one grant type (client credentials, for every API client); the
        # authorization code is allowed as well to a client that registered where to send the holder
        # back and that may use the CSC functions.
        if grant_type == "authorization_code":
            api_client = api_client_for_application(client)
            return (
                api_client is not None
                and bool(str(client.redirect_uris or "").split())
                and api_client.allows_scope("csc")
            )
        return bool(super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs))

    def validate_scopes(
        self, client_id: str, scopes: list[str], client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        # CSC clients ask for "credential" with client credentials too (the specification's scope for
        # signing). Without the holder's consent it can only mean the CSC functions: the token is
        # issued as "service", and the answer's "scope" says so (RFC 6749, section 3.3).
        if getattr(request, "grant_type", None) == "client_credentials" and CREDENTIAL_SCOPE in scopes:
            scopes = list(dict.fromkeys(SERVICE_SCOPE if s == CREDENTIAL_SCOPE else s for s in scopes))
            request.scopes = scopes
        return bool(super().validate_scopes(client_id, scopes, client, request, *args, **kwargs))

    def validate_bearer_token(self, token: str, scopes: list[str], request: Any) -> bool:
        if not super().validate_bearer_token(token, scopes, request):
            return False
        return api_client_for_application(getattr(request, "client", None)) is not None


class ApiClientScopes(BaseScopes):
    """The scopes a client may obtain are the ones granted to it; asking for none gets all of them."""

    def get_all_scopes(self) -> dict[str, str]:
        return {**settings.API_SCOPES, **CSC_SCOPES}

    def _granted(self, application: Any) -> list[str]:
        api_client = api_client_for_application(application)
        if api_client is None:
            return []
        return [scope for scope in api_client.scopes if scope in settings.API_SCOPES]

    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        # What a client-credentials request may ask for: the granted functions, and CSC's "service"
        # for a client with "csc". Never "credential": only the holder's consent gives that one.
        granted = self._granted(application)
        return [*granted, SERVICE_SCOPE] if "csc" in granted else granted

    def get_default_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        return self._granted(application)


class FormOrJsonOAuthLibCore(OAuthLibCore):
    """The token endpoint takes the standard form body, and also a JSON object (CSC clients send either)."""

    def extract_body(self, request: HttpRequest) -> list[tuple[str, str]]:
        if request.content_type == "application/json":
            try:
                data = json.loads(request.body or b"{}")
            except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: "[[[[…", deeply nested
                return []
            if not isinstance(data, dict):
                return []
            # oauthlib re-encodes the parameters as UTF-8: a lone surrogate ("\\ud800") would crash it.
            return [(k, v) for k, v in data.items() if isinstance(v, str) and is_plain_text(k) and is_plain_text(v)]
        return super().extract_body(request)
