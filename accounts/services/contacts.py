"""Changing the holder's e-mail or mobile from the panel.

The new contact is proved by what is sent to it: a signed link for an e-mail address, an SMS code
for a mobile number. Only then ``holder_contacts_update`` applies it (one-person rule, audit) and
the old contact is told.

A link is single-use without any stored state: it carries the holder's e-mail and record version
(``updated_at``) at the time it was sent, so once any change is applied to the record, every
earlier link stops working.
"""

from __future__ import annotations

import secrets
from urllib.parse import urljoin

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.models import ContactKind, Holder, User
from accounts.services.people import _contact_claim, _normalized, holder_contacts_update
from accounts.validators import normalize_email, normalize_mobile
from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from core.errors import ApplicationError
from notifications.models import Channel
from notifications.services import message_enqueue, security_notice_send
from otp.services import VerifyOutcome, code_replayed_error
from otp.sms_codes import sms_code_check, sms_code_issue

EMAIL_LINK_SALT = "accounts.contacts.email-change"
EMAIL_LINK_MAX_AGE = 24 * 60 * 60  # seconds


class _DryRun(Exception):
    pass


def contact_check_available(*, holder: Holder, kind: str, value: str) -> None:
    """Refuse now a contact that belongs to another person, without keeping any claim."""
    try:
        with transaction.atomic():
            _contact_claim(kind=kind, value=value, codice_fiscale=holder.codice_fiscale)
            raise _DryRun
    except _DryRun:
        pass


def _unchanged(holder: Holder, field: str, value: str) -> None:
    if getattr(holder, field) == value:
        if field == "email":
            message = _("This is already your registered e-mail address.")
        else:
            message = _("This is already your registered mobile number.")
        raise ApplicationError("contact_unchanged", message, field=field)


def _link_url(token: str) -> str:
    path = reverse("panel:email_confirm", kwargs={"token": token})
    return urljoin(settings.SITE_URL.rstrip("/") + "/", path.lstrip("/"))


def email_change_request(*, holder: Holder, new_email: str, ip: str = "") -> str:
    """Check ``new_email`` and send it a confirmation link; return the normalized address."""
    new_email = _normalized(normalize_email, new_email, "email")
    _unchanged(holder, "email", new_email)
    contact_check_available(holder=holder, kind=ContactKind.EMAIL, value=new_email)
    nonce = secrets.token_urlsafe(12)
    token = signing.dumps(
        {"h": holder.pk, "e": new_email, "o": holder.email, "v": holder.updated_at.isoformat(), "n": nonce},
        salt=EMAIL_LINK_SALT,
        compress=True,
    )
    with transaction.atomic():
        message_enqueue(
            message_type="email_change_confirm",
            channel=Channel.EMAIL,
            recipient=new_email,
            context={"holder_name": holder.full_name, "valid_hours": EMAIL_LINK_MAX_AGE // 3600},
            secrets={"link": _link_url(token)},
            idempotency_key=f"email-change:{holder.pk}:{nonce}",
            language=holder.user.preferred_language,
            holder=holder,
        )
        audit_record(
            event_type=AuditEventType.HOLDER_EMAIL_CHANGE_REQUESTED,
            actor=holder.user, organization=holder.organization,
            subject=holder, ip=ip,
        )
    return new_email


def _link_refused(reason: str) -> ApplicationError:
    if reason == "expired":
        text = _("This confirmation link has expired. Ask for the change again from the E-mail page.")
    elif reason == "used":
        text = _(
            "This confirmation link is no longer valid: it has already been used, or your contacts changed "
            "after it was sent. Ask for the change again from the E-mail page if needed."
        )
    else:
        text = _("This confirmation link is not valid. Check that you copied the whole address from the e-mail.")
    return ApplicationError(f"email_link_{reason}", text)


def email_change_confirm(*, holder: Holder, token: str, actor: User, ip: str = "") -> tuple[str, str]:
    """Apply the address carried by a confirmation link; return (previous, new). A refusal is audited."""
    try:
        return _email_change_apply(holder=holder, token=token, actor=actor, ip=ip)
    except ApplicationError as exc:
        audit_record(
            event_type=AuditEventType.HOLDER_EMAIL_CHANGE_REFUSED, outcome=Outcome.DENIED, actor=actor,
            organization=holder.organization, subject=holder, ip=ip, details={"reason": exc.code},
        )
        raise


def _email_change_apply(*, holder: Holder, token: str, actor: User, ip: str) -> tuple[str, str]:
    try:
        payload = signing.loads(token, salt=EMAIL_LINK_SALT, max_age=EMAIL_LINK_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise _link_refused("expired") from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise _link_refused("invalid") from exc
    if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str) for k in ("e", "o", "v", "n")):
        raise _link_refused("invalid")
    if payload.get("h") != holder.pk:
        raise _link_refused("invalid")
    with transaction.atomic():
        current = Holder.objects.select_for_update().get(pk=holder.pk)
        if current.email != payload["o"] or current.updated_at.isoformat() != payload["v"]:
            raise _link_refused("used")
        previous = current.email
        updated = holder_contacts_update(holder=current, actor=actor, email=payload["e"], ip=ip)
        security_notice_send(
            holder=updated, event="email_changed", reference=f"{payload['n']}", previous_email=previous
        )
    return previous, updated.email


def phone_change_request(*, holder: Holder, new_mobile: str, ip: str = "") -> str:
    """Check ``new_mobile`` and send it an SMS code; return the number in E.164."""
    new_mobile = _normalized(normalize_mobile, new_mobile, "mobile")
    _unchanged(holder, "mobile", new_mobile)
    contact_check_available(holder=holder, kind=ContactKind.MOBILE, value=new_mobile)
    sms_code_issue(holder=holder, purpose="change_phone", recipient=new_mobile, ip=ip)
    return new_mobile


def phone_change_confirm(*, holder: Holder, new_mobile: str, code: str, actor: User, ip: str = "") -> str:
    """Apply ``new_mobile`` if ``code`` is the one sent to it; return the previous number."""
    result = sms_code_check(holder=holder, purpose="change_phone", code=code, recipient=new_mobile, ip=ip)
    if result.outcome is VerifyOutcome.REPLAYED:
        raise code_replayed_error()
    if not result.ok:
        raise ApplicationError("wrong_code", _("The code is not correct or has expired."), field="code")
    with transaction.atomic():
        previous = Holder.objects.select_for_update().get(pk=holder.pk).mobile
        updated = holder_contacts_update(holder=holder, actor=actor, mobile=new_mobile, ip=ip)
        security_notice_send(
            holder=updated, event="phone_changed", reference=f"{new_mobile}:{updated.updated_at.isoformat()}",
            previous_mobile=previous,
        )
    return previous
