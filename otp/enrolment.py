"""Smartphone app and SMS enrolment: a device is active only once its first code came back.

SMS: ``sms_enrolment_send`` (by the holder, or by an operator: "resend the SMS enrolment") makes a
PENDING SMS device and sends an enrolment code to the registered mobile; ``sms_enrolment_confirm``
activates the device with that code.

Smartphone app: a fresh seed shown once, the device confirmed by its first code.

``app_enrolment_start`` makes a PENDING app device and hands its secret back exactly once; the seed
is then only stored encrypted and never shown again (starting over retires the pending device and
makes a new one). ``app_enrolment_confirm`` checks the first code through the one verification
service and, in the same transaction, activates the device, retires the app it replaces and tells
the holder.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.events import AuditEventType
from audit.services import audit_record
from core.errors import ApplicationError
from notifications.services import security_notice_send
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.oath import otpauth_uri
from otp.services import VerifyOutcome, VerifyResult, device_create, device_verify
from otp.sms_codes import sms_code_check, sms_code_issue

if TYPE_CHECKING:
    from accounts.models import Holder, User

# RFC 4226 §4 (R6) asks for a 160-bit shared secret with HMAC-SHA-1; it is also what the common
# authenticator apps expect from an otpauth:// URI.
APP_SEED_BYTES = 20
APP_DIGITS = 6
APP_PERIOD = 30
DEFAULT_ISSUER = "Firma remota"
STAFF_ISSUER = "Firma remota – console"  # how the app lists the console's entry, apart from a holder's


@dataclass(frozen=True)
class AppEnrolment:
    device: OtpDevice
    # The seed, twice: kept out of repr(), which Django's template engine writes into its DEBUG lines
    # (the whole page context of a failed variable lookup) and error reports.
    secret: str = field(repr=False)  # base32, unpadded: what the holder types if the QR code cannot be scanned
    uri: str = field(repr=False)  # otpauth://totp/… (the QR code's content)

    @property
    def secret_groups(self) -> list[str]:
        return [self.secret[i:i + 4] for i in range(0, len(self.secret), 4)]


def _retire(device: OtpDevice, *, holder: Holder, reason: str, ip: str) -> None:
    device.state = DeviceState.RETIRED
    device.save(update_fields=["state"])
    audit_record(
        event_type=AuditEventType.OTP_DEVICE_RETIRED,
        actor=holder.user,
        organization=holder.organization,
        subject=device,
        ip=ip,
        details={"kind": device.kind, "reason": reason},
    )


def app_enrolment_start(*, holder: Holder, ip: str = "") -> AppEnrolment:
    """A new PENDING app device with a fresh random seed; any earlier pending app is retired."""
    if not holder.organization.otp_app_allowed:
        raise ApplicationError("app_not_allowed", _("Your organization does not use the smartphone app."))
    seed = secrets.token_bytes(APP_SEED_BYTES)
    with transaction.atomic():
        # Two tabs starting at once: the holder row serializes them, so one pending app survives.
        # (The model by name: otp knows holders only as the rows its foreign keys point at.)
        apps.get_model("accounts", "Holder").objects.select_for_update().filter(pk=holder.pk).first()
        stale = OtpDevice.objects.select_for_update().filter(
            holder=holder, kind=DeviceKind.APP_TOTP, state=DeviceState.PENDING
        )
        for device in stale:
            _retire(device, holder=holder, reason="enrolment_restarted", ip=ip)
        device = device_create(
            kind=DeviceKind.APP_TOTP, seed=seed, holder=holder, state=DeviceState.PENDING,
            digits=APP_DIGITS, period=APP_PERIOD, actor=holder.user, ip=ip,
        )
    secret = base64.b32encode(seed).decode("ascii").rstrip("=")
    uri = otpauth_uri(secret=seed, issuer=DEFAULT_ISSUER, account=holder.user.username,
                      digits=APP_DIGITS, period=APP_PERIOD)
    return AppEnrolment(device=device, secret=secret, uri=uri)


def _pending_app_activate(
    device: OtpDevice, *, code: str, ip: str, owned: Callable[[OtpDevice], bool]
) -> tuple[OtpDevice, VerifyResult]:
    """Lock the pending app (the caller's transaction), check its first code, activate it.

    The row stays locked from the state check to the activation, so two submissions of the same
    code activate it once.
    """
    locked = OtpDevice.objects.select_for_update().get(pk=device.pk)
    if not owned(locked) or locked.kind != DeviceKind.APP_TOTP or locked.state != DeviceState.PENDING:
        return locked, VerifyResult(VerifyOutcome.NOT_USABLE)
    result = device_verify(device=locked, code=code, purpose="enrol", ip=ip)
    if result.ok:
        locked.state, locked.confirmed_at = DeviceState.ACTIVE, timezone.now()
        locked.save(update_fields=["state", "confirmed_at"])
    return locked, result


def app_enrolment_confirm(*, holder: Holder, device: OtpDevice, code: str, ip: str = "") -> VerifyResult:
    """Activate a pending app with its first valid code; the app it replaces is retired.

    The code is checked by :func:`otp.services.device_verify` (failures count and lock there);
    the device row stays locked from the state check to the activation, so two submissions of the
    same code activate it once and notify once.
    """
    with transaction.atomic():
        locked, result = _pending_app_activate(device, code=code, ip=ip, owned=lambda d: d.holder_id == holder.pk)
        if not result.ok:
            return result
        replaced = list(
            OtpDevice.objects.select_for_update()
            .filter(holder=holder, kind=DeviceKind.APP_TOTP)
            .exclude(pk=locked.pk)
            .exclude(state=DeviceState.RETIRED)
        )
        for old in replaced:
            _retire(old, holder=holder, reason="replaced", ip=ip)
        audit_record(
            event_type=AuditEventType.OTP_DEVICE_ENROLLED,
            actor=holder.user,
            organization=holder.organization,
            subject=locked,
            ip=ip,
            details={"kind": locked.kind, "replaced": [str(old.public_id) for old in replaced]},
        )
        security_notice_send(holder=holder, event="device_changed", reference=f"enrol:{locked.public_id}")
    device.state, device.confirmed_at = locked.state, locked.confirmed_at
    return result


SMS_ENROLMENT_PURPOSE = "sms_enrolment"


def sms_enrolment_send(*, holder: Holder, actor: object, ip: str = "") -> OtpDevice:
    """Keep (or make) the holder's pending SMS device and send it an enrolment code.

    ``actor`` is the holder's user or an operator of the holder's organization. Raises
    :class:`ApplicationError` when the organization does not use SMS codes, when the holder already
    receives codes by SMS, or when a code was sent too recently (the device then stays pending).
    """
    if not holder.organization.otp_sms_allowed:
        raise ApplicationError("sms_not_allowed", _("This organization does not use OTP codes by SMS."))
    with transaction.atomic():
        # The holder row serializes two sends (the model by name, as above).
        apps.get_model("accounts", "Holder").objects.select_for_update().filter(pk=holder.pk).first()
        devices = OtpDevice.objects.filter(holder=holder, kind=DeviceKind.SMS)
        if devices.filter(state=DeviceState.ACTIVE).exists():
            raise ApplicationError("sms_already_active", _("OTP codes by SMS are already active for this holder."))
        device = devices.filter(state=DeviceState.PENDING).first() or device_create(
            kind=DeviceKind.SMS, holder=holder, state=DeviceState.PENDING, actor=actor, ip=ip
        )
    # Outside the transaction above: a refused code (too soon) is audited by sms_code_issue and
    # must not be rolled back with it.
    sms_code_issue(holder=holder, purpose=SMS_ENROLMENT_PURPOSE, ip=ip)
    audit_record(
        event_type=AuditEventType.OTP_SMS_ENROLMENT_SENT,
        actor=actor, organization=holder.organization, subject=device, ip=ip
    )
    return device


def sms_enrolment_confirm(*, holder: Holder, code: str, ip: str = "") -> VerifyResult:
    """Activate the pending SMS device with the enrolment code (the result says why not)."""
    with transaction.atomic():
        device = (
            OtpDevice.objects.select_for_update()
            .filter(holder=holder, kind=DeviceKind.SMS, state=DeviceState.PENDING)
            .first()
        )
        if device is None:
            return VerifyResult(VerifyOutcome.NOT_USABLE)
        result = sms_code_check(holder=holder, purpose=SMS_ENROLMENT_PURPOSE, code=code, ip=ip)
        if not result.ok:
            return result
        device.state, device.confirmed_at = DeviceState.ACTIVE, timezone.now()
        device.save(update_fields=["state", "confirmed_at"])
        audit_record(
            event_type=AuditEventType.OTP_DEVICE_ENROLLED,
            actor=holder.user, organization=holder.organization, subject=device,
            ip=ip, details={"kind": device.kind, "replaced": []},
        )
        security_notice_send(holder=holder, event="device_changed", reference=f"enrol:{device.public_id}")
    return result


def staff_app_enrolment_start(*, user: User, ip: str = "") -> AppEnrolment:
    """An operator's or administrator's authenticator app, pending until its first code comes back.

    Unlike a holder's, it replaces nothing: staff may keep several factors (an app and passkeys),
    so losing one does not lock them out. An earlier pending app of the same person is retired.
    """
    seed = secrets.token_bytes(APP_SEED_BYTES)
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()  # the staff user's row serializes
        for stale in OtpDevice.objects.select_for_update().filter(
            staff_user=user, kind=DeviceKind.APP_TOTP, state=DeviceState.PENDING
        ):
            stale.state = DeviceState.RETIRED
            stale.save(update_fields=["state"])
        device = OtpDevice(kind=DeviceKind.APP_TOTP, staff_user=user, state=DeviceState.PENDING,
                           digits=APP_DIGITS, period=APP_PERIOD)
        device.seal_seed(seed)
        device.save()
    secret = base64.b32encode(seed).decode("ascii").rstrip("=")
    uri = otpauth_uri(secret=seed, issuer=STAFF_ISSUER, account=user.username,
                      digits=APP_DIGITS, period=APP_PERIOD)
    return AppEnrolment(device=device, secret=secret, uri=uri)


def staff_app_enrolment_confirm(
    *, user: User, device: OtpDevice, code: str, actor: User | None = None, ip: str = ""
) -> VerifyResult:
    """Activate a pending staff app with its first valid code (checked by the one verifier)."""
    with transaction.atomic():
        locked, result = _pending_app_activate(device, code=code, ip=ip, owned=lambda d: d.staff_user_id == user.pk)
        if not result.ok:
            return result
        audit_record(
            event_type=AuditEventType.STAFF_OTP_APP_ADDED,
            actor=actor or user, organization=user.organization, subject=locked,
            ip=ip, details={"user": user.pk},
        )
    device.state, device.confirmed_at = locked.state, locked.confirmed_at
    return result
