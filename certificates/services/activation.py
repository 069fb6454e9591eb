"""Activation of an issued certificate by its holder.

Steps, each recorded on the :class:`~certificates.models.Activation` row bound to the link:

1. the link (single use: the session then carries the activation's id, never the token);
2. the temporary password from the SMS (5 wrong ones kill the link);
3. the new password, checked by the organization's policy and kept **only as a hash** on the row;
4. the OTP device: a code from the assigned hardware token, the smartphone app enrolled by QR code,
   or the SMS code — checked by the OTP services (their failure counters and locks apply);
5. the signing PIN, typed twice: in **one transaction** the account gets its new password, the
   certificate is activated with the PIN (``certificate_activate``) and the link is spent.

Why the device comes before the PIN and the activation: the PIN must never be stored, not even in
the session, so choosing it and activating the key have to be the same request — and that request
must be the last one, so that when the certificate becomes active everything else (password,
device) is already in place, and when any earlier step fails nothing is active and the link still
works. The device step is the only one that commits before the end; on its own it is harmless (a
device opens nothing without the password, which the account gets only in the last step) and the
row remembers it, so a holder who comes back continues with the PIN.
"""

from __future__ import annotations

import uuid

from django.contrib.auth import password_validation
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Holder, User
from accounts.services.authentication import login_throttle_clear
from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from certificates.models import ACTIVATION_OPEN_STATES, Activation, ActivationState, CertificateState, OtpChoice
from certificates.pin_policy import pin_validate
from certificates.services.issuance import activation_link_digest
from certificates.services.lifecycle import certificate_activate
from core.errors import ApplicationError
from otp.enrolment import (
    AppEnrolment,
    app_enrolment_confirm,
    app_enrolment_start,
    sms_enrolment_confirm,
    sms_enrolment_send,
)
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.services import VerifyOutcome, VerifyResult, otp_check
from otp.sms_codes import sms_code_issue

TEMPORARY_PASSWORD_MAX_FAILURES = 5
SMS_PURPOSE = "activation"
State = ActivationState


def _refused(reason: str) -> ApplicationError:
    texts = {
        "invalid": _(
            "This activation link is not valid: it may have been used already, or a newer one was sent. "
            "Ask your registration office to send the activation again."
        ),
        "expired": _(
            "The activation deadline of this certificate has passed: ask your registration office for a new "
            "certificate."
        ),
        "completed": _("This certificate has already been activated: log in with your username and password."),
        "spent": _(
            "Too many wrong temporary passwords: this activation link no longer works. Ask your registration "
            "office to send the activation again."
        ),
    }
    return ApplicationError(f"activation_{reason}", texts[reason])


def _usable(activation: Activation | None) -> Activation:
    if activation is None:
        raise _refused("invalid")
    if activation.state == State.COMPLETED:
        raise _refused("completed")
    if activation.state == State.SPENT:
        raise _refused("spent")
    if activation.state in ACTIVATION_OPEN_STATES and (
        activation.expires_at <= timezone.now() or activation.certificate.state == CertificateState.EXPIRED
    ):
        raise _refused("expired")
    if activation.state not in ACTIVATION_OPEN_STATES or activation.certificate.state != CertificateState.ISSUED:
        raise _refused("invalid")
    return activation


def _query(lock: bool = False) -> QuerySet[Activation]:
    queryset = Activation.objects.select_related("certificate", "holder__user", "holder__organization")
    return queryset.select_for_update(of=("self",)) if lock else queryset


def activation_by_link(*, token: str) -> Activation:
    """The activation a link opens, if it can still be used; else :class:`ApplicationError`."""
    if not token or len(token) > 100:
        raise _refused("invalid")
    return _usable(_query().filter(link_hash=activation_link_digest(token)).first())


def activation_get(*, public_id: str) -> Activation:
    """The activation the session is bound to (after the link was opened), if it can still be used."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError as exc:
        raise _refused("invalid") from exc
    return _usable(_query().filter(public_id=key).first())


def _locked(activation: Activation, *expected: str) -> Activation:
    locked = _usable(_query(lock=True).filter(pk=activation.pk).first())
    if locked.state not in expected:
        raise ApplicationError("activation_step", _("This step is not the next one: continue from the current step."))
    return locked


def _audit(
    activation: Activation, event: AuditEventType, ip: str, outcome: str = Outcome.SUCCESS, **details: object
) -> None:
    audit_record(
        event_type=event,
        outcome=outcome,
        actor=activation.holder.user,
        organization=activation.organization_id,
        subject=activation,
        ip=ip,
        details={"iut": activation.certificate.iut, **details},
    )


def activation_password_check(*, activation: Activation, temporary_password: str, ip: str = "") -> None:
    """Step 2: the temporary password of the SMS. A wrong one counts (and is not rolled back)."""
    error: ApplicationError | None = None
    with transaction.atomic():
        locked = _locked(activation, State.SENT)
        if check_password(temporary_password, locked.temporary_password_hash):
            locked.state = State.PASSWORD_CHECKED
            locked.password_failures = 0
            locked.save(update_fields=["state", "password_failures"])
            _audit(locked, AuditEventType.CERTIFICATE_ACTIVATION_PASSWORD_CHECKED, ip)
        else:
            locked.password_failures += 1
            fields = ["password_failures"]
            if locked.password_failures >= TEMPORARY_PASSWORD_MAX_FAILURES:
                locked.state, locked.temporary_password_hash = State.SPENT, ""
                fields += ["state", "temporary_password_hash"]
                error = _refused("spent")
            else:
                left = TEMPORARY_PASSWORD_MAX_FAILURES - locked.password_failures
                error = ApplicationError(
                    "temporary_password_wrong",
                    _("The temporary password is not correct. Attempts left: %(left)d.") % {"left": left},
                    field="temporary_password",
                )
            locked.save(update_fields=fields)
            _audit(locked, AuditEventType.CERTIFICATE_ACTIVATION_PASSWORD_REFUSED,
                           ip, Outcome.FAILURE, failures=locked.password_failures)
    activation.state = locked.state
    if error is not None:
        raise error


def activation_password_choose(*, activation: Activation, new_password: str, ip: str = "") -> None:
    """Step 3: the new password, checked by the policy (Django ``ValidationError`` if refused).

    Kept as a hash on the row until the last step sets it on the account: until then the account
    has no usable new password, and an abandoned activation changes nothing.
    """
    with transaction.atomic():
        locked = _locked(activation, State.PASSWORD_CHECKED, State.PASSWORD_CHOSEN, State.DEVICE_READY)
        password_validation.validate_password(new_password, locked.holder.user)
        if check_password(new_password, locked.temporary_password_hash):
            raise ApplicationError(
                "password_is_temporary", _("Choose a new password, not the temporary one."), field="new_password"
            )
        locked.new_password_hash = make_password(new_password)
        if locked.state == State.PASSWORD_CHECKED:
            locked.state = State.PASSWORD_CHOSEN
        locked.save(update_fields=["new_password_hash", "state"])
        _audit(locked, AuditEventType.CERTIFICATE_ACTIVATION_PASSWORD_CHOSEN, ip)
    activation.state = locked.state


# --- Step 4: the OTP device --------------------------------------------------------------------------


def activation_device(*, activation: Activation) -> OtpDevice | None:
    """The active device the holder proves with a code, if there is one already (token; app or SMS
    already enrolled for an earlier certificate); ``None`` when the device is still to be enrolled."""
    kinds = {
        OtpChoice.HARDWARE: (DeviceKind.HARDWARE_HOTP, DeviceKind.HARDWARE_TOTP),
        OtpChoice.APP: (DeviceKind.APP_TOTP,),
        OtpChoice.SMS: (DeviceKind.SMS,),
    }[OtpChoice(activation.otp_choice)]
    return (
        OtpDevice.objects.filter(holder=activation.holder, kind__in=kinds, state=DeviceState.ACTIVE)
        .order_by("-confirmed_at", "-pk")
        .first()
    )


def _device_ready(activation: Activation, ip: str, device: OtpDevice) -> None:
    with transaction.atomic():
        locked = _locked(activation, State.PASSWORD_CHOSEN, State.DEVICE_READY)
        locked.state = State.DEVICE_READY
        locked.save(update_fields=["state"])
        _audit(locked, AuditEventType.CERTIFICATE_ACTIVATION_DEVICE_READY,
                       ip, device=str(device.public_id), kind=device.kind)
    activation.state = locked.state


def activation_device_verify(*, activation: Activation, code: str, ip: str = "") -> VerifyResult:
    """A code from the holder's active token or app (failures count on the device and lock it)."""
    _locked_check(activation)
    device = activation_device(activation=activation)
    if device is None or device.kind == DeviceKind.SMS:
        return VerifyResult(VerifyOutcome.NOT_USABLE)
    result = otp_check(holder=activation.holder, code=code, purpose="activation", ip=ip, device=device)
    if result.ok:
        _device_ready(activation, ip, device)
    return result


def activation_app_start(*, activation: Activation, ip: str = "") -> AppEnrolment:
    """A new pending app for the holder (the QR code is shown once; coming back starts over)."""
    _locked_check(activation)
    return app_enrolment_start(holder=activation.holder, ip=ip)


def activation_app_confirm(*, activation: Activation, device: OtpDevice, code: str, ip: str = "") -> VerifyResult:
    _locked_check(activation)
    result = app_enrolment_confirm(holder=activation.holder, device=device, code=code, ip=ip)
    if result.ok:
        _device_ready(activation, ip, device)
    return result


def activation_sms_send(*, activation: Activation, ip: str = "") -> None:
    """An SMS code: the enrolment code of a new SMS device, or a code to an SMS device already active."""
    _locked_check(activation)
    holder = activation.holder
    if activation_device(activation=activation) is not None:
        sms_code_issue(holder=holder, purpose=SMS_PURPOSE, ip=ip)
    else:
        sms_enrolment_send(holder=holder, actor=holder.user, ip=ip)


def activation_sms_confirm(*, activation: Activation, code: str, ip: str = "") -> VerifyResult:
    _locked_check(activation)
    holder = activation.holder
    device = activation_device(activation=activation)
    if device is not None:
        result = otp_check(holder=holder, code=code, purpose=SMS_PURPOSE, ip=ip, device=device)
    else:
        result = sms_enrolment_confirm(holder=holder, code=code, ip=ip)
        device = activation_device(activation=activation) if result.ok else None
    if not result.ok:
        return result
    if device is None:
        return VerifyResult(VerifyOutcome.NOT_USABLE)
    _device_ready(activation, ip, device)
    return result


def _locked_check(activation: Activation) -> None:
    """The device step is open only after the new password was chosen (and again until the PIN)."""
    current = _usable(_query().filter(pk=activation.pk).first())
    if current.state not in (State.PASSWORD_CHOSEN, State.DEVICE_READY):
        raise ApplicationError("activation_step", _("This step is not the next one: continue from the current step."))
    if activation.otp_choice == OtpChoice.APP and not activation.organization.otp_app_allowed:
        raise ApplicationError("app_not_allowed", _("Your organization does not use the smartphone app."))


# --- Step 5: PIN and activation ----------------------------------------------------------------------


def activation_complete(*, activation: Activation, pin: str, ip: str = "") -> Holder:
    """The signing PIN; then, in one transaction, password set, certificate active, link spent.

    A refused PIN (``weak_pin``) or a certificate that can no longer be activated raises, and then
    nothing of this step is written.
    """
    pin_validate(pin=pin, holder=activation.holder)
    with transaction.atomic():
        locked = _locked(activation, State.DEVICE_READY)
        if not locked.new_password_hash:
            raise ApplicationError("activation_step", _("Choose your new password first."))
        user = User.objects.select_for_update().get(pk=locked.holder.user_id)
        user.password = locked.new_password_hash
        user.save(update_fields=["password"])
        certificate_activate(certificate=locked.certificate, pin=pin, actor=user, ip=ip)
        now = timezone.now()
        locked.state, locked.completed_at = State.COMPLETED, now
        locked.temporary_password_hash = locked.new_password_hash = ""
        locked.save(update_fields=["state", "completed_at", "temporary_password_hash", "new_password_hash"])
        login_throttle_clear(user=user)
        _audit(locked, AuditEventType.CERTIFICATE_ACTIVATION_COMPLETED, ip)
    activation.state = locked.state
    # Fresh from the database: the caller logs this account in, and the session hash must be the new password's.
    return Holder.objects.select_related("user", "organization").get(pk=locked.holder_id)
