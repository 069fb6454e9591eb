"""The one exception handler of every API (REST_FRAMEWORK["EXCEPTION_HANDLER"]).

Domain errors (:class:`core.errors.ApplicationError`) and DRF's own errors become a status and
a body. Under ``/csc/`` the body is the Cloud Signature Consortium's ``{"error", "error_description"}``
with its codes, so CSC clients (pyHanko's among them) read every failure the same way; elsewhere it is
``{"code", "message", "fields"}``. Whatever a client sends, the answer is a 4xx, never a 500.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from certificates.vault import VaultUnavailable
from core.errors import ApplicationError
from core.outage import OUTAGE_DESCRIPTION, RETRY_AFTER_SECONDS, database_unreachable
from signing.api.parsers import RequestTooLarge

# The error codes CSC clients may receive as they are (the specification's common ones, RFC 6749/6750
# ones of the token checks). Every other domain code is translated by CSC_SPEC_ERRORS or answered as
# invalid_request.
CSC_ERROR_CODES = frozenset(
    {
        "invalid_request",
        "invalid_token",
        "insufficient_scope",
        "access_denied",
        "too_many_requests",
        "not_implemented",
        "temporarily_unavailable",  # RFC 6749's word for a service that cannot answer now
    }
)

# Domain refusals as the CSC error tables word them: (error, error_description) for v1 (1.0.4.0) and
# v2 (2.0.0.2). A client matches on these fixed English strings; what the service itself says (which
# factor was wrong, how many attempts are left) travels beside them in ``error_details``, in the
# language of the call.
CSC_SPEC_ERRORS: dict[str, dict[str, tuple[str, str]]] = {
    "invalid_pin": {"v1": ("invalid_request", "The PIN is invalid"),
                    "v2": ("invalid_authentication_data", "The authentication data is invalid")},
    "invalid_otp": {"v1": ("invalid_request", "The OTP is invalid"),
                    "v2": ("invalid_authentication_data", "The authentication data is invalid")},
    "otp_replayed": {"v1": ("invalid_request", "The OTP is invalid"),
                     "v2": ("invalid_authentication_data", "The authentication data is invalid")},
    "locked_pin": {"v1": ("invalid_request", "PIN locked"), "v2": ("invalid_request", "Credential locked")},
    "locked_otp": {"v1": ("invalid_request", "OTP locked"), "v2": ("invalid_request", "Credential locked")},
    "num_signatures_too_high": {"v1": ("invalid_request", "Numbers of signatures is too high"),
                                "v2": ("invalid_request", "Numbers of signatures is too high")},
    "sad_expired": {"v1": ("invalid_request", "SAD expired"), "v2": ("invalid_request", "SAD expired")},
    "unauthorized_hash": {"v1": ("invalid_request", "Hash is not authorized by the SAD"),
                          "v2": ("invalid_request", "Hash is not authorized by the SAD")},
    "credential_is_disabled": {
        "v1": ("invalid_request", "The credential identified by credentialID is disabled"),
        "v2": ("invalid_request", "The credential identified by credentialID is disabled"),
    },
    "credential_expired": {"v1": ("invalid_request", "Signing certificate is expired"),
                           "v2": ("invalid_request", "Signing certificate is expired")},
}

# HTTP status of domain error codes; the rest are 400 Bad Request.
APPLICATION_ERROR_STATUS = {
    "forbidden": status.HTTP_403_FORBIDDEN,
    "sms_code_cooldown": status.HTTP_429_TOO_MANY_REQUESTS,
    "sms_code_hourly_limit": status.HTTP_429_TOO_MANY_REQUESTS,
    "not_implemented": status.HTTP_501_NOT_IMPLEMENTED,
    "job_expired": status.HTTP_410_GONE,
    "file_too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "batch_too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
}
APPLICATION_ERROR_CSC_CODE = {
    "sms_code_cooldown": "too_many_requests",
    "sms_code_hourly_limit": "too_many_requests",
}


class InvalidToken(exceptions.AuthenticationFailed):
    default_detail = "The access token is not valid."
    default_code = "invalid_token"


class InsufficientScope(exceptions.PermissionDenied):
    default_detail = "The access token does not grant this function."
    default_code = "insufficient_scope"


def is_csc_request(request: Any) -> bool:
    return bool(request is not None and str(getattr(request, "path", "")).startswith("/csc/"))


def csc_version_of(request: Any) -> str:
    """``v1`` or ``v2``: which tables a CSC request's errors follow (v2 for anything not under v1)."""
    return "v1" if str(getattr(request, "path", "")).startswith("/csc/v1/") else "v2"


def _describe_validation(detail: Any, prefix: str = "") -> tuple[str, dict[str, list[str]]]:
    """The first problem as one CSC-style sentence, and every problem by field."""
    fields: dict[str, list[str]] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            fields.setdefault(path or "non_field_errors", []).extend(str(v) for v in value)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, f"{path}[{index}]" if path else f"[{index}]")
        else:
            fields.setdefault(path or "non_field_errors", []).append(str(value))

    walk(detail, prefix)
    if not fields:
        return "Invalid request.", fields
    field, messages = next(iter(fields.items()))
    codes = _codes_of(detail, field)
    if field == "non_field_errors":
        return messages[0], fields
    name = field.split(".")[0].split("[")[0]
    if "required" in codes:
        return f"Missing parameter {name}", fields
    return f"Invalid parameter {name}: {messages[0]}", fields


def _codes_of(detail: Any, field: str) -> set[str]:
    node = detail
    for part in field.replace("[", ".").replace("]", "").split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            break
    items = node if isinstance(node, list) else [node]
    return {getattr(item, "code", "") for item in items}


def _classify(exc: Exception) -> tuple[int, str, str, dict[str, list[str]], dict[str, str]]:
    """(status, code, description, fields, headers) for any exception an API view may raise."""
    headers: dict[str, str] = {}
    if isinstance(exc, VaultUnavailable):
        # The signing device is out: nothing was signed or spent; the same request may be sent again.
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return 503, "temporarily_unavailable", "The signing service is temporarily unavailable.", {}, headers
    if database_unreachable(exc):
        # The database is out (stopped, failing over): the transaction did not commit; retry.
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return 503, "temporarily_unavailable", OUTAGE_DESCRIPTION, {}, headers
    if isinstance(exc, ApplicationError):
        fields = {exc.field: [str(exc.message)]} if exc.field else {}
        return APPLICATION_ERROR_STATUS.get(exc.code, 400), exc.code, str(exc.message), fields, headers
    if isinstance(exc, exceptions.ValidationError):
        description, fields = _describe_validation(exc.detail)
        return 400, "invalid_request", description, fields, headers
    if isinstance(exc, RequestTooLarge) or isinstance(exc, RequestDataTooBig):
        return 413, "invalid_request", "The request body is too large.", {}, headers
    if isinstance(exc, exceptions.ParseError):
        return 400, "invalid_request", str(exc.detail), {}, headers
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return 415, "invalid_request", "The request body must be application/json.", {}, headers
    if isinstance(exc, exceptions.NotAuthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return 401, "invalid_token", "An access token is required (Authorization: Bearer).", {}, headers
    if isinstance(exc, exceptions.AuthenticationFailed):
        headers["WWW-Authenticate"] = 'Bearer realm="api", error="invalid_token"'
        return 401, "invalid_token", str(exc.detail), {}, headers
    if isinstance(exc, InsufficientScope):
        headers["WWW-Authenticate"] = 'Bearer realm="api", error="insufficient_scope"'
        return 403, "insufficient_scope", str(exc.detail), {}, headers
    if isinstance(exc, exceptions.Throttled):
        wait: float | None = exc.wait  # type: ignore[attr-defined]  # set by Throttled.__init__, absent in the stubs
        if wait:
            headers["Retry-After"] = str(int(wait))
        return 429, "too_many_requests", "Too many requests: try again later.", {}, headers
    if isinstance(exc, exceptions.MethodNotAllowed):
        return 405, "invalid_request", str(exc.detail), {}, headers
    if isinstance(exc, exceptions.NotAcceptable):
        return 406, "invalid_request", str(exc.detail), {}, headers
    if isinstance(exc, exceptions.PermissionDenied | DjangoPermissionDenied):
        return 403, "access_denied", "Not allowed.", {}, headers
    if isinstance(exc, exceptions.NotFound | Http404):
        return 404, "invalid_request", "Not found.", {}, headers
    if isinstance(exc, SuspiciousOperation):
        return 400, "invalid_request", "Invalid request.", {}, headers
    if isinstance(exc, exceptions.APIException):
        return exc.status_code, "invalid_request", str(exc.detail), {}, headers
    raise exc


def error_response(*, csc: bool, status_code: int, code: str, description: str,
                   fields: dict[str, list[str]] | None = None, headers: dict[str, str] | None = None,
                   csc_version: str = "v2") -> Response:
    if csc:
        spec = CSC_SPEC_ERRORS.get(code, {}).get(csc_version)
        if spec is not None:
            csc_code, csc_description = spec
            body: dict[str, Any] = {
                "error": csc_code, "error_description": csc_description,
                "error_details": {"code": code, "message": description},
            }
        else:
            csc_code = APPLICATION_ERROR_CSC_CODE.get(code, code)
            if csc_code not in CSC_ERROR_CODES:
                csc_code = "access_denied" if status_code == 403 else "invalid_request"
            body = {"error": csc_code, "error_description": description}
    else:
        body = {"code": code, "message": description, "fields": fields or {}}
    return Response(body, status=status_code, headers=headers)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    request = context.get("request")
    try:
        status_code, code, description, fields, headers = _classify(exc)
    except Exception:  # noqa: BLE001 — not ours to answer: a real bug stays a 500 with its traceback
        return None
    return error_response(
        csc=is_csc_request(request), status_code=status_code, code=code, description=description,
        fields=fields, headers=headers, csc_version=csc_version_of(request),
    )
