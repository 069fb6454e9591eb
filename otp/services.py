"""Creating devices and checking their codes. Every check runs under a row lock.

Two requests with the same valid code are serialized on the device row: the first moves the HOTP
counter (or the TOTP last step) past the code, so the second sees a replay. Failures are counted
in the same transaction, and the device locks at ``OTP_MAX_FAILURES`` consecutive failures.

A replay — a code this device produced and that was already accepted — is one rule everywhere a
code is checked (devices here, SMS codes in ``otp/sms_codes.py``): refused with
:data:`CODE_REPLAYED_MESSAGE`, audited (``otp.code_replayed``), the holder notified once per code,
and **not** counted as a failure. A replay is no guess at the secret: whoever sends it saw a code
that worked, and counting it would only let a double submission (or someone who read the screen)
push the holder's own device towards its lock. The failure count is left as it was, not reset.
"""

from __future__ import annotations

import enum
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from core.errors import ApplicationError
from notifications.services import security_notice_send
from otp.crypto import seed_open
from otp.models import Algorithm, DeviceKind, DeviceState, OtpDevice
from otp.oath import codes_equal, hotp, totp_step

if TYPE_CHECKING:
    from accounts.models import Holder, User

HOTP_LOOK_AHEAD = 10  # counters accepted beyond the expected one
HOTP_REPLAY_LOOK_BACK = 20  # recent counters recognised as a replay rather than a wrong code
TOTP_WINDOW = 1  # ± steps around the expected one
RESYNC_WINDOW = 1000  # events (HOTP) or steps (TOTP) searched when resynchronizing
_CODE = re.compile(r"^[0-9]{6}$|^[0-9]{8}$")

# What the holder reads after a replayed code, wherever it was typed (device or SMS code).
CODE_REPLAYED_MESSAGE = _("This code has already been used. Use a new code.")


def code_replayed_error(*, field: str | None = "code") -> ApplicationError:
    """The refusal of a replayed code, for services that answer with an :class:`ApplicationError`."""
    return ApplicationError("otp_replayed", CODE_REPLAYED_MESSAGE, field=field)


class VerifyOutcome(enum.Enum):
    ACCEPTED = "accepted"
    INVALID = "invalid"
    REPLAYED = "replayed"
    LOCKED = "locked"
    MALFORMED = "malformed"
    NOT_USABLE = "not_usable"


@dataclass(frozen=True)
class VerifyResult:
    outcome: VerifyOutcome
    failures_left: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is VerifyOutcome.ACCEPTED

    def __bool__(self) -> bool:
        # ``if device_verify(...)`` would always be true: a refused code must never read as accepted.
        raise TypeError("a VerifyResult is not a boolean: test .ok or .outcome")


def normalize_code(code: str) -> str:
    return "".join(str(code).split())[:16]


def device_create(
    *,
    kind: str,
    seed: bytes | None = None,
    holder: Holder | None = None,
    staff_user: User | None = None,
    serial: str | None = None,
    algorithm: str = Algorithm.SHA1,
    digits: int = 6,
    period: int = 30,
    counter: int = 0,
    state: str = DeviceState.ACTIVE,
    actor: object = None,
    ip: str = "",
) -> OtpDevice:
    """Store a device; its seed only encrypted, bound to the new row."""
    if kind != DeviceKind.SMS and not seed:
        raise ApplicationError("seed_missing", _("A token needs its seed."))
    if holder is not None and staff_user is not None:
        raise ValueError("a device belongs to a holder or to a member of staff, not both")
    if (holder is None and staff_user is None) != (state == DeviceState.AVAILABLE):
        raise ValueError("a device without owner is in stock (AVAILABLE), and only such a device")
    if digits not in (6, 8) or algorithm not in Algorithm.values:
        raise ApplicationError("token_parameters", _("Only 6 or 8 digits and SHA-1/SHA-256/SHA-512 are supported."))
    device = OtpDevice(
        public_id=uuid.uuid4(), kind=kind, holder=holder, staff_user=staff_user, serial=serial,
        algorithm=algorithm, digits=digits, period=period, counter=counter, state=state,
    )
    if seed:
        device.seal_seed(seed)
    with transaction.atomic():
        device.save()
        audit_record(
            event_type=AuditEventType.OTP_DEVICE_CREATED,
            actor=actor,
            organization=holder.organization if holder else (staff_user.organization if staff_user else None),
            subject=device,
            ip=ip,
            details={
                "kind": kind, "serial": serial or "", "state": state,
                **({"staff_user": staff_user.pk} if staff_user else {}),
            },
        )
    return device


def _locked(device: OtpDevice) -> OtpDevice:
    """The device row, locked for the rest of the transaction (its holder joined, not locked)."""
    return (
        OtpDevice.objects.select_for_update(of=("self",))
        .select_related("holder__organization", "staff_user")
        .get(pk=device.pk)
    )


def _code_at(device: OtpDevice, seed: bytes, counter: int) -> str:
    return hotp(seed, counter, digits=device.digits, algorithm=device.algorithm)


def _match(device: OtpDevice, seed: bytes, code: str, now: float) -> tuple[VerifyOutcome, int | None]:
    """Where ``code`` falls for this device: accepted or replayed at a counter/step, or nowhere."""
    if device.is_time_based:
        expected = totp_step(now, device.period) + device.drift
        for step in range(expected - TOTP_WINDOW, expected + TOTP_WINDOW + 1):
            if codes_equal(_code_at(device, seed, step), code):
                if device.last_step is not None and step <= device.last_step:
                    return VerifyOutcome.REPLAYED, step
                return VerifyOutcome.ACCEPTED, step
        return VerifyOutcome.INVALID, None
    for counter in range(device.counter, device.counter + HOTP_LOOK_AHEAD + 1):
        if codes_equal(_code_at(device, seed, counter), code):
            return VerifyOutcome.ACCEPTED, counter
    for counter in range(max(device.counter - HOTP_REPLAY_LOOK_BACK, 0), device.counter):
        if codes_equal(_code_at(device, seed, counter), code):
            return VerifyOutcome.REPLAYED, counter
    return VerifyOutcome.INVALID, None


def device_verify(
    *, device: OtpDevice, code: str, purpose: str, ip: str = "", now: float | None = None
) -> VerifyResult:
    """Check one code of a token or app device, once; count failures and lock at the limit."""
    code = normalize_code(code)
    now = time.time() if now is None else now
    with transaction.atomic():
        locked = _locked(device)
        if locked.kind == DeviceKind.SMS or locked.state not in (DeviceState.ACTIVE, DeviceState.PENDING):
            return VerifyResult(VerifyOutcome.NOT_USABLE)
        if locked.is_locked:
            _audit(locked, AuditEventType.OTP_VERIFY_REFUSED_LOCKED, Outcome.DENIED, purpose, ip)
            return VerifyResult(VerifyOutcome.LOCKED)
        if not _CODE.match(code) or len(code) != locked.digits:
            return VerifyResult(VerifyOutcome.MALFORMED)
        outcome, position = _match(locked, seed_open(locked.sealed_seed, binding=locked.seed_binding), code, now)
        if outcome is VerifyOutcome.ACCEPTED and position is not None:
            if locked.is_time_based:
                locked.last_step = position
                locked.drift = position - totp_step(now, locked.period)
            else:
                locked.counter = position + 1
            locked.failure_count = 0
            locked.last_used_at = timezone.now()
            locked.save(update_fields=["last_step", "drift", "counter", "failure_count", "last_used_at"])
            _audit(locked, AuditEventType.OTP_VERIFY_SUCCEEDED, Outcome.SUCCESS, purpose, ip)
            device.counter, device.last_step, device.drift = locked.counter, locked.last_step, locked.drift
            return VerifyResult(VerifyOutcome.ACCEPTED)
        if outcome is VerifyOutcome.REPLAYED and position is not None:
            return _replayed(locked, position, purpose, ip)
        return _failure(locked, outcome, purpose, ip)


def otp_check(
    *, holder: Holder, code: str, purpose: str, ip: str = "", device: OtpDevice | None = None,
    now: float | None = None,
) -> VerifyResult:
    """Check a holder's one-time code for ``purpose``, whatever the device it comes from.

    A token or app device (``device`` of kind HOTP/TOTP) is checked by :func:`device_verify`; an SMS
    device, or no device at all, means the holder's latest SMS code for ``purpose``
    (:func:`otp.sms_codes.sms_code_check`). Both run under their row lock and apply the same rules:
    wrong codes counted up to their limit, a replay refused and not counted, every check audited. A
    device that is not the holder's, or an SMS device that is neither active nor pending, is
    ``NOT_USABLE`` and nothing is checked or counted.
    """
    if device is not None and device.holder_id != holder.pk:
        return VerifyResult(VerifyOutcome.NOT_USABLE)
    if device is None or device.kind == DeviceKind.SMS:
        if device is not None and device.state not in (DeviceState.ACTIVE, DeviceState.PENDING):
            return VerifyResult(VerifyOutcome.NOT_USABLE)
        # Imported here: otp.sms_codes builds on this module's results (VerifyResult, the replay rule).
        from otp.sms_codes import sms_code_check

        return sms_code_check(holder=holder, purpose=purpose, code=code, ip=ip)
    return device_verify(device=device, code=code, purpose=purpose, ip=ip, now=now)


def _replayed(device: OtpDevice, position: int, purpose: str, ip: str) -> VerifyResult:
    """A code already accepted at ``position`` (HOTP counter or TOTP step): refused, not counted."""
    # ASVS 2.8.5: a code used before is refused, logged, and its owner told (once per code).
    _audit(device, AuditEventType.OTP_CODE_REPLAYED, Outcome.DENIED, purpose, ip)
    if device.holder is not None:
        security_notice_send(
            holder=device.holder, event="otp_code_reused", reference=f"{device.public_id}:{position}"
        )
    return VerifyResult(VerifyOutcome.REPLAYED, failures_left=settings.OTP_MAX_FAILURES - device.failure_count)


def _failure(device: OtpDevice, outcome: VerifyOutcome, purpose: str, ip: str) -> VerifyResult:
    device.failure_count += 1
    limit = settings.OTP_MAX_FAILURES
    if device.failure_count >= limit:
        device.locked_at = timezone.now()
    device.save(update_fields=["failure_count", "locked_at"])
    _audit(device, AuditEventType.OTP_VERIFY_FAILED, Outcome.FAILURE, purpose, ip)
    if device.locked_at is not None:
        _audit(device, AuditEventType.OTP_DEVICE_LOCKED, Outcome.FAILURE, purpose, ip)
        return VerifyResult(VerifyOutcome.LOCKED)
    return VerifyResult(outcome, failures_left=limit - device.failure_count)


def _audit(device: OtpDevice, event_type: AuditEventType, outcome: str, purpose: str, ip: str) -> None:
    holder, staff = device.holder, device.staff_user
    audit_record(
        event_type=event_type,
        outcome=outcome,
        actor=holder.user if holder else staff,
        organization=holder.organization if holder else (staff.organization if staff else None),
        subject=device,
        ip=ip,
        details={"purpose": purpose, "failures": device.failure_count},
    )


def device_resynchronize(
    *, device: OtpDevice, first_code: str, second_code: str, ip: str = "", now: float | None = None
) -> VerifyResult:
    """Re-align a drifted token from two consecutive codes; also lifts a failure lock.

    Searches ``RESYNC_WINDOW`` events (HOTP) or steps either side (TOTP) for the pair; the caller
    has re-authenticated the holder (password) before offering this. A pair starting at a code
    already used is a replay (refused, not counted), like in :func:`device_verify`.
    """
    first, second = normalize_code(first_code), normalize_code(second_code)
    now = time.time() if now is None else now
    with transaction.atomic():
        locked = _locked(device)
        if locked.kind not in (DeviceKind.HARDWARE_HOTP, DeviceKind.HARDWARE_TOTP, DeviceKind.APP_TOTP):
            return VerifyResult(VerifyOutcome.NOT_USABLE)
        if not (_CODE.match(first) and _CODE.match(second)) or {len(first), len(second)} != {locked.digits}:
            return VerifyResult(VerifyOutcome.MALFORMED)
        seed = seed_open(locked.sealed_seed, binding=locked.seed_binding)
        if locked.is_time_based:
            now_step = totp_step(now, locked.period)
            floor = max(now_step - RESYNC_WINDOW, (locked.last_step or -1) + 1)
            candidates = range(floor, now_step + RESYNC_WINDOW)
            used = range(max(now_step - RESYNC_WINDOW, 0), floor)
        else:
            candidates = range(locked.counter, locked.counter + RESYNC_WINDOW)
            used = range(max(locked.counter - HOTP_REPLAY_LOOK_BACK, 0), locked.counter)

        def pair_at(positions: range) -> int | None:
            return next(
                (
                    position
                    for position in positions
                    if codes_equal(_code_at(locked, seed, position), first)
                    and codes_equal(_code_at(locked, seed, position + 1), second)
                ),
                None,
            )

        found = pair_at(candidates)
        if found is None:
            replayed = pair_at(used)
            if replayed is not None:
                return _replayed(locked, replayed, "resynchronize", ip)
            return _failure(locked, VerifyOutcome.INVALID, "resynchronize", ip)
        if locked.is_time_based:
            locked.last_step = found + 1
            locked.drift = found + 1 - totp_step(now, locked.period)
        else:
            locked.counter = found + 2
        locked.failure_count, locked.locked_at, locked.last_used_at = 0, None, timezone.now()
        locked.save(update_fields=["last_step", "drift", "counter", "failure_count", "locked_at", "last_used_at"])
        _audit(locked, AuditEventType.OTP_DEVICE_RESYNCHRONIZED, Outcome.SUCCESS, "resynchronize", ip)
        return VerifyResult(VerifyOutcome.ACCEPTED)


def device_unlock(*, device: OtpDevice, actor: object, ip: str = "") -> None:
    """An operator lifts a failure lock (the tenant check is the caller's selector)."""
    with transaction.atomic():
        locked = OtpDevice.objects.select_for_update().get(pk=device.pk)
        locked.failure_count, locked.locked_at = 0, None
        locked.save(update_fields=["failure_count", "locked_at"])
        audit_record(
            event_type=AuditEventType.OPERATOR_OTP_DEVICE_UNLOCKED,
            actor=actor,
            organization=locked.holder.organization if locked.holder else None,
            subject=locked,
            ip=ip,
        )


def seeds_reencrypt(*, batch_size: int = 500) -> int:
    """Re-encrypt every seed not under the current key (after adding a new key to OTP_SEED_KEYS and
    pointing OTP_SEED_KEY_ID at it). Row by row under lock, so devices stay usable meanwhile."""
    current = settings.OTP_SEED_KEY_ID
    done = 0
    while True:
        with transaction.atomic():
            rows = list(
                OtpDevice.objects.select_for_update(skip_locked=True)
                .exclude(seed_key_id=current)
                .exclude(seed_key_id="")
                .order_by("pk")[:batch_size]
            )
            for device in rows:
                device.seal_seed(seed_open(device.sealed_seed, binding=device.seed_binding))
                device.save(update_fields=["seed_key_id", "seed_nonce", "seed_ciphertext"])
            if rows:
                audit_record(event_type=AuditEventType.OTP_SEEDS_REENCRYPTED,
                             details={"count": len(rows), "key_id": current})
        done += len(rows)
        if len(rows) < batch_size:
            return done


def token_assign(*, actor: object, holder: Holder, serial: str, ip: str = "") -> OtpDevice:
    """An operator hands a hardware token from stock to a holder, identified by its 13-digit serial."""
    serial = "".join(str(serial).split())
    if not re.fullmatch(r"[0-9]{13}", serial):
        raise ApplicationError("serial_format", _("The serial number has 13 digits."), field="serial")
    if not holder.organization.otp_hardware_allowed:
        raise ApplicationError("hardware_not_allowed", _("Your organization does not use hardware tokens."))
    with transaction.atomic():
        device = OtpDevice.objects.select_for_update().filter(serial=serial).first()
        if device is None or device.kind not in (DeviceKind.HARDWARE_HOTP, DeviceKind.HARDWARE_TOTP):
            raise ApplicationError("serial_unknown", _("No token with this serial number is in stock."), field="serial")
        if device.state != DeviceState.AVAILABLE or device.holder_id is not None:
            raise ApplicationError(
                "serial_assigned", _("This token is already assigned to someone."), field="serial"
            )
        device.holder, device.state, device.confirmed_at = holder, DeviceState.ACTIVE, timezone.now()
        device.save(update_fields=["holder", "state", "confirmed_at"])
        audit_record(
            event_type=AuditEventType.OPERATOR_OTP_TOKEN_ASSIGNED,
            actor=actor,
            organization=holder.organization,
            subject=device,
            ip=ip,
            details={"serial": serial, "holder": holder.pk},
        )
        security_notice_send(holder=holder, event="device_changed", reference=f"assign:{device.public_id}")
    return device
