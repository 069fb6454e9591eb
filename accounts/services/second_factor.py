"""The second factor of operators and administrators (trusted roles): signing in and re-confirming.

Signing in to the console or to Django admin is two steps. The password (``login_attempt``) only
opens a *pending* sign-in: the session then holds who typed it and when, and nothing else — no
console page, no admin page answers it. The second factor — a passkey or security key (WebAuthn),
or a code of an authenticator app or hardware token — completes the sign-in: only then is the
session logged in (a new session id), marked with the factor that was used.

The same factors confirm sensitive console actions (:mod:`accounts.confirmation`). A code is
checked by the one OTP verifier (:func:`otp.services.device_verify`: lock at the failure limit,
replays refused and audited); an assertion by :func:`otp.webauthn.security_key_verify`, against a
challenge kept in the session for one purpose only (``sign_in``, ``confirm:<operation>``,
``register``) and used once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.services.authentication import Portal, session_start
from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from core.ratelimit import client_ip
from otp.models import DeviceKind, DeviceState, OtpDevice, SecurityKey
from otp.services import VerifyOutcome, device_verify
from otp.texts import verify_message
from otp.webauthn import Ceremony, KeyOutcome, RelyingParty, security_key_verify

SESSION_PENDING_KEY = "auth_pending"
SESSION_FACTOR_KEY = "auth_second_factor"
SESSION_CHALLENGES_KEY = "webauthn_challenges"
PENDING_SECONDS = 300  # between the password and the second factor
CHALLENGE_SECONDS = 300

STAFF_DEVICE_LOCKED_MESSAGE = _(
    "This device is locked after too many wrong codes. Use another factor, or ask your organization "
    "administrator to reset your second factor."
)
KEY_REFUSED_MESSAGE = _("The passkey or security key could not be verified. Try again.")
KEY_CLONED_MESSAGE = _(
    "This security key answered with a signature counter already used: it may have been copied. "
    "It has been disabled; use another factor and tell your organization administrator."
)


@dataclass(frozen=True)
class StaffFactors:
    """What a person can confirm with: active code devices and passkeys/security keys."""

    devices: list[OtpDevice]
    keys: list[SecurityKey]

    @property
    def any(self) -> bool:
        return bool(self.devices or self.keys)

    @property
    def count(self) -> int:
        return len(self.devices) + len(self.keys)


def staff_factors(*, user: User) -> StaffFactors:
    devices = list(
        OtpDevice.objects.filter(staff_user=user, state=DeviceState.ACTIVE)
        .exclude(kind=DeviceKind.SMS)
        .order_by("created_at", "pk")
    )
    keys = list(SecurityKey.objects.filter(user=user, retired_at__isnull=True).order_by("created_at", "pk"))
    return StaffFactors(devices=devices, keys=keys)


def relying_party(request: HttpRequest) -> RelyingParty:
    """The WebAuthn relying party: configured in production, this request's host in development.

    ``request.get_host()`` has passed ``ALLOWED_HOSTS``; in production ``WEBAUTHN_RP_ID`` and
    ``WEBAUTHN_ORIGINS`` pin it so that a credential is bound to the public name of the service.
    """
    host = request.get_host()
    rp_id = settings.WEBAUTHN_RP_ID or host.rsplit(":", 1)[0].strip("[]")
    origins = tuple(settings.WEBAUTHN_ORIGINS) or (f"{request.scheme}://{host}",)
    return RelyingParty(rp_id=rp_id, origins=origins, name=str(settings.WEBAUTHN_RP_NAME))


def challenge_keep(*, request: HttpRequest, purpose: str, ceremony: Ceremony) -> str:
    """Remember ``ceremony``'s challenge for ``purpose`` (replacing an earlier one); return the options."""
    challenges = dict(request.session.get(SESSION_CHALLENGES_KEY, {}))
    now = int(time.time())
    challenges = {p: c for p, c in challenges.items() if isinstance(c, list) and len(c) == 2 and c[1] > now}
    challenges[purpose] = [ceremony.challenge, now + CHALLENGE_SECONDS]
    request.session[SESSION_CHALLENGES_KEY] = challenges
    return ceremony.options_json


def challenge_pop(*, request: HttpRequest, purpose: str) -> str | None:
    """The challenge kept for ``purpose``, forgotten as it is read (a challenge is answered once)."""
    challenges = dict(request.session.get(SESSION_CHALLENGES_KEY, {}))
    entry = challenges.pop(purpose, None)
    request.session[SESSION_CHALLENGES_KEY] = challenges
    if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and isinstance(entry[1], int)):
        return None
    return entry[0] if entry[1] >= time.time() else None


@dataclass(frozen=True)
class FactorResult:
    ok: bool
    factor: str = ""
    message: str = ""


def factor_check(
    *, request: HttpRequest, user: User, purpose: str, code: str = "", device_id: str = "", assertion: str = ""
) -> FactorResult:
    """Check one second factor of ``user`` for ``purpose``: an assertion if given, else a code."""
    ip = client_ip(request)
    factors = staff_factors(user=user)
    if assertion:
        challenge = challenge_pop(request=request, purpose=purpose)
        if challenge is None or not factors.keys:
            _failed(user, purpose, ip, "no_challenge")
            return FactorResult(False, message=str(KEY_REFUSED_MESSAGE))
        outcome = security_key_verify(
            user=user, response=assertion, challenge=challenge, rp=relying_party(request), purpose=purpose, ip=ip
        )
        if outcome is KeyOutcome.ACCEPTED:
            return FactorResult(True, factor="webauthn")
        refused = KEY_CLONED_MESSAGE if outcome is KeyOutcome.CLONED else KEY_REFUSED_MESSAGE
        return FactorResult(False, message=str(refused))
    if not code or not factors.devices:
        return FactorResult(False, message=str(_("Enter the code shown by your app or token.")))
    device = next((d for d in factors.devices if str(d.public_id) == device_id), None) if device_id else None
    if device is None:
        if device_id or len(factors.devices) > 1:
            return FactorResult(False, message=str(_("Choose the device that shows the code.")))
        device = factors.devices[0]
    result = device_verify(device=device, code=code, purpose=purpose, ip=ip)
    if result.ok:
        return FactorResult(True, factor="otp")
    if result.outcome is VerifyOutcome.NOT_USABLE:
        return FactorResult(False, message=str(_("This device cannot be used.")))
    if result.outcome is VerifyOutcome.LOCKED:
        return FactorResult(False, message=str(STAFF_DEVICE_LOCKED_MESSAGE))
    return FactorResult(False, message=str(verify_message(result.outcome, result.failures_left)))


# The fields of the second-factor forms (sign-in and confirmation pages share one template).
CODE_FIELD, DEVICE_FIELD, ASSERTION_FIELD = "confirmation_code", "confirmation_device", "confirmation_assertion"
FACTOR_FIELD_NAMES = {"code_field": CODE_FIELD, "device_field": DEVICE_FIELD, "assertion_field": ASSERTION_FIELD}


def factor_check_posted(*, request: HttpRequest, user: User, purpose: str) -> FactorResult:
    """:func:`factor_check` with the answer the second-factor form posted."""
    return factor_check(
        request=request, user=user, purpose=purpose,
        code=str(request.POST.get(CODE_FIELD, ""))[:16],
        device_id=str(request.POST.get(DEVICE_FIELD, ""))[:64],
        assertion=str(request.POST.get(ASSERTION_FIELD, "")),
    )


def _failed(user: User, purpose: str, ip: str, reason: str) -> None:
    audit_record(
        event_type=AuditEventType.STAFF_SECOND_FACTOR_FAILED,
        outcome=Outcome.FAILURE, actor=user, organization=user.organization,
        ip=ip, details={"purpose": purpose, "reason": reason},
    )


# --- Signing in -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PendingSignIn:
    user: User
    portal: Portal
    next_url: str


def sign_in_pending_start(*, request: HttpRequest, user: User, portal: Portal, next_url: str = "") -> None:
    """The password was right: remember who, for a few minutes, in a session of its own."""
    request.session.flush()  # whatever this browser held before is gone; a new id from here on
    request.session[SESSION_PENDING_KEY] = {
        "user": user.pk, "portal": str(portal), "at": int(time.time()), "next": next_url[:2000],
    }


def sign_in_pending(*, request: HttpRequest) -> PendingSignIn | None:
    pending = request.session.get(SESSION_PENDING_KEY)
    if not isinstance(pending, dict) or not isinstance(pending.get("at"), int):
        return None
    if pending["at"] + PENDING_SECONDS < time.time() or pending.get("portal") not in (Portal.CONSOLE, Portal.ADMIN):
        return None
    user_pk: Any = pending.get("user")  # whatever the session holds; no user matches a bad one
    user = User.objects.filter(pk=user_pk, is_active=True).first()
    if user is None:
        return None
    return PendingSignIn(user=user, portal=Portal(pending["portal"]), next_url=str(pending.get("next") or ""))


def sign_in_complete(*, request: HttpRequest, pending: PendingSignIn, factor: str) -> None:
    """The second factor was right: log the session in (new id) and mark it with that factor."""
    request.session.pop(SESSION_PENDING_KEY, None)
    session_start(request=request, user=pending.user)
    request.session[SESSION_FACTOR_KEY] = factor
    audit_record(
        event_type=AuditEventType.AUTH_SECOND_FACTOR_SUCCEEDED,
        actor=pending.user, organization=pending.user.organization,
        ip=client_ip(request), details={"portal": str(pending.portal), "factor": factor},
    )


def enrolled_sign_in(*, request: HttpRequest, user: User, factor: str, portal: Portal) -> None:
    """Sign in a person who has just proved their password and enrolled ``factor`` (enrolment link)."""
    sign_in_complete(request=request, pending=PendingSignIn(user=user, portal=portal, next_url=""), factor=factor)


def session_has_second_factor(request: HttpRequest) -> bool:
    return bool(request.session.get(SESSION_FACTOR_KEY))


def admin_site_has_permission(request: HttpRequest) -> bool:
    """Django admin's gate: an active staff account *and* a session signed in with a second factor."""
    user = request.user
    return bool(user.is_active and user.is_staff and session_has_second_factor(request))
