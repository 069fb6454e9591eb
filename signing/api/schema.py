"""What the OpenAPI schema says about failures: the two error bodies of
:func:`signing.api.exceptions.api_exception_handler` and, per operation, the statuses it answers with.

A client generated from the schema (or a contract test run against it) must find every status an
operation can answer documented, with the body it really carries: the CSC form under ``/csc/``, the
native form under ``/api/``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class CscErrorDetailsSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="The service's own code: invalid_pin, locked_pin, invalid_otp, otp_replayed, locked_otp, "
        "sad_expired, unauthorized_hash, num_signatures_too_high, credential_is_disabled, credential_expired")
    message = serializers.CharField(help_text="What went wrong, in the language of the call")

    class Meta:
        ref_name = "CscErrorDetails"


class CscErrorSerializer(serializers.Serializer):
    error = serializers.CharField(
        help_text="CSC error code, as the specification's tables give it: invalid_request, "
        "invalid_authentication_data (v2: a wrong PIN or OTP), invalid_token, insufficient_scope, access_denied, "
        "too_many_requests"
    )
    error_description = serializers.CharField(
        help_text="The specification's description where its tables have one (\"The PIN is invalid\", "
        "\"SAD expired\"…), otherwise what went wrong, in the language asked for")
    error_details = CscErrorDetailsSerializer(
        required=False, help_text="For a refusal of the signing service: its own code and message")

    class Meta:
        ref_name = "CscError"


class ApiErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable error code, e.g. invalid_request, job_expired")
    message = serializers.CharField(help_text="What went wrong, in the language asked for")
    # A field named "fields" (the error body's key): the metaclass moves it into _declared_fields, so
    # Serializer.fields is not shadowed at run time; mypy only sees the class attribute.
    fields = serializers.DictField(  # type: ignore[assignment]  # see above
        child=serializers.ListField(child=serializers.CharField()),
        help_text="The problems by input field (empty when the error is not about one field)",
    )

    class Meta:
        ref_name = "ApiError"


# What each status means, whatever the operation (an operation may add its own detail for 400).
_MEANINGS = {
    400: "Invalid request: a parameter missing or malformed, the body not JSON, or a refusal of the signing "
    "engine",
    401: "No access token, or one that is not valid (expired, or its client revoked)",
    403: "The access token does not grant this operation",
    404: "Not found (a missing resource and another organization's are the same answer)",
    410: "The results have expired and were deleted",
    413: "The request body is too large",
    415: "The body is not in a media type the operation takes",
    429: "Too many requests: try again after Retry-After seconds",
    503: "Temporarily unavailable (the key device cannot be reached): nothing was signed or spent; send the same "
    "request again after Retry-After seconds",
}


def error_responses(*statuses: int, csc: bool, **details: str) -> dict[int, OpenApiResponse]:
    """The error answers of an operation: ``error_responses(400, 401, csc=True, s400="…")``."""
    body = CscErrorSerializer if csc else ApiErrorSerializer
    answers = {}
    for status in statuses:
        meaning = _MEANINGS[status]
        extra = details.get(f"s{status}")
        answers[status] = OpenApiResponse(body, description=f"{meaning}: {extra}" if extra else meaning)
    return answers


# The statuses of every operation of an API client (a bearer token, a JSON body, a rate limit).
CLIENT_CALL = (400, 401, 403, 413, 415, 429, 503)


class Base64FieldScheme(OpenApiSerializerFieldExtension):
    """A base64 field is ``format: byte`` (and a hash says which lengths it takes): a client generated
    from the schema, or a contract test, sends what the API can decode."""

    target_class = "signing.api.csc.fields.Base64Field"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        schema["format"] = "byte"
        pattern = getattr(self.target, "schema_pattern", None)
        if pattern:
            schema["pattern"] = pattern
        return schema


# --- The OAuth 2.0 token endpoint (a django-oauth-toolkit view, outside DRF) ------------------------

_TOKEN_REQUEST = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials", "authorization_code"]},
        "scope": {"type": "string", "description": "Space-separated: csc, batch, validation; the CSC names "
                                                   "service and credential are accepted for csc"},
        "client_id": {"type": "string", "description": "With client_secret, when not in the Authorization header"},
        "client_secret": {"type": "string"},
        "code": {"type": "string", "description": "authorization_code: the code the holder's consent gave"},
        "redirect_uri": {"type": "string"},
        "code_verifier": {"type": "string", "description": "authorization_code: the PKCE verifier (S256)"},
    },
}
_TOKEN_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}


def _token_operation(path: str) -> dict[str, Any]:
    return {
        "operationId": "oauth2_token" + path.replace("/", "_").replace("_oauth2_token", ""),
        "summary": "An access token (OAuth 2.0, RFC 6749)",
        "description": "Client credentials (Authorization: Basic, or client_id and client_secret in the body); "
                       "the authorization code of a holder's consent for the CSC credential scope.",
        "tags": ["OAuth 2.0"],
        "security": [],
        "requestBody": {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": _TOKEN_REQUEST},
            "application/json": {"schema": _TOKEN_REQUEST},
        }},
        "responses": {
            "200": {"description": "The token", "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["access_token", "token_type", "expires_in"],
                "properties": {
                    "access_token": {"type": "string"}, "token_type": {"type": "string", "enum": ["Bearer"]},
                    "expires_in": {"type": "integer"}, "scope": {"type": "string"},
                },
            }}}},
            "400": {"description": "invalid_request, invalid_grant, invalid_scope, unsupported_grant_type",
                    "content": {"application/json": {"schema": _TOKEN_ERROR}}},
            "401": {"description": "invalid_client: unknown or revoked client, wrong secret",
                    "content": {"application/json": {"schema": _TOKEN_ERROR}}},
            "413": {"description": _MEANINGS[413], "content": {"application/json": {"schema": _TOKEN_ERROR}}},
            "415": {"description": _MEANINGS[415], "content": {"application/json": {"schema": _TOKEN_ERROR}}},
            "429": {"description": _MEANINGS[429], "content": {"application/json": {"schema": _TOKEN_ERROR}}},
        },
    }


_REVOKE_REQUEST = {
    "type": "object",
    "required": ["token"],
    "properties": {
        "token": {"type": "string", "description": "The access token to revoke"},
        "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
        "client_id": {"type": "string", "description": "With client_secret, when not in the Authorization header"},
        "client_secret": {"type": "string"},
    },
}


def _revoke_operation(path: str) -> dict[str, Any]:
    error = {"application/json": {"schema": _TOKEN_ERROR}}
    return {
        "operationId": "oauth2_revoke" + path.replace("/", "_").replace("_oauth2_revoke", ""),
        "summary": "Revoke an access token (OAuth 2.0, RFC 7009)",
        "description": "The client that holds the token revokes it (a credential token's sealed SAD goes with it). "
                       "An unknown token is answered like a revoked one.",
        "tags": ["OAuth 2.0"],
        "security": [],
        "requestBody": {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": _REVOKE_REQUEST},
            "application/json": {"schema": _REVOKE_REQUEST},
        }},
        "responses": {
            "200": {"description": "Revoked (or not a token of this client: the same answer)"},
            "400": {"description": "invalid_request, unsupported_token_type", "content": error},
            "401": {"description": "invalid_client: unknown or revoked client, wrong secret", "content": error},
            "413": {"description": _MEANINGS[413], "content": error},
            "429": {"description": _MEANINGS[429], "content": error},
        },
    }


def oauth_paths(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing hook: the token and revocation endpoints (``/oauth2/…`` and
    the CSC versions' own) are not DRF views, so the schema gets them here. The authorization
    endpoint is a page for the holder's browser, not an API: ``docs/csc-oauth.md``."""
    paths = result.setdefault("paths", {})
    for prefix in ("", "/csc/v1", "/csc/v2"):
        paths.setdefault(f"{prefix}/oauth2/token", {})["post"] = _token_operation(f"{prefix}/oauth2/token")
        paths.setdefault(f"{prefix}/oauth2/revoke", {})["post"] = _revoke_operation(f"{prefix}/oauth2/revoke")
    return result
