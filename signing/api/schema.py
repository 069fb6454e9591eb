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


class CscErrorSerializer(serializers.Serializer):
    error = serializers.CharField(
        help_text="CSC error code: invalid_request, invalid_token, insufficient_scope, access_denied, invalid_pin, "
        "locked_pin, invalid_otp, locked_otp, sad_expired, unauthorized_hash, num_signatures_too_high, "
        "credential_is_disabled, too_many_requests"
    )
    error_description = serializers.CharField(help_text="What went wrong, in the language asked for")

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
CLIENT_CALL = (400, 401, 403, 413, 415, 429)


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
