"""Passkeys and security keys (WebAuthn) of operators and administrators: the two ceremonies.

Each ceremony has two halves. The page asks for options (:func:`registration_options`,
:func:`authentication_options`), which carry a fresh random challenge that the caller keeps in the
server-side session, bound to what it is for (signing in, enrolling, confirming one console action);
the browser answers, and :func:`security_key_register` / :func:`security_key_verify` check that
answer against exactly that challenge, this relying party and this origin. A challenge is used
once: the caller pops it from the session before verifying.

Verification of an assertion runs under a row lock on the key, so two concurrent uses of the same
assertion cannot both move the signature counter; a counter that does not move past the last one
seen is the mark of a cloned authenticator: refused, audited, and the key is retired.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from core.errors import ApplicationError
from otp.models import SecurityKey

if TYPE_CHECKING:
    from accounts.models import User

# Browser answers are small (a few KiB with attestation); anything larger is not an answer.
MAX_RESPONSE_BYTES = 64 * 1024
NAME_MAX = 64


@dataclass(frozen=True)
class RelyingParty:
    """Who the credentials are for: the RP ID (a host name) and the origins allowed to use them."""

    rp_id: str
    origins: tuple[str, ...]
    name: str


@dataclass(frozen=True)
class Ceremony:
    options_json: str  # what the page hands to navigator.credentials
    challenge: str  # base64url: what the caller keeps in the session


class KeyOutcome(enum.Enum):
    ACCEPTED = "accepted"
    INVALID = "invalid"
    CLONED = "cloned"
    UNKNOWN_KEY = "unknown_key"


def _user_handle(user: User) -> bytes:
    # An opaque handle, not the username: the authenticator keeps it, and it must say nothing.
    return f"staff:{user.pk}".encode()


def _descriptors(user: User) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(id=bytes(key.credential_id))
        for key in SecurityKey.objects.filter(user=user, retired_at__isnull=True)
    ]


def registration_options(*, user: User, rp: RelyingParty) -> Ceremony:
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.name,
        user_id=_user_handle(user),
        user_name=user.username,
        user_display_name=user.username,
        exclude_credentials=_descriptors(user),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    return Ceremony(options_to_json(options), bytes_to_base64url(options.challenge))


def authentication_options(*, user: User, rp: RelyingParty) -> Ceremony:
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        allow_credentials=_descriptors(user),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return Ceremony(options_to_json(options), bytes_to_base64url(options.challenge))


def _parsed(response: str) -> dict[str, Any]:
    if not isinstance(response, str) or not response or len(response) > MAX_RESPONSE_BYTES:
        raise ValueError("no answer")
    data = json.loads(response)
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


def security_key_register(
    *, user: User, response: str, challenge: str, rp: RelyingParty, name: str, actor: User | None = None,
    ip: str = "",
) -> SecurityKey:
    """Store the credential the browser created for ``challenge``; refuse anything else."""
    name = " ".join(str(name).split())[:NAME_MAX] or str(_("Security key"))
    try:
        verified = verify_registration_response(
            credential=_parsed(response),
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
            require_user_verification=False,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        audit_record(
            event_type=AuditEventType.STAFF_SECURITY_KEY_REFUSED, outcome=Outcome.FAILURE, actor=actor or user,
            organization=user.organization, subject=user, ip=ip, details={"step": "register", "error": str(exc)[:200]},
        )
        raise ApplicationError(
            "security_key_invalid",
            _("The security key's answer could not be verified. Try again."),
        ) from exc
    transports = _parsed(response).get("response", {}).get("transports") or []
    with transaction.atomic():
        if SecurityKey.objects.filter(credential_id=verified.credential_id).exists():
            raise ApplicationError("security_key_known", _("This security key is already registered."))
        key = SecurityKey.objects.create(
            user=user,
            name=name,
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=[str(t)[:16] for t in transports if isinstance(t, str)][:8],
            aaguid=str(verified.aaguid)[:36],
        )
        audit_record(
            event_type=AuditEventType.STAFF_SECURITY_KEY_ADDED, actor=actor or user, organization=user.organization,
            subject=key, ip=ip, details={"user": user.pk, "name": name},
        )
    return key


def security_key_verify(
    *, user: User, response: str, challenge: str, rp: RelyingParty, purpose: str, ip: str = ""
) -> KeyOutcome:
    """Check an assertion of one of ``user``'s keys, answering ``challenge``; move its counter."""
    try:
        data = _parsed(response)
        credential_id = base64url_to_bytes(str(data.get("rawId") or data.get("id") or ""))
    except (ValueError, TypeError) as exc:
        _refused(user, None, "invalid", purpose, ip, str(exc))
        return KeyOutcome.INVALID
    with transaction.atomic():
        key = (
            SecurityKey.objects.select_for_update()
            .filter(user=user, credential_id=credential_id, retired_at__isnull=True)
            .first()
        )
        if key is None:
            _refused(user, None, "unknown_key", purpose, ip, "")
            return KeyOutcome.UNKNOWN_KEY
        try:
            verified = verify_authentication_response(
                credential=data,
                expected_challenge=base64url_to_bytes(challenge),
                expected_rp_id=rp.rp_id,
                expected_origin=list(rp.origins),
                credential_public_key=bytes(key.public_key),
                credential_current_sign_count=key.sign_count,
                require_user_verification=False,
            )
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            message = str(exc)
            if "sign count" in message.lower():
                # The counter went backwards or stood still: another copy of this authenticator
                # signed meanwhile. Neither copy can be trusted any more.
                key.retired_at = timezone.now()
                key.save(update_fields=["retired_at"])
                _refused(user, key, "cloned", purpose, ip, message)
                return KeyOutcome.CLONED
            _refused(user, key, "invalid", purpose, ip, message)
            return KeyOutcome.INVALID
        key.sign_count, key.last_used_at = verified.new_sign_count, timezone.now()
        key.save(update_fields=["sign_count", "last_used_at"])
        audit_record(
            event_type=AuditEventType.STAFF_SECURITY_KEY_VERIFIED,
            actor=user, organization=user.organization, subject=key,
            ip=ip, details={"purpose": purpose},
        )
    return KeyOutcome.ACCEPTED


def _refused(user: User, key: SecurityKey | None, reason: str, purpose: str, ip: str, error: str) -> None:
    audit_record(
        event_type=(
            AuditEventType.STAFF_SECURITY_KEY_CLONED if reason == "cloned"
            else AuditEventType.STAFF_SECURITY_KEY_REFUSED
        ),
        outcome=Outcome.DENIED if reason == "cloned" else Outcome.FAILURE,
        actor=user,
        organization=user.organization,
        subject=key if key is not None else user,
        ip=ip,
        details={"purpose": purpose, "reason": reason, "error": error[:200]},
    )
