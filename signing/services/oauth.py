"""CSC OAuth 2.0 authorization code with scope ``credential``: the holder consents on this site with
PIN + OTP, the client gets a code, exchanges it for an access token, and signs with the token alone.

Design: what rests where, and why the server cannot sign on its own
-------------------------------------------------------------------
::

    consent (holder: PIN + OTP on our page)         signature_authorize → activation + SAD
      code  = 32 random bytes, base64url            → to the client's redirect_uri, never stored
      row   = SHA-256(code), client, redirect_uri, PKCE S256 challenge, expiry (minutes),
              sealed_sad = AES-256-GCM(HKDF-SHA256(code), SAD, AAD = row context)

    token (client: code + redirect_uri + code_verifier, client authenticated)
      under the row lock: unused, not expired, same client, same redirect_uri, S256(verifier) = challenge
      SAD   = open sealed_sad with the code; the code row is spent and its ciphertext erased
      token = 32 random bytes, base64url            → to the client, stored by the toolkit as SHA-256 only
      grant = AccessToken (scope "credential") + sealed_sad = AES-256-GCM(HKDF-SHA256(token), SAD)

    signHash / signDoc (bearer token, no SAD)
      SAD   = open the grant's sealed_sad with the bearer value → the activation's usual checks

The SAD is itself only half of a signature (``signing/services/activation.py``: its one-time key
opens the data key the activation row keeps); here it never rests in clear either, only under a key
derived from a secret the client holds and the database does not. A copy of the database opens
nothing; neither does the code or the token of another client (PKCE, client binding, AAD).

Single use: the code is spent under its row lock whatever the outcome once it was found (a wrong
verifier burns it: nobody gets to try verifiers); presented again, the token issued for it is
revoked (RFC 6749 §4.1.2). The token signs what the activation allows, once, within its minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import get_access_token_model, set_token_value

from accounts.models import ApiClient, Holder
from accounts.oauth import CREDENTIAL_SCOPE
from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from certificates.models import Certificate
from core.errors import ApplicationError
from otp.models import OtpDevice
from signing import sad
from signing.models import Channel, CredentialAccessGrant, CredentialAuthorizationCode
from signing.services.activation import signature_authorize

# RFC 7636 §4.1: 43 to 128 unreserved characters; S256 challenges are 43 base64url characters.
CODE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
CODE_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")


def _invalid_grant(message: Any = None) -> ApplicationError:
    return ApplicationError(
        "invalid_grant", message or _("The authorization code is not valid, has expired or was already used.")
    )


def _direct_refused() -> ApplicationError:
    return ApplicationError(
        "forbidden",
        _("The organization requires the holder's consent page: PIN and OTP cannot be sent by the client."),
    )


# --- Organization policy --------------------------------------------------------------------------


def csc_direct_authorization_check(*, client: ApiClient, credential_id: str = "", ip: str = "") -> None:
    """Refuse CSC ``credentials/authorize`` (PIN + OTP through the client) when the organization wants
    its holders to consent on the consent page only. Audited."""
    if client.organization.csc_direct_authorization_allowed:
        return
    with transaction.atomic():
        audit_record(
            event_type=AuditEventType.CSC_OAUTH_DIRECT_AUTHORIZATION_REFUSED,
            outcome=Outcome.DENIED,
            organization=client.organization_id,
            subject=client,
            ip=ip,
            details={"client": client.client_id, "credential": credential_id[:100]},
        )
    raise _direct_refused()


# --- Consent → code -------------------------------------------------------------------------------


def credential_code_issue(
    *,
    client: ApiClient,
    holder: Holder,
    certificate: Certificate,
    redirect_uri: str,
    code_challenge: str,
    pin: str,
    otp_code: str,
    otp_device: OtpDevice | None,
    sms: bool,
    hashes: Sequence[bytes],
    hash_algorithm: str,
    ip: str = "",
) -> str:
    """PIN + OTP checked (``signature_authorize``: counted, audited), then an authorization code for
    ``client``; returns the code, which exists in clear only in the redirect to the client.

    Call outside any transaction (the PIN check is durable)."""
    if not CODE_CHALLENGE.fullmatch(code_challenge):
        raise ApplicationError("invalid_request", _("The PKCE code challenge is malformed."))
    activation, sad_token = signature_authorize(
        holder=holder, certificate=certificate, pin=pin, otp_code=otp_code, otp_device=otp_device, sms=sms,
        hashes=list(hashes), num_signatures=len(hashes), hash_algorithm=hash_algorithm, channel=Channel.CSC,
        client=client, ip=ip,
    )
    code = secrets.token_urlsafe(32)
    now = timezone.now()
    row = CredentialAuthorizationCode(
        code_checksum=sad.secret_checksum(code), client=client, holder=holder, certificate=certificate,
        activation=activation, redirect_uri=redirect_uri, code_challenge=code_challenge, created_at=now,
        expires_at=now + timedelta(seconds=settings.CSC_OAUTH_CODE_SECONDS),
    )
    row.sealed_sad = sad.sad_seal(sad_token, secret=code, context=row.seal_context)
    del sad_token
    with transaction.atomic():
        row.save(force_insert=True)
        audit_record(
            event_type=AuditEventType.CSC_OAUTH_CODE_ISSUED,
            actor=holder.user,
            organization=certificate.organization_id,
            subject=certificate,
            ip=ip,
            details={
                "iut": certificate.iut, "client": client.client_id, "activation": str(activation.public_id),
                "num_signatures": len(hashes), "redirect_uri": redirect_uri[:300],
                "expires_at": row.expires_at.isoformat(),
            },
        )
    return code


def credential_consent_refuse(
    *, client: ApiClient, holder: Holder, certificate: Certificate | None, ip: str = "", reason: str = "refused"
) -> None:
    """The holder said no on the consent page (or the page could not serve them): audited, nothing else."""
    with transaction.atomic():
        audit_record(
            event_type=AuditEventType.CSC_OAUTH_CONSENT_REFUSED,
            outcome=Outcome.DENIED,
            actor=holder.user,
            organization=holder.organization_id,
            subject=certificate,
            ip=ip,
            details={"client": client.client_id, "reason": reason,
                     "iut": certificate.iut if certificate is not None else ""},
        )


# --- Code → token ---------------------------------------------------------------------------------


def _pkce_s256_matches(verifier: str, challenge: str) -> bool:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(expected, challenge)


def _code_refusal(
    row: CredentialAuthorizationCode, *, client: ApiClient, redirect_uri: str, code_verifier: str, now: datetime
) -> str:
    """Why this code cannot be exchanged now by this client ("" if it can)."""
    if row.client_id != client.pk:
        return "other_client"
    if row.expires_at <= now:
        return "expired"
    if not hmac.compare_digest(row.redirect_uri.encode(), redirect_uri.encode()):
        return "redirect_uri"
    if not CODE_VERIFIER.fullmatch(code_verifier) or not _pkce_s256_matches(code_verifier, row.code_challenge):
        return "code_verifier"
    activation = row.activation
    if activation.closed_at is not None or activation.expires_at <= now or activation.signatures_left == 0:
        return "activation_expired"
    return ""


def credential_code_exchange(
    *, client: ApiClient, code: str, redirect_uri: str, code_verifier: str, ip: str = ""
) -> tuple[str, int]:
    """An authorization code (with its redirect URI and PKCE verifier) → ``(access token, seconds)``.

    ``invalid_grant`` for anything wrong; the code is spent by any attempt that found it, so it
    can be tried once. A code presented again revokes the token issued for it.
    """
    if not (isinstance(code, str) and 0 < len(code) <= 200 and code.isascii()):
        raise _invalid_grant()
    checksum = sad.secret_checksum(code)
    reason = ""
    token_value = ""
    expires_in = 0
    revoked_tokens = 0
    with transaction.atomic():
        now = timezone.now()
        row = (
            CredentialAuthorizationCode.objects.select_for_update(of=("self",))
            .select_related("activation", "holder__user", "certificate")
            .filter(code_checksum=checksum)
            .first()
        )
        if row is None:
            reason = "unknown"
        elif row.used_at is not None:
            reason = "reused"
            # RFC 6749 §4.1.2: a code used twice was stolen or replayed; the token issued for it goes.
            grant = CredentialAccessGrant.objects.filter(code=row).select_related("access_token").first()
            if grant is not None:
                revoked_tokens = 1
                grant.access_token.delete()
        else:
            reason = _code_refusal(row, client=client, redirect_uri=redirect_uri, code_verifier=code_verifier, now=now)
            if not reason:
                try:
                    sad_token = sad.sad_unseal(row.sealed_sad, secret=code, context=row.seal_context)
                except InvalidTag:
                    reason = "unsealable"
                else:
                    token_value, expires_in = _token_create(row, client=client, sad_token=sad_token, now=now)
                    del sad_token
            row.used_at = now
            row.sealed_sad = b""
            row.save(update_fields=["used_at", "sealed_sad"])
        if not reason:
            audit_record(
                event_type=AuditEventType.CSC_OAUTH_TOKEN_ISSUED,
                actor=row.holder.user if row is not None else None,
                organization=client.organization_id,
                subject=row.certificate if row is not None else None,
                ip=ip,
                details={"client": client.client_id, "iut": row.certificate.iut if row is not None else "",
                         "activation": str(row.activation.public_id) if row is not None else "",
                         "expires_in": expires_in},
            )
    if reason:
        with transaction.atomic():
            audit_record(
                event_type=AuditEventType.CSC_OAUTH_TOKEN_REFUSED,
                outcome=Outcome.DENIED,
                organization=client.organization_id,
                subject=row.certificate if row is not None else None,
                ip=ip,
                details={"client": client.client_id, "reason": reason, "tokens_revoked": revoked_tokens},
            )
        raise _invalid_grant()
    return token_value, expires_in


def _token_create(
    row: CredentialAuthorizationCode, *, client: ApiClient, sad_token: str, now: datetime
) -> tuple[str, int]:
    """The DOT access token (scope ``credential``) and its grant row with the SAD sealed under it."""
    expires = min(now + timedelta(seconds=settings.API_ACCESS_TOKEN_SECONDS), row.activation.expires_at)
    token_value = secrets.token_urlsafe(32)
    access_token = get_access_token_model()(
        user=row.holder.user, scope=CREDENTIAL_SCOPE, expires=expires, application=client.application
    )
    set_token_value(access_token, token_value)  # stored as its SHA-256 only (RFC 9700 token storage)
    access_token.save()
    grant = CredentialAccessGrant(
        access_token=access_token, code=row, certificate=row.certificate, activation=row.activation, created_at=now,
        expires_at=expires,
    )
    grant.sealed_sad = sad.sad_seal(sad_token, secret=token_value, context=grant.seal_context)
    grant.save(force_insert=True)
    return token_value, max(1, int((expires - now).total_seconds()))


# --- Token → SAD ----------------------------------------------------------------------------------


def credential_grant_sad(*, access_token: Any, bearer: str, certificate: Certificate) -> str:
    """The SAD a ``credential`` access token carries, for this credential; ``sad_expired`` when there is
    none any more (expired, revoked, another credential: "invalid_request")."""
    grant = CredentialAccessGrant.objects.filter(access_token_id=getattr(access_token, "pk", None)).first()
    if grant is None or grant.expires_at <= timezone.now() or not grant.sealed_sad:
        raise ApplicationError(
            "sad_expired", _("The signature authorization has expired or has already been used: authorize again.")
        )
    if grant.certificate_id != certificate.pk:
        raise ApplicationError("invalid_request", "Invalid parameter credentialID")
    try:
        return sad.sad_unseal(grant.sealed_sad, secret=bearer, context=grant.seal_context)
    except InvalidTag as exc:  # never for a token that authenticated: its checksum is this row's
        raise ApplicationError("sad_expired", _("The signature authorization cannot be used.")) from exc


# --- Revocation and purge -------------------------------------------------------------------------


def credential_token_revoked(*, client: ApiClient, token_kind: str, ip: str = "") -> None:
    """Audit a token revoked by its client (RFC 7009): the toolkit deleted it, and with it any grant."""
    with transaction.atomic():
        audit_record(
            event_type=AuditEventType.CSC_OAUTH_TOKEN_REVOKED,
            organization=client.organization_id,
            subject=client,
            ip=ip,
            details={"client": client.client_id, "scope": token_kind},
        )


def credential_grants_purge(*, now: datetime | None = None) -> int:
    """Delete expired codes, and expired credential tokens with their grants. Run with the activation
    purge (beat): nothing here is useful past its expiry, and the ciphertexts go with the rows."""
    now = now or timezone.now()
    codes, _unused = CredentialAuthorizationCode.objects.filter(expires_at__lte=now).delete()
    tokens, _unused = get_access_token_model().objects.filter(
        credential_grant__isnull=False, credential_grant__expires_at__lte=now
    ).delete()
    return int(codes) + int(tokens)
