"""Serializer fields and base inputs of the CSC operations, and the values of the schema's examples."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

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


def hash_list(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=HashField(), min_length=1, max_length=settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION, **kwargs
    )


class CscBaseInput(serializers.Serializer):
    clientData = serializers.CharField(required=False, max_length=1024, allow_blank=True)  # noqa: N815


class CredentialInput(CscBaseInput):
    credentialID = serializers.CharField(max_length=64)  # noqa: N815
