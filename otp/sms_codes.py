"""One-time codes sent by SMS, each bound to the operation that asked for it.

A code is 6 digits from :mod:`secrets`, valid ``SMS_CODE_TTL``, accepted once, and only by the
purpose it was issued for: a code asked for "change_phone" cannot confirm "revoke". Only an HMAC
of it is stored; the SMS goes through the outbox, where the code lives only in the sealed copy.

Issuing is throttled per holder: one new code per purpose every ``SMS_CODE_COOLDOWN`` and at most
``SMS_CODE_HOURLY_LIMIT`` in any hour across purposes (each SMS costs money, and an unbounded
"send me a code" button is a way to flood someone's phone). Checks run under a row lock, so two
concurrent attempts with the same code cannot both succeed, and wrong codes are counted. A code
already used is a replay: refused with the one replay message, audited, the holder told, and not
counted (the rule of ``otp/services.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from core.errors import ApplicationError
from notifications.models import Channel
from notifications.services import message_enqueue, security_notice_send
from otp.models import SMS_CODE_MAX_ATTEMPTS, SmsCode
from otp.services import VerifyOutcome, VerifyResult

if TYPE_CHECKING:
    from accounts.models import Holder

SMS_CODE_DIGITS = 6
SMS_CODE_TTL = timedelta(minutes=5)  # the SMS template says "5 minutes" too
SMS_CODE_COOLDOWN = timedelta(seconds=30)  # at most one new code every 30 s
# Ten an hour covers a holder who mistypes, loses a message and tries several operations, while
# capping what one account can cost us or push at a phone number.
SMS_CODE_HOURLY_LIMIT = 10
_HOUR = timedelta(hours=1)
_CODE = re.compile(r"[0-9]{6}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")

# Every operation that may ask for an SMS code, in the words the SMS uses ("the code for …").
# Kept short: the whole SMS must fit one GSM-7 segment (160 characters) in every language.
SMS_CODE_PURPOSES = {
    "change_phone": _("changing your mobile number"),
    "change_email": _("changing your e-mail address"),
    "change_residence": _("changing your residence address"),
    "device_change": _("changing your OTP device"),
    "password_recovery": _("recovering your password"),
    "suspend": _("suspending your certificate"),
    "revoke": _("revoking your certificate"),
    "reactivate": _("reactivating your certificate"),
    "pin_change": _("changing your signing PIN"),
    "sign": _("signing documents"),
    "step_up": _("confirming the operation"),
    "sms_enrolment": _("activating SMS codes"),
    "activation": _("activating your certificate"),
}


def _hash_key() -> bytes:
    # A key of its own, derived from the secret key, so the hashes cannot be recomputed from a
    # database dump alone (six digits are otherwise a million guesses away).
    return hashlib.sha256(f"otp-sms-code:{settings.SECRET_KEY}".encode()).digest()


def sms_code_hash(*, public_id: object, purpose: str, code: str) -> str:
    """HMAC-SHA256 of the code, salted with the row's public id and bound to its purpose."""
    return hmac.new(_hash_key(), f"{public_id}:{purpose}:{code}".encode(), hashlib.sha256).hexdigest()


def _retry_error(code: str, retry_at: datetime, now: datetime) -> ApplicationError:
    seconds = max(int((retry_at - now).total_seconds() + 0.999), 1)
    if seconds <= 90:
        text = ngettext(
            "A new code was sent a moment ago. You can ask for another one in %(seconds)d second.",
            "A new code was sent a moment ago. You can ask for another one in %(seconds)d seconds.",
            seconds,
        ) % {"seconds": seconds}
    else:
        at = formats.time_format(timezone.localtime(retry_at), "H:i")
        text = _(
            "Too many codes have been requested in the last hour. You can ask for a new one at %(time)s."
        ) % {"time": at}
    return ApplicationError(code, text)


def sms_code_issue(*, holder: Holder, purpose: str, recipient: str | None = None, ip: str = "") -> SmsCode:
    """Send a new code for ``purpose`` to ``recipient`` (the holder's mobile unless another is given).

    Earlier unused codes for the same purpose stop working. Raises :class:`ApplicationError` when
    the holder asks too often, with a message saying when to try again.
    """
    if purpose not in SMS_CODE_PURPOSES:
        raise ValueError(f"unknown SMS code purpose {purpose!r}")
    recipient = "".join((recipient if recipient is not None else holder.mobile or "").split())
    if not _E164.fullmatch(recipient):
        raise ApplicationError(
            "sms_code_recipient", _("Enter a valid mobile number, for example +39 347 123 4567."), field="recipient"
        )
    with transaction.atomic():
        # Serialize issuance per holder: two concurrent requests cannot both pass the cooldown.
        # The model is looked up by name: otp sits below accounts and does not import it at runtime.
        apps.get_model("accounts", "Holder").objects.select_for_update().filter(pk=holder.pk).first()
        now = timezone.now()
        refusal = _throttled(holder, purpose, now)
        if refusal is None:
            row = _issue(holder, purpose, recipient, now, ip)
    if refusal is not None:
        # Recorded outside the issuing transaction: an exception there would roll the audit back.
        reason, retry_at = refusal
        audit_record(
            event_type=AuditEventType.OTP_SMS_CODE_REFUSED,
            outcome=Outcome.DENIED,
            actor=holder.user,
            organization=holder.organization,
            ip=ip,
            details={"purpose": purpose, "reason": reason},
        )
        raise _retry_error(f"sms_code_{reason}", retry_at, now)
    return row


def _throttled(holder: Holder, purpose: str, now: datetime) -> tuple[str, datetime] | None:
    """Why no new code may be sent now, and when one may: ``None`` when it may."""
    recent = SmsCode.objects.filter(holder=holder, created_at__gt=now - _HOUR)
    last_for_purpose = recent.filter(purpose=purpose).order_by("-created_at").first()
    if last_for_purpose is not None and last_for_purpose.created_at + SMS_CODE_COOLDOWN > now:
        return "cooldown", last_for_purpose.created_at + SMS_CODE_COOLDOWN
    in_hour = list(recent.order_by("-created_at").values_list("created_at", flat=True)[:SMS_CODE_HOURLY_LIMIT])
    if len(in_hour) >= SMS_CODE_HOURLY_LIMIT:
        return "hourly_limit", in_hour[-1] + _HOUR
    return None


def _issue(holder: Holder, purpose: str, recipient: str, now: datetime, ip: str) -> SmsCode:
    SmsCode.objects.filter(
        holder=holder, purpose=purpose, used_at__isnull=True, invalidated_at__isnull=True
    ).update(invalidated_at=now)
    code = f"{secrets.randbelow(10**SMS_CODE_DIGITS):0{SMS_CODE_DIGITS}d}"
    row = SmsCode(holder=holder, purpose=purpose, recipient=recipient, created_at=now, expires_at=now + SMS_CODE_TTL)
    row.code_hash = sms_code_hash(public_id=row.public_id, purpose=purpose, code=code)
    row.save()
    message_enqueue(
        message_type="otp_sms_code",
        channel=Channel.SMS,
        recipient=recipient,
        context={"purpose_text": SMS_CODE_PURPOSES[purpose]},
        secrets={"code": code},
        idempotency_key=f"sms-code:{row.public_id}",
        language=holder.user.preferred_language,
        holder=holder,
    )
    audit_record(
        event_type=AuditEventType.OTP_SMS_CODE_ISSUED,
        actor=holder.user,
        organization=holder.organization,
        subject=row,
        ip=ip,
        details={"purpose": purpose, "recipient": _masked(recipient)},
    )
    return row


def _matches(row: SmsCode, code: str) -> bool:
    return hmac.compare_digest(row.code_hash, sms_code_hash(public_id=row.public_id, purpose=row.purpose, code=code))


def _replayed(holder: Holder, purpose: str, code: str, now: datetime) -> SmsCode | None:
    """The holder's code for ``purpose`` used in the last hour that ``code`` is, if any."""
    used = SmsCode.objects.filter(
        holder=holder, purpose=purpose, used_at__isnull=False, created_at__gt=now - _HOUR
    ).order_by("-created_at")[:SMS_CODE_HOURLY_LIMIT]
    return next((row for row in used if _matches(row, code)), None)


def sms_code_check(
    *, holder: Holder, purpose: str, code: str, ip: str = "", recipient: str | None = None
) -> VerifyResult:
    """Accept ``code`` once if it is the holder's latest live code for ``purpose``.

    ``recipient``, when given, must be the number the code was sent to (a new phone being
    confirmed). A wrong code counts against the live code; ``SMS_CODE_MAX_ATTEMPTS`` invalidate it.
    A code already used is ``REPLAYED`` and counts against nothing. No live code (expired, never
    sent, spent) is ``INVALID``, like a wrong one.
    """
    given = "".join(str(code or "").split())[:16]
    with transaction.atomic():
        row = (
            SmsCode.objects.select_for_update()
            .filter(holder=holder, purpose=purpose)
            .order_by("-created_at", "-pk")
            .first()
        )
        now = timezone.now()
        if not _CODE.fullmatch(given):
            _audit_check(holder, row, purpose, ip, Outcome.FAILURE, "malformed")
            return VerifyResult(VerifyOutcome.MALFORMED)
        live = row is not None and row.is_live(now)
        right_number = recipient is None or (row is not None and row.recipient == "".join(str(recipient).split()))
        if live and row is not None and _matches(row, given) and right_number:
            row.used_at = now
            row.save(update_fields=["used_at"])
            _audit_check(holder, row, purpose, ip, Outcome.SUCCESS, "")
            return VerifyResult(VerifyOutcome.ACCEPTED)
        replayed = _replayed(holder, purpose, given, now)
        if replayed is not None:
            # ASVS 2.8.5: refused, logged, its owner told (once per code); not counted.
            audit_record(
                event_type=AuditEventType.OTP_CODE_REPLAYED, outcome=Outcome.DENIED, actor=holder.user,
                organization=holder.organization, subject=replayed, ip=ip, details={"purpose": purpose},
            )
            security_notice_send(holder=holder, event="otp_code_reused", reference=f"sms:{replayed.public_id}")
            return VerifyResult(VerifyOutcome.REPLAYED)
        if not live or row is None:
            _audit_check(holder, row, purpose, ip, Outcome.FAILURE, "no_live_code")
            return VerifyResult(VerifyOutcome.INVALID)
        row.attempts += 1
        if row.attempts >= SMS_CODE_MAX_ATTEMPTS:
            row.invalidated_at = now
        row.save(update_fields=["attempts", "invalidated_at"])
        _audit_check(holder, row, purpose, ip, Outcome.FAILURE, "wrong_code")
        return VerifyResult(VerifyOutcome.INVALID, failures_left=SMS_CODE_MAX_ATTEMPTS - row.attempts)


def _masked(number: str) -> str:
    return number[:3] + "•" * max(len(number) - 6, 0) + number[-3:]


def _audit_check(holder: Holder, row: SmsCode | None, purpose: str, ip: str, outcome: str, reason: str) -> None:
    details: dict[str, object] = {"purpose": purpose}
    if row is not None:
        details["attempts"] = row.attempts
    if reason:
        details["reason"] = reason
    audit_record(
        event_type=(
            AuditEventType.OTP_SMS_CODE_VERIFIED if outcome == Outcome.SUCCESS else AuditEventType.OTP_SMS_CODE_FAILED
        ),
        outcome=outcome,
        actor=holder.user,
        organization=holder.organization,
        subject=row,
        ip=ip,
        details=details,
    )
