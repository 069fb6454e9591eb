"""A JSON parser that refuses large bodies before reading them, with a limit per view.

Deliberately not a subclass of DRF's ``JSONParser``: DRF 3.16 hands those ``request.body``, which
applies Django's global ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MiB) — too small for signDoc and the
batch API (PDFs in base64), and the wrong place for the limit. This parser gets the stream and reads
at most the view's own limit (``max_body_bytes``, else ``API_MAX_REQUEST_BYTES``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser, MultiPartParser


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def max_body_bytes(view: Any) -> int:
    return int(getattr(view, "max_body_bytes", None) or settings.API_MAX_REQUEST_BYTES)


class LimitedJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        parser_context = parser_context or {}
        limit = max_body_bytes(parser_context.get("view"))
        request = parser_context.get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        try:
            if declared and int(declared) > limit:
                raise RequestTooLarge()
        except ValueError as exc:
            raise ParseError("Invalid Content-Length.") from exc
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge()
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(raw.decode(encoding), parse_constant=_refuse_constant)
        # RecursionError: "[[[[…" nested deeper than the interpreter's stack — a few hundred kB of
        # brackets, well within the body limit.
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ParseError("The request body is not valid JSON.") from exc


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259); Python's json accepts them unless told otherwise.
    raise ValueError(f"{name} is not valid JSON")


class LimitedMultiPartParser(MultiPartParser):
    """Multipart (a PDF as a file field), refused unread when the declared body is over the view's limit."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        parser_context = parser_context or {}
        limit = max_body_bytes(parser_context.get("view"))
        request = parser_context.get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        try:
            if not declared or int(declared) > limit:
                raise RequestTooLarge()
        except ValueError as exc:
            raise ParseError("Invalid Content-Length.") from exc
        return super().parse(stream, media_type, parser_context)
