"""Password recovery and username recovery without logging in.

Password: username + user code (+ captcha, at the edge) → an SMS code to the registered mobile →
a verification e-mail whose link is valid 15 minutes → a new password → synchronize the device.
Username: codice fiscale + e-mail → the username, sent to the registered e-mail.

Neither flow may tell a visitor whether an account exists (ASVS 2.5.x, 3.x). So the web request
does the same work whatever the data: one Argon2 check of the user code (against a dummy hash when
there is no account), one ``RecoveryRequest`` row, one audit row and one task handed to the broker.
Whatever depends on a match — issuing the SMS code, sending the username — happens in that task,
outside the request the visitor can time. A request that matched nothing is a row without holder:
its SMS code step refuses every code, after the same number of attempts as a real one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta
from urllib.parse import urljoin

from django.conf import settings
from django.contrib.auth import password_validation
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Holder, RecoveryKind, RecoveryRequest, RecoveryState, User
from accounts.services.authentication import login_throttle_clear
from accounts.services.people import holder_by_user_code
from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from core.errors import ApplicationError
from core.tasks import task_enqueue_on_commit
from notifications.models import Channel
from notifications.services import message_enqueue, security_notice_send
from otp.services import VerifyOutcome, code_replayed_error
from otp.sms_codes import sms_code_check, sms_code_issue

RECOVERY_LINK_TTL = timedelta(minutes=15)  # the verification link
# The SMS step must follow the request within this time; afterwards the visitor starts again.
RECOVERY_CODE_WINDOW = timedelta(minutes=30)
# Wrong SMS codes one recovery request accepts before it is spent (the SMS code itself allows 5).
RECOVERY_CODE_MAX_ATTEMPTS = 5
SMS_PURPOSE = "password_recovery"


def _link_digest(token: str) -> str:
    key = f"password-recovery-link:{settings.SECRET_KEY}".encode()
    return hmac.new(key, str(token).encode(), hashlib.sha256).hexdigest()


def _absolute(path: str) -> str:
    return urljoin(settings.SITE_URL.rstrip("/") + "/", path.lstrip("/"))


def _dispatch_on_commit(recovery_id: int) -> None:
    # After commit, in a worker: the answer to the visitor takes the same time whether or not the
    # request matched. A broker that is down loses nothing half-done: the visitor asks again.
    task_enqueue_on_commit("accounts.tasks.recovery_process", recovery_id)


def password_recovery_start(*, username: str, user_code: str, ip: str = "") -> RecoveryRequest:
    """Record a password recovery request; if username and user code match, an SMS code follows."""
    user, holder = holder_by_user_code(username=username, user_code=user_code)
    matched = holder is not None
    if holder is None and user is not None:
        holder = getattr(user, "holder", None)  # for the audit row's organization only
    with transaction.atomic():
        recovery = RecoveryRequest.objects.create(
            kind=RecoveryKind.PASSWORD, holder=holder if matched else None, ip=ip[:45]
        )
        audit_record(
            event_type=(
                AuditEventType.AUTH_PASSWORD_RECOVERY_STARTED if matched
                else AuditEventType.AUTH_PASSWORD_RECOVERY_REFUSED
            ),
            outcome=Outcome.SUCCESS if matched else Outcome.FAILURE,
            actor=user,
            organization=holder.organization if holder is not None else None,
            subject=recovery,
            ip=ip,
        )
        _dispatch_on_commit(recovery.pk)
    return recovery


def username_recovery_start(*, codice_fiscale: str, email: str, ip: str = "") -> RecoveryRequest:
    """Record a username recovery request; if codice fiscale and e-mail match, the username is e-mailed."""
    cf = "".join(str(codice_fiscale or "").split()).upper()[:16]
    address = str(email or "").strip().lower()[:254]
    holder = (
        Holder.objects.select_related("organization", "user")
        .filter(codice_fiscale=cf, email=address, user__is_active=True, organization__is_active=True)
        .order_by("pk")
        .first()
    )
    with transaction.atomic():
        recovery = RecoveryRequest.objects.create(kind=RecoveryKind.USERNAME, holder=holder, ip=ip[:45])
        audit_record(
            event_type=(
                AuditEventType.AUTH_USERNAME_RECOVERY_STARTED if holder
                else AuditEventType.AUTH_USERNAME_RECOVERY_REFUSED
            ),
            outcome=Outcome.SUCCESS if holder else Outcome.FAILURE,
            actor=holder.user if holder else None,
            organization=holder.organization if holder else None,
            subject=recovery,
            ip=ip,
        )
        _dispatch_on_commit(recovery.pk)
    return recovery


def recovery_process(*, recovery_id: int) -> None:
    """The part that depends on a match, run by a worker: the SMS code, or the username e-mail."""
    recovery = (
        RecoveryRequest.objects.select_related("holder__user", "holder__organization").filter(pk=recovery_id).first()
    )
    if recovery is None or recovery.holder is None or recovery.state != RecoveryState.STARTED:
        return
    holder = recovery.holder
    if recovery.kind == RecoveryKind.PASSWORD:
        try:
            sms_code_issue(holder=holder, purpose=SMS_PURPOSE, ip=recovery.ip)
        except ApplicationError:  # asked too often: refused and audited by sms_code_issue
            return
        return
    with transaction.atomic():
        # Every account of this person with this e-mail (one per organization at most).
        for match in (
            Holder.objects.select_related("user", "organization")
            .filter(codice_fiscale=holder.codice_fiscale, email=holder.email, user__is_active=True)
            .order_by("pk")
        ):
            message_enqueue(
                message_type="username_reminder",
                channel=Channel.EMAIL,
                recipient=match.email,
                context={
                    "holder_name": match.full_name,
                    "username": match.user.username,
                    "login_url": _absolute(reverse("accounts:login")),
                },
                idempotency_key=f"username-reminder:{recovery.public_id}:{match.pk}",
                language=match.user.preferred_language,
                holder=match,
            )
        RecoveryRequest.objects.filter(pk=recovery.pk).update(
            state=RecoveryState.COMPLETED, completed_at=timezone.now()
        )


def password_recovery_resend(*, recovery_id: str, ip: str = "") -> None:
    """Ask for another SMS code for a recovery request still at the SMS step (whatever it matched)."""
    recovery = _open_request(recovery_id)
    if recovery is not None:
        with transaction.atomic():
            _dispatch_on_commit(recovery.pk)


def _open_request(recovery_id: str) -> RecoveryRequest | None:
    try:
        public_id = uuid.UUID(str(recovery_id))
    except ValueError:
        return None
    recovery = RecoveryRequest.objects.filter(public_id=public_id, kind=RecoveryKind.PASSWORD).first()
    if recovery is None or recovery.state != RecoveryState.STARTED:
        return None
    if recovery.created_at < timezone.now() - RECOVERY_CODE_WINDOW:
        return None
    if recovery.code_attempts >= RECOVERY_CODE_MAX_ATTEMPTS:
        return None
    return recovery


def _code_refused(spent: bool) -> ApplicationError:
    if spent:
        return ApplicationError(
            "recovery_spent",
            _("This recovery request is no longer valid (too many attempts or too much time). Start again."),
        )
    return ApplicationError(
        "recovery_code_wrong",
        _("The code is not correct or has expired. Check the SMS, or ask for a new code."),
        field="code",
    )


def password_recovery_code_verify(*, recovery_id: str, code: str, ip: str = "") -> None:
    """Check the SMS code of a recovery request; on success e-mail the verification link.

    Raises :class:`ApplicationError` (``recovery_code_wrong``, or ``recovery_spent`` once the
    request is too old or has seen too many wrong codes) — identically for a request that matched
    no account, whose every code is wrong. A code this holder already used is ``otp_replayed``, and
    not counted among the wrong codes.
    """
    try:
        public_id = uuid.UUID(str(recovery_id))
    except ValueError as exc:
        raise _code_refused(spent=True) from exc
    with transaction.atomic():
        recovery = (
            RecoveryRequest.objects.select_for_update(of=("self",))  # the holder join is nullable
            .select_related("holder__user", "holder__organization")
            .filter(public_id=public_id, kind=RecoveryKind.PASSWORD)
            .first()
        )
        now = timezone.now()
        if (
            recovery is None
            or recovery.state != RecoveryState.STARTED
            or recovery.created_at < now - RECOVERY_CODE_WINDOW
            or recovery.code_attempts >= RECOVERY_CODE_MAX_ATTEMPTS
        ):
            ok, spent, replayed = False, True, False
        else:
            holder = recovery.holder
            outcome = (
                sms_code_check(holder=holder, purpose=SMS_PURPOSE, code=code, ip=ip).outcome
                if holder is not None else VerifyOutcome.INVALID
            )
            ok, spent, replayed = outcome is VerifyOutcome.ACCEPTED, False, outcome is VerifyOutcome.REPLAYED
            if ok and holder is not None:
                token = secrets.token_urlsafe(32)
                recovery.state = RecoveryState.LINK_SENT
                recovery.link_hash = _link_digest(token)
                recovery.link_expires_at = now + RECOVERY_LINK_TTL
                recovery.save(update_fields=["state", "link_hash", "link_expires_at"])
                link = _absolute(reverse("accounts:password_recovery_reset", kwargs={"token": token}))
                message_enqueue(
                    message_type="password_recovery_link",
                    channel=Channel.EMAIL,
                    recipient=holder.email,
                    context={"holder_name": holder.full_name, "valid_minutes": int(RECOVERY_LINK_TTL.seconds // 60)},
                    secrets={"link": link},
                    idempotency_key=f"password-recovery:{recovery.public_id}",
                    language=holder.user.preferred_language,
                    holder=holder,
                )
                audit_record(
                    event_type=AuditEventType.AUTH_PASSWORD_RECOVERY_LINK_SENT, actor=holder.user,
                    organization=holder.organization, subject=recovery, ip=ip,
                )
            elif not replayed:
                recovery.code_attempts += 1
                recovery.save(update_fields=["code_attempts"])
                spent = recovery.code_attempts >= RECOVERY_CODE_MAX_ATTEMPTS
    if replayed:
        raise code_replayed_error()
    if not ok:
        if recovery is not None and recovery.holder is None:
            # sms_code_check wrote an audit row for a real request; a request without holder gets one too.
            audit_record(
                event_type=AuditEventType.AUTH_PASSWORD_RECOVERY_CODE_REFUSED,
                outcome=Outcome.FAILURE, subject=recovery, ip=ip
            )
        raise _code_refused(spent=spent)


def _link_refused(reason: str) -> ApplicationError:
    if reason == "expired":
        text = _("This link has expired: it was valid for 15 minutes. Start the password recovery again.")
    else:
        text = _(
            "This link is not valid: it may have been used already, or a newer one was sent. "
            "Start the password recovery again if you still need it."
        )
    return ApplicationError(f"recovery_link_{reason}", text)


def password_recovery_link_holder(*, token: str) -> Holder:
    """The holder a verification link belongs to, if it can still be used; else ApplicationError."""
    recovery = _link_request(token=token, lock=False)
    assert recovery.holder is not None
    return recovery.holder


def _link_request(*, token: str, lock: bool) -> RecoveryRequest:
    if not token or len(token) > 100:
        raise _link_refused("invalid")
    queryset = RecoveryRequest.objects.select_related("holder__user", "holder__organization")
    if lock:
        queryset = queryset.select_for_update(of=("self",))  # the holder join is nullable (PostgreSQL)
    recovery = queryset.filter(link_hash=_link_digest(token), kind=RecoveryKind.PASSWORD).first()
    if recovery is None or recovery.holder is None or recovery.state != RecoveryState.LINK_SENT:
        raise _link_refused("invalid")
    if recovery.link_expires_at is None or recovery.link_expires_at <= timezone.now():
        raise _link_refused("expired")
    return recovery


def password_recovery_complete(*, token: str, new_password: str, ip: str = "") -> Holder:
    """Set the new password through a verification link, once; every session of the account ends.

    Raises :class:`ApplicationError` for a dead link, Django's ``ValidationError`` for a password
    the policy refuses (then the link still works).
    """
    with transaction.atomic():
        recovery = _link_request(token=token, lock=True)
        holder = recovery.holder
        assert holder is not None
        user = User.objects.select_for_update().get(pk=holder.user_id)
        password_validation.validate_password(new_password, user)
        user.set_password(new_password)  # a new hash: every existing session of the account stops working
        user.save(update_fields=["password"])
        now = timezone.now()
        recovery.state = RecoveryState.COMPLETED
        recovery.completed_at = now
        recovery.save(update_fields=["state", "completed_at"])
        RecoveryRequest.objects.filter(
            holder=holder, kind=RecoveryKind.PASSWORD, state__in=[RecoveryState.STARTED, RecoveryState.LINK_SENT]
        ).exclude(pk=recovery.pk).update(state=RecoveryState.ABANDONED)
        # The person proved mobile + e-mail + user code: a login lockout from forgotten passwords ends.
        login_throttle_clear(user=user)
        event = audit_record(
            event_type=AuditEventType.AUTH_PASSWORD_RECOVERED,
            actor=user, organization=holder.organization, subject=recovery, ip=ip
        )
        security_notice_send(holder=holder, event="password_recovered", reference=f"audit-{event.seq}")
    return holder
