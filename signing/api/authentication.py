"""Who is calling: an API client holding a bearer token from /oauth2/token; what it may do: its scopes."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.utils.cache import add_never_cache_headers
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from oauth2_provider.models import get_access_token_model
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import NotAuthenticated, Throttled
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.views import APIView

from accounts.models import ApiClient
from accounts.oauth import CREDENTIAL_SCOPE, SERVICE_SCOPE, api_client_for_application
from core.ratelimit import _parse, consume
from signing.api.exceptions import InsufficientScope, InvalidToken

_MAX_TOKEN_LENGTH = 255


class ApiClientPrincipal:
    """``request.user`` of an API call: the client, and through it the one organization it acts for."""

    is_authenticated = True
    is_anonymous = False
    pk = None

    def __init__(self, api_client: ApiClient, bearer: str = "") -> None:
        self.api_client = api_client
        self.organization = api_client.organization
        # The bearer value as presented, for this request only: a "credential" token's SAD is sealed
        # under a key derived from it (the database keeps only its SHA-256), so the view needs it to
        # sign. Never logged, never stored.
        self.bearer = bearer

    def __repr__(self) -> str:
        return f"<ApiClientPrincipal {self.username}>"  # never the bearer

    @property
    def username(self) -> str:
        return f"api-client:{self.api_client.application.client_id}"

    def __str__(self) -> str:
        return self.username


class ApiClientAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>`` issued to a client that is still usable (not revoked)."""

    def authenticate(self, request: Any) -> tuple[ApiClientPrincipal, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2 or len(parts[1]) > _MAX_TOKEN_LENGTH:
            raise InvalidToken()
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise InvalidToken() from exc
        # Tokens are stored only as their SHA-256 (COMPLIANT_BCP_RFC9700_TOKEN_STORAGE): the lookup is
        # by checksum, so no comparison of secrets happens in Python at all.
        checksum = hashlib.sha256(raw.encode()).hexdigest()
        access_token = (
            get_access_token_model().objects.select_related("application").filter(token_checksum=checksum).first()
        )
        if access_token is None or access_token.is_expired():
            raise InvalidToken()
        api_client = api_client_for_application(access_token.application)
        if api_client is None:
            raise InvalidToken()
        return ApiClientPrincipal(api_client, bearer=raw), access_token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


class HasApiScope(BasePermission):
    """The token carries the view's ``required_scope``, and the client still has it granted."""

    def has_permission(self, request: Any, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, ApiClientPrincipal) or request.auth is None:
            return False
        scope = getattr(view, "required_scope", None)
        granted = set(str(request.auth.scope or "").split())
        if CREDENTIAL_SCOPE in granted:
            # A token of the holder's consent signs (the views that say so), and does nothing else.
            if not getattr(view, "credential_token_accepted", False) or not principal.api_client.allows_scope(
                "csc"
            ):
                raise InsufficientScope()
            return True
        if scope is None:
            return True
        if SERVICE_SCOPE in granted and scope == "csc":  # CSC v2's name for the CSC functions
            granted.add("csc")
        if scope not in granted or not principal.api_client.allows_scope(scope):
            raise InsufficientScope()
        return True


class ApiClientRateLimit(BasePermission):
    """Each client's budget of calls (``RATE_LIMITS["api_client"]``), whatever the endpoint."""

    def has_permission(self, request: Any, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, ApiClientPrincipal):
            return True
        if consume("api_client", str(principal.api_client.pk)):
            return True
        _limit, window = _parse(settings.RATE_LIMITS["api_client"])
        raise Throttled(wait=window)


class ApiClientView(APIView):
    """A call of an organization's API client holding ``required_scope`` (set by each API's base view):
    authenticated, rate-limited, its input validated by a nested ``InputSerializer``.

    No answer is ever stored by a cache: these carry SADs (a bearer key to sign), certificates and
    signed PDFs, and even a refusal says something about a holder. One place, every operation.
    """

    authentication_classes = [ApiClientAuthentication]
    permission_classes = [IsAuthenticated, ApiClientRateLimit, HasApiScope]
    required_scope = ""

    @property
    def client(self) -> ApiClient:
        principal = self.request.user
        if not isinstance(principal, ApiClientPrincipal):  # never: HasApiScope lets only API clients in
            raise NotAuthenticated()
        return principal.api_client

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    def input(self, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class ApiClientAuthenticationScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the authentication: OAuth 2.0 client credentials, bearer token."""

    target_class = "signing.api.authentication.ApiClientAuthentication"
    name = "oauth2ClientCredentials"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "/oauth2/token", "scopes": dict(settings.API_SCOPES)}},
        }

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]]:
        scope = getattr(auto_schema.view, "required_scope", None)
        return {self.name: [scope] if scope else []}
