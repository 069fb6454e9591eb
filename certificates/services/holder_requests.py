"""Suspension and revocation asked by the holder without logging in.

A holder who lost the phone must be able to stop the certificate at once, from any browser: the
username, the user code (from the activation e-mail) and a code from an OTP device prove who asks.
The answer is the same for every wrong combination — unknown username, wrong user code, wrong OTP —
so the page cannot be used to test usernames or user codes; the user code check always costs one
Argon2 computation, and an OTP is checked (and counted against the device) only once the username
and user code matched. A replayed OTP gets the replay message of every other page: it tells only
someone who already holds a code this holder's device produced and used, who learns nothing new.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from accounts.services.people import holder_by_user_code
from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from certificates.models import Certificate, CertificateState
from certificates.services.lifecycle import certificate_revoke, certificate_suspend
from core.errors import ApplicationError
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.services import VerifyOutcome, code_replayed_error, device_verify

ACTIONS = ("suspend", "revoke")
_REFUSED_EVENT = {
    "suspend": AuditEventType.CERTIFICATE_SUSPEND_WITHOUT_LOGIN_REFUSED,
    "revoke": AuditEventType.CERTIFICATE_REVOKE_WITHOUT_LOGIN_REFUSED,
}
# The reasons a holder may give; superseded and hold belong to the CA and the operators.
HOLDER_REVOCATION_REASONS = ("key_compromise", "affiliation_changed", "cessation_of_operation", "unspecified")


def _refused() -> ApplicationError:
    return ApplicationError(
        "credentials_invalid",
        _("The username, the user code or the OTP code is not correct. Check them and try again."),
    )


def certificate_change_without_login(
    *, username: str, user_code: str, otp_code: str, action: str, reason: str = "", ip: str = ""
) -> Certificate:
    """Suspend or revoke the holder's certificate after username + user code + OTP."""
    if action not in ACTIONS or (action == "revoke" and reason not in HOLDER_REVOCATION_REASONS):
        raise ApplicationError("invalid_request", _("Choose what to do with the certificate."))
    user, holder = holder_by_user_code(username=username, user_code=user_code)
    if holder is None:
        audit_record(
            event_type=_REFUSED_EVENT[action], outcome=Outcome.DENIED, actor=user, ip=ip,
            details={"reason": "credentials"},
        )
        raise _refused()
    devices = OtpDevice.objects.filter(holder=holder, state=DeviceState.ACTIVE).exclude(kind=DeviceKind.SMS)
    # Usually one device; with several, the code may come from any of them (each check is counted).
    outcomes = set()
    for device in devices:
        outcome = device_verify(device=device, code=otp_code, purpose=f"certificate_{action}", ip=ip).outcome
        if outcome is VerifyOutcome.ACCEPTED:
            break
        outcomes.add(outcome)
    else:
        raise code_replayed_error(field=None) if VerifyOutcome.REPLAYED in outcomes else _refused()
    wanted = [CertificateState.ACTIVE] if action == "suspend" else [CertificateState.ACTIVE, CertificateState.SUSPENDED]
    certificate = Certificate.objects.filter(holder=holder, state__in=wanted).order_by("-requested_at").first()
    if certificate is None:
        if action == "suspend":
            message = _("There is no active certificate to suspend.")
        else:
            message = _("There is no active or suspended certificate to revoke.")
        raise ApplicationError("no_certificate", message)
    if action == "suspend":
        return certificate_suspend(certificate=certificate, actor=user, note="without login", ip=ip)
    return certificate_revoke(certificate=certificate, reason=reason, actor=user, ip=ip)
