"""Input of the CSC OAuth 2.0 consent page: the client's authorization request (query string) and the
holder's answer (PIN, OTP device, code).

The request is read in two steps, because its errors go to two places: ``client_id`` and
``redirect_uri`` first (until they are known good, an error is a page here, never a redirect), then
everything else (errors go back to the client's redirect URI).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from certificates.forms import pin_field
from otp.forms import code_field
from signing.api.csc.algorithms import DIGESTS
from signing.pades import HASH_LENGTHS

MAX_QUERY_VALUE = 64 * 1024  # a thousand SHA-512 digests in base64 fit


class RequestError(ValueError):
    """An OAuth 2.0 authorization error: its code and a description (the specification's words)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class Digest:
    value: bytes
    label: str = ""

    @property
    def base64(self) -> str:
        return base64.b64encode(self.value).decode("ascii")


@dataclass(frozen=True)
class CredentialRequest:
    """What the client asks the holder to authorize: one credential, these digests."""

    credential_id: str
    digests: list[Digest]
    hash_algorithm: str
    code_challenge: str
    state: str = ""
    description: str = ""
    lang: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _single(query: Any, name: str) -> str:
    values = query.getlist(name)
    if len(values) > 1:
        raise RequestError("invalid_request", f"Duplicate parameter {name}")
    value = values[0] if values else ""
    if len(value) > MAX_QUERY_VALUE or "\x00" in value:
        raise RequestError("invalid_request", f"Invalid parameter {name}")
    return str(value)


def client_and_redirect(query: Any) -> tuple[str, str]:
    """``client_id`` and ``redirect_uri``, present once each (checked against the client by the view)."""
    return _single(query, "client_id"), _single(query, "redirect_uri")


def _digest(text: str) -> bytes:
    """base64url or base64 (a '+' sent unencoded in a query string arrives as a space)."""
    cleaned = text.strip().replace(" ", "+").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("invalid_request", "Invalid parameter hashes") from None


def _details(text: str) -> dict[str, Any]:
    """The one ``credential`` entry of RFC 9396 ``authorization_details`` (a JSON array, or one object)."""
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        raise RequestError("invalid_request", "Invalid parameter authorization_details") from None
    entries = parsed if isinstance(parsed, list) else [parsed]
    credential = [e for e in entries if isinstance(e, dict) and e.get("type") == "credential"]
    if len(credential) != 1 or len(entries) != 1:
        raise RequestError("invalid_authorization_details", "One authorization_details entry of type credential")
    return credential[0]


def credential_request_parse(query: Any) -> CredentialRequest:
    """The rest of the request, after client and redirect URI; :class:`RequestError` for what is wrong."""
    if _single(query, "response_type") != "code":
        raise RequestError("unsupported_response_type", "Invalid parameter response_type: code only")
    method = _single(query, "code_challenge_method")
    challenge = _single(query, "code_challenge")
    if not challenge:
        raise RequestError("invalid_request", "Missing parameter code_challenge (PKCE is required)")
    if method != "S256":
        raise RequestError("invalid_request", "Invalid parameter code_challenge_method: S256 only")
    details_text = _single(query, "authorization_details")
    scope = _single(query, "scope")
    if details_text:
        details = _details(details_text)
        if scope and scope.split() != ["credential"]:
            raise RequestError("invalid_scope", "Invalid parameter scope")
        credential_id = details.get("credentialID")
        raw_digests = details.get("documentDigests")
        oid = details.get("hashAlgorithmOID") or ""
        if not isinstance(raw_digests, list) or not raw_digests or not all(
            isinstance(d, dict) and isinstance(d.get("hash"), str) and isinstance(d.get("label", ""), str)
            for d in raw_digests
        ):
            raise RequestError("invalid_authorization_details", "Invalid parameter documentDigests")
        digests = [Digest(_digest(d["hash"]), str(d.get("label", ""))[:200]) for d in raw_digests]
        num = len(digests)
    else:
        if scope.split() != ["credential"]:
            raise RequestError("invalid_scope", "Invalid parameter scope: credential only")
        credential_id = _single(query, "credentialID")
        oid = _single(query, "hashAlgorithmOID")
        hashes = _single(query, "hashes")
        if not hashes:
            raise RequestError("invalid_request", "Missing parameter hashes")
        digests = [Digest(_digest(part)) for part in hashes.split(",")]
        number = _single(query, "numSignatures")
        # ASCII digits only, and few of them: "²" passes str.isdigit() and int() refuses it.
        if not (number.isascii() and number.isdigit() and len(number) <= 6) or int(number) < 1:
            raise RequestError("invalid_request", "Invalid parameter numSignatures")
        num = int(number)
    if not isinstance(credential_id, str) or not credential_id or len(credential_id) > 100:
        raise RequestError("invalid_request", "Invalid parameter credentialID")
    if num != len(digests):
        raise RequestError("invalid_request", "Invalid parameter numSignatures: it must equal the number of hashes")
    if not isinstance(oid, str) or (oid and oid not in DIGESTS):
        raise RequestError("invalid_request", "Invalid parameter hashAlgorithmOID")
    by_length = {length: name for name, length in HASH_LENGTHS.items()}
    lengths = {len(d.value) for d in digests}
    algorithm = DIGESTS[oid][0] if oid else by_length.get(next(iter(lengths)), "")
    if len(lengths) != 1 or HASH_LENGTHS.get(algorithm) != next(iter(lengths)):
        raise RequestError("invalid_request", "Invalid parameter hashes: length does not match the hash algorithm")
    return CredentialRequest(
        credential_id=credential_id, digests=digests, hash_algorithm=algorithm, code_challenge=challenge,
        state=_single(query, "state")[:500], description=_single(query, "description")[:500],
        lang=_single(query, "lang")[:35],
    )


class CredentialConsentForm(forms.Form):
    """The holder's answer on the consent page: PIN, the OTP device (or SMS) and its code."""

    pin = pin_field(_("Signing PIN"))
    device = forms.ChoiceField(label=_("OTP device"), widget=forms.Select(attrs={"class": "form-select"}))
    code = code_field(_("One-time code"))

    def __init__(self, *args: Any, devices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        device = self.fields["device"]
        assert isinstance(device, forms.ChoiceField)  # declared above
        device.choices = devices
