"""Operators and administrators: invitations, roles, deactivation and their second factors.

Organization admins run their registration office's team in the console: they invite people by
e-mail, give them a role (operator, organization admin, auditor), deactivate and reactivate them,
and reset a lost second factor. Every change is audited, and an organization always keeps at least
one active admin (checked under a lock on the organization row, so two admins demoting each other
at once cannot both succeed). A platform administrator resets the factor of an organization's last
admin, in Django admin.

A first factor is enrolled only through an enrolment link (:class:`accounts.models.StaffEnrolment`):
single use, expiring, sent by e-mail to the person, only its hash stored. An invitation's link sets
the password, then enrols; a reset's link asks for the current password, then enrols. A password
alone never enrols anything, so a stolen password is not a way to a second factor.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Model
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import (
    Holder,
    Operator,
    OperatorRole,
    Organization,
    StaffEnrolment,
    StaffEnrolmentPurpose,
    User,
    UserKind,
)
from accounts.services.people import operator_create
from accounts.validators import normalize_email
from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from core.errors import ApplicationError
from notifications.services import message_enqueue
from otp.models import DeviceState, OtpDevice, SecurityKey

TOKEN_BYTES = 32

LAST_ADMIN_MESSAGE = _(
    "An organization keeps at least one active administrator: make someone else an administrator first."
)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def staff_email(user: User) -> str:
    operator = Operator.objects.filter(user=user).first()
    return operator.email if operator is not None else user.email


def staff_name(user: User) -> str:
    operator = Operator.objects.filter(user=user).first()
    return operator.full_name if operator is not None else user.username


def sessions_end_all(*, user: User) -> None:
    """End every session of ``user`` (they are bound to the session epoch, see ``User``)."""
    User.objects.filter(pk=user.pk).update(session_epoch=F("session_epoch") + 1)


# --- Enrolment links ------------------------------------------------------------------------------

def enrolment_link_issue(*, user: User, purpose: str, actor: User | None, ip: str = "") -> str:
    """A new link for ``user`` (earlier live links revoked), e-mailed to them; returns its URL."""
    if purpose not in StaffEnrolmentPurpose.values:
        raise ValueError(f"unknown enrolment purpose {purpose!r}")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    hours = settings.STAFF_ENROLMENT_LINK_HOURS
    link = f"{settings.SITE_URL}{reverse('console:enrolment', args=[token])}"
    with transaction.atomic():
        StaffEnrolment.objects.filter(user=user, used_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)
        enrolment = StaffEnrolment.objects.create(
            user=user, purpose=purpose, token_hash=_token_hash(token), created_by=actor, created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
        audit_record(
            event_type=AuditEventType.STAFF_ENROLMENT_LINK_ISSUED,
            actor=actor, organization=user.organization, subject=user,
            ip=ip, details={"purpose": purpose, "enrolment": enrolment.pk, "valid_hours": hours},
        )
        message_type = "staff_invitation" if purpose == StaffEnrolmentPurpose.INVITATION else "staff_factor_reset"
        organization = user.organization
        message_enqueue(
            message_type=message_type,
            channel="email",
            recipient=staff_email(user),
            context={
                "person_name": staff_name(user),
                "organization_name": organization.name if organization else str(settings.WEBAUTHN_RP_NAME),
                "username": user.username,
                "link": link,
                "valid_hours": hours,
                "by_name": staff_name(actor) if actor is not None else str(_("The platform administrator")),
            },
            idempotency_key=f"staff-enrolment:{enrolment.pk}",
            language=user.preferred_language,
            organization=organization,
        )
    return link


def enrolment_get(*, token: str) -> StaffEnrolment | None:
    """The live enrolment of ``token``; ``None`` for unknown, used, revoked and expired alike."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    enrolment = StaffEnrolment.objects.select_related("user").filter(token_hash=_token_hash(token)).first()
    if enrolment is None or not enrolment.is_live(timezone.now()) or not enrolment.user.is_active:
        return None
    return enrolment


def enrolment_resume(*, enrolment_id: object) -> StaffEnrolment | None:
    """The enrolment a session started (password step done), if still live for an active person."""
    if not isinstance(enrolment_id, int):
        return None
    enrolment = StaffEnrolment.objects.select_related("user").filter(pk=enrolment_id).first()
    if enrolment is None or not enrolment.is_live(timezone.now()) or enrolment.password_set_at is None:
        return None
    return enrolment if enrolment.user.is_active else None


def enrolment_password(*, enrolment: StaffEnrolment, password: str, password_again: str = "", ip: str = "") -> None:
    """The first step of a link: choose the password (invitation) or type the current one (reset)."""
    user = enrolment.user
    wrong_password = False
    with transaction.atomic():
        locked = StaffEnrolment.objects.select_for_update().get(pk=enrolment.pk)
        if not locked.is_live(timezone.now()):
            raise ApplicationError("enrolment_expired", ENROLMENT_INVALID_MESSAGE)
        if locked.purpose == StaffEnrolmentPurpose.INVITATION:
            if password != password_again:
                raise ApplicationError(
                    "password_mismatch", _("The two passwords are different."), field="password_again"
                )
            password_validation.validate_password(password, user)
            user.set_password(password)
            user.save(update_fields=["password"])
            event = AuditEventType.STAFF_ENROLMENT_PASSWORD_SET
        else:
            wrong_password = not user.check_password(password)
            event = AuditEventType.STAFF_ENROLMENT_PASSWORD_CONFIRMED
        if not wrong_password:
            locked.password_set_at = timezone.now()
            locked.save(update_fields=["password_set_at"])
            audit_record(event_type=event, actor=user, organization=user.organization, subject=user, ip=ip,
                         details={"enrolment": locked.pk})
    if wrong_password:  # audited once the transaction is over: a refusal must leave its trace
        audit_record(
            event_type=AuditEventType.STAFF_ENROLMENT_PASSWORD_FAILED, outcome=Outcome.FAILURE, actor=user,
            organization=user.organization, subject=user, ip=ip, details={"enrolment": enrolment.pk},
        )
        raise ApplicationError("wrong_password", _("The password is not correct."), field="password")
    enrolment.password_set_at = locked.password_set_at


ENROLMENT_INVALID_MESSAGE = _(
    "This link is not valid any more: it has expired, it was already used, or a newer one was sent. "
    "Ask an administrator of your organization for a new link."
)


def enrolment_use(*, enrolment: StaffEnrolment, factor: str, ip: str = "") -> None:
    """Spend the link (inside the transaction that stores the new factor)."""
    locked = StaffEnrolment.objects.select_for_update().get(pk=enrolment.pk)
    if not locked.is_live(timezone.now()) or locked.password_set_at is None:
        raise ApplicationError("enrolment_expired", ENROLMENT_INVALID_MESSAGE)
    locked.used_at = timezone.now()
    locked.save(update_fields=["used_at"])
    audit_record(
        event_type=AuditEventType.STAFF_ENROLMENT_COMPLETED, actor=locked.user, organization=locked.user.organization,
        subject=locked.user, ip=ip, details={"enrolment": locked.pk, "purpose": locked.purpose, "factor": factor},
    )


# --- The team of an organization ------------------------------------------------------------------

def _email_in_use(email: str) -> bool:
    return (
        Holder.objects.filter(email__iexact=email).exists()
        or Operator.objects.filter(email__iexact=email).exists()
        or User.objects.filter(email__iexact=email).exists()
        or User.objects.filter(username__iexact=email).exists()
    )


def operator_invite(
    *, actor: User | None, organization: Organization, email: str, given_name: str, surname: str, role: str,
    ip: str = "",
) -> tuple[Operator, str]:
    """A new member of ``organization``'s team, e-mailed an invitation link (returned too).

    They sign in with their e-mail address as username once enrolled.
    """
    if role not in OperatorRole.values:
        raise ApplicationError("invalid_role", _("Unknown role."), field="role")
    try:
        email = normalize_email(email)
    except ValidationError as exc:
        raise ApplicationError("invalid_email", exc.messages[0], field="email") from exc
    with transaction.atomic():
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        if _email_in_use(email):
            raise ApplicationError(
                "email_in_use",
                _("This e-mail address already belongs to an account. Each person has their own address."),
                field="email",
            )
        operator = operator_create(
            organization=organization, username=email, given_name=given_name, surname=surname, email=email,
            role=role, actor=actor, ip=ip,
        )
        audit_record(
            event_type=AuditEventType.OPERATOR_INVITED,
            actor=actor, organization=organization, subject=operator.user, ip=ip,
            details={"email": email, "role": role},
        )
        link = enrolment_link_issue(user=operator.user, purpose=StaffEnrolmentPurpose.INVITATION, actor=actor, ip=ip)
    return operator, link


def _active_admins(organization: Organization) -> int:
    return Operator.objects.filter(
        organization=organization, role=OperatorRole.ORGANIZATION_ADMIN, user__is_active=True
    ).count()


def _locked_team_member(operator: Operator) -> Operator:
    """Lock the organization (serializes every change of its team), then re-read the member."""
    Organization.objects.select_for_update().filter(pk=operator.organization_id).first()
    return Operator.objects.select_related("user", "organization").get(pk=operator.pk)


def _keeps_an_admin(member: Operator, *, losing_admin: bool) -> None:
    admin_leaving = losing_admin and member.is_organization_admin and member.user.is_active
    if admin_leaving and _active_admins(member.organization) <= 1:
        raise ApplicationError("last_admin", LAST_ADMIN_MESSAGE)


def _not_self(actor: User, member: Operator) -> None:
    if member.user_id == actor.pk:
        raise ApplicationError(
            "own_account", _("You cannot do this to your own account: ask another administrator.")
        )


def operator_role_change(*, actor: User, operator: Operator, role: str, ip: str = "") -> Operator:
    if role not in OperatorRole.values:
        raise ApplicationError("invalid_role", _("Unknown role."), field="role")
    with transaction.atomic():
        member = _locked_team_member(operator)
        _not_self(actor, member)
        if member.role == role:
            return member
        _keeps_an_admin(member, losing_admin=role != OperatorRole.ORGANIZATION_ADMIN)
        before, member.role = member.role, role
        member.save(update_fields=["role"])
        audit_record(
            event_type=AuditEventType.OPERATOR_ROLE_CHANGED,
            actor=actor, organization=member.organization, subject=member.user,
            ip=ip, details={"before": before, "after": role},
        )
    return member


def operator_deactivate(*, actor: User, operator: Operator, ip: str = "") -> Operator:
    """The person can no longer sign in; their sessions and pending links end now."""
    with transaction.atomic():
        member = _locked_team_member(operator)
        _not_self(actor, member)
        if not member.user.is_active:
            return member
        _keeps_an_admin(member, losing_admin=True)
        User.objects.filter(pk=member.user_id).update(is_active=False)
        sessions_end_all(user=member.user)
        StaffEnrolment.objects.filter(user=member.user, used_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        audit_record(
            event_type=AuditEventType.OPERATOR_DEACTIVATED,
            actor=actor, organization=member.organization, subject=member.user,
            ip=ip,
        )
    member.user.is_active = False
    return member


def operator_reactivate(*, actor: User, operator: Operator, ip: str = "") -> Operator:
    with transaction.atomic():
        member = _locked_team_member(operator)
        if member.user.is_active:
            return member
        User.objects.filter(pk=member.user_id).update(is_active=True)
        audit_record(
            event_type=AuditEventType.OPERATOR_REACTIVATED,
            actor=actor, organization=member.organization, subject=member.user,
            ip=ip,
        )
    member.user.is_active = True
    return member


def staff_factor_reset(*, actor: User, user: User, ip: str = "") -> str:
    """Retire every second factor of ``user``, end their sessions, and e-mail them a reset link.

    For a lost or stolen factor. The caller checks who may reset whom (an admin of the same
    organization, not their own; a platform administrator for anyone).
    """
    if user.kind == UserKind.HOLDER:
        raise ValueError("holders' devices are managed by their registration office, not reset here")
    with transaction.atomic():
        if user.organization is not None:
            Organization.objects.select_for_update().filter(pk=user.organization.pk).first()
        devices = OtpDevice.objects.select_for_update().filter(staff_user=user).exclude(state=DeviceState.RETIRED)
        retired_devices = [str(d.public_id) for d in devices]
        devices.update(state=DeviceState.RETIRED)
        keys = SecurityKey.objects.select_for_update().filter(user=user, retired_at__isnull=True)
        retired_keys = [str(k.public_id) for k in keys]
        keys.update(retired_at=timezone.now())
        sessions_end_all(user=user)
        audit_record(
            event_type=AuditEventType.STAFF_SECOND_FACTOR_RESET,
            actor=actor, organization=user.organization, subject=user, ip=ip,
            details={"devices": retired_devices, "security_keys": retired_keys},
        )
        return enrolment_link_issue(user=user, purpose=StaffEnrolmentPurpose.FACTOR_RESET, actor=actor, ip=ip)


def invitation_resend(*, actor: User, operator: Operator, ip: str = "") -> str:
    """A new invitation link for someone who has not enrolled yet (the earlier link stops working)."""
    if operator.user.has_usable_password() and staff_has_enrolled(operator.user):
        raise ApplicationError("already_enrolled", _("This person has already completed the invitation."))
    return enrolment_link_issue(user=operator.user, purpose=StaffEnrolmentPurpose.INVITATION, actor=actor, ip=ip)


def staff_has_enrolled(user: User) -> bool:
    return StaffEnrolment.objects.filter(user=user, used_at__isnull=False).exists() or (
        OtpDevice.objects.filter(staff_user=user, state=DeviceState.ACTIVE).exists()
        or SecurityKey.objects.filter(user=user, retired_at__isnull=True).exists()
    )


# --- One's own factors ----------------------------------------------------------------------------

def staff_factor_remove(*, user: User, device: OtpDevice | None = None, key: SecurityKey | None = None,
                        ip: str = "") -> None:
    """Remove one of one's own factors; the last one stays (nobody locks themselves out)."""
    from accounts.services.second_factor import staff_factors

    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        if staff_factors(user=user).count <= 1:
            raise ApplicationError(
                "last_factor", _("This is your only second factor: add another one before removing it.")
            )
        if device is not None and device.staff_user_id == user.pk:
            OtpDevice.objects.filter(pk=device.pk).update(state=DeviceState.RETIRED)
            subject: Model = device
        elif key is not None and key.user_id == user.pk:
            SecurityKey.objects.filter(pk=key.pk).update(retired_at=timezone.now())
            subject = key
        else:
            raise ApplicationError("unknown_factor", _("This factor does not exist."))
        audit_record(event_type=AuditEventType.STAFF_SECOND_FACTOR_REMOVED, actor=user, organization=user.organization,
                     subject=subject, ip=ip)
