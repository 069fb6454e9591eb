"""Serializer fields and base inputs of the CSC operations, and the values of the schema's examples."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from core.errors import ApplicationError
from signing.api.csc.algorithms import DIGEST_LENGTHS

# Values of the schema's request examples: the demo university's first holder and the shape of a
# credential ID (an IUT), so a reader sees a realistic call. The SAD and codes are placeholders.
EXAMPLE_USER_ID = "mario.rossi"
EXAMPLE_CREDENTIAL_ID = "JBSWY3DPEHPK3PXP"
EXAMPLE_HASH = base64.b64encode(hashlib.sha256(b"Verbale d'esame n. 1").digest()).decode("ascii")
EXAMPLE_SAD = "c2lnbmF0dXJlLWFjdGl2YXRpb24tZGF0YQ"


def example(**value: Any) -> list[OpenApiExample]:
    return [OpenApiExample("Example", value=value, request_only=True)]


class Base64Field(serializers.CharField):
    """Standard base64 (RFC 4648, section 4), decoded to bytes; anything else is an invalid parameter."""

    default_error_messages = {"base64": "not valid base64"}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> bytes:  # type: ignore[override]  # decodes to bytes, not str
        text = super().to_internal_value(data)
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            self.fail("base64")
        raise AssertionError("unreachable")


class HashField(Base64Field):
    default_error_messages = {"length": "not a SHA-256, SHA-384 or SHA-512 hash"}
    # 32, 48 or 64 bytes in base64, as the schema documents it.
    schema_pattern = r"^(?:[A-Za-z0-9+/]{43}=|[A-Za-z0-9+/]{64}|[A-Za-z0-9+/]{86}==)$"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 100)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> bytes:  # type: ignore[override]  # decodes to bytes, not str
        value = super().to_internal_value(data)
        if len(value) not in DIGEST_LENGTHS:
            self.fail("length")
        return value


# CSC conformance levels to the signer's: the baseline names of the tables ("Ades-B-B"), as clients
# spell them too ("AdES-B-B"), and the short ETSI ones ("Ades-B", "Ades-T"…), to the same levels.
_LEVELS = {"b-b": "B-B", "b-t": "B-T", "b-lt": "B-LT", "b-lta": "B-LTA", "b": "B-B", "t": "B-T", "lt": "B-LT",
           "lta": "B-LTA"}


def conformance_level_parse(value: str | None) -> str:
    """The signer's level for a CSC ``conformance_level`` (absent: the specification's default,
    AdES-B-B); anything else is "Invalid parameter conformance_level"."""
    if value is None:
        return "B-B"
    text = str(value).strip().lower()
    if text.startswith("ades-") and text[5:] in _LEVELS:
        return _LEVELS[text[5:]]
    raise ApplicationError("invalid_request", "Invalid parameter conformance_level")


class HashesField(serializers.ListField):
    """``documentDigests[].hashes``: an array of base64 digests, or a single one as a string (as the
    specification's own example sends it)."""

    def to_internal_value(self, data: Any) -> list[Any]:
        return super().to_internal_value([data] if isinstance(data, str) else data)


def hash_list(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=HashField(), min_length=1, max_length=settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION, **kwargs
    )


def lang_field() -> serializers.CharField:
    """``lang`` (RFC 5646): any tag is accepted; the answer's ``lang`` says which language was used."""
    return serializers.CharField(required=False, max_length=35, allow_blank=True)


class CscBaseInput(serializers.Serializer):
    clientData = serializers.CharField(required=False, max_length=1024, allow_blank=True)  # noqa: N815


class CredentialInput(CscBaseInput):
    credentialID = serializers.CharField(max_length=64)  # noqa: N815


# --- Input errors worded as the CSC error tables word them ----------------------------------------

_TYPE_CODES = frozenset({"required", "null", "invalid", "not_a_list", "not_a_dict", "blank"})


def _type_word(field: serializers.Field) -> str:
    if isinstance(field, serializers.BooleanField):
        return "boolean"
    if isinstance(field, serializers.IntegerField):
        return "integer"
    if isinstance(field, serializers.ListField):
        return "array"
    if isinstance(field, serializers.DictField | serializers.Serializer):
        return "object"
    return "string"


def _first_error(detail: Any) -> tuple[list[str | int], str]:
    """The path (names and list indexes) and code of the first problem in a DRF error tree."""
    path: list[str | int] = []
    node = detail
    while True:
        if isinstance(node, dict) and node:
            key = next(iter(node))
            path.append(key)
            node = node[key]
        elif isinstance(node, list) and node:
            index = next((i for i, item in enumerate(node) if item), 0)
            if isinstance(node[index], dict | list):
                path.append(index)
                node = node[index]
            else:
                return path, str(getattr(node[index], "code", "invalid"))
        else:
            return path, str(getattr(node, "code", "invalid"))


def csc_invalid_input(serializer: serializers.Serializer, detail: Any) -> ApplicationError:
    """The specification's sentence for the first problem of an input ("Missing (or invalid type)
    string parameter credentialID", "Empty hash array", "Invalid parameter signAlgo"…)."""
    path, code = _first_error(detail)
    names = [p for p in path if isinstance(p, str)]
    if not names or names[0] == "non_field_errors":
        return ApplicationError("invalid_request", "Invalid request")
    name = names[0]
    field = serializer.fields.get(name)
    nested = len(path) > 1
    if name in ("hash", "hashes") and not nested:
        if code in ("min_length", "empty"):
            return ApplicationError("invalid_request", "Empty hash array")
    if name in ("hash", "hashes") and nested:
        if code == "length":
            return ApplicationError("invalid_request", "Invalid digest value length")
        return ApplicationError("invalid_request", "Invalid Base64 hash string parameter")
    # A pattern that does not match is a bad value, not a bad type.
    type_problem = code in _TYPE_CODES and not (code == "invalid" and isinstance(field, serializers.RegexField))
    if field is not None and not nested and type_problem:
        return ApplicationError("invalid_request", f"Missing (or invalid type) {_type_word(field)} parameter {name}")
    if name == "numSignatures":
        return ApplicationError("invalid_request", "Invalid value for parameter numSignatures")
    if nested and len(names) > 1 and code in _TYPE_CODES:
        inner = names[-1]
        return ApplicationError("invalid_request", f"Missing (or invalid type) string parameter {inner}")
    if nested and len(names) > 1:
        return ApplicationError("invalid_request", f"Invalid parameter {names[-1]}")
    return ApplicationError("invalid_request", f"Invalid parameter {name}")


def csc_input(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """Validate a CSC request body; the first problem answered in the specification's words."""
    if not isinstance(data, dict):
        raise ApplicationError("invalid_request", "Invalid request")
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise csc_invalid_input(serializer, serializer.errors)
    return dict(serializer.validated_data)
