"""An organization's policies, changed by its administrators in the console within the platform's bounds.

Platform administrators set the bounds (:class:`~accounts.models.PolicyBounds`, one row, Django
admin) and may set any policy of any organization in Django admin. An organization admin changes
only :data:`~accounts.policies.POLICY_FIELDS` of their own organization, and a value they change
must lie within the bounds: a whole number between its ``_min`` and ``_max``, reminder days each
within their range and no more of them than allowed, automatic renewal only where the platform
allows it, an OTP kind switched on only where the platform offers it — and at least one OTP kind
always stays allowed. A value left as it is is not checked against the bounds: a platform
administrator may have set it outside them on purpose, and changing another policy must not
force it back.

A change is audited with every value before and after, and the organization's other
administrators are told by e-mail.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import Operator, OperatorRole, Organization, PolicyBounds, User, UserKind
from accounts.policies import (
    BOOLEANS,
    BOUNDED_INTEGERS,
    OTP_KINDS,
    POLICY_FIELDS,
    policy_changes_display,
)
from audit.events import AuditEventType
from audit.services import audit_record
from core.errors import ApplicationError
from notifications.models import Channel
from notifications.services import message_enqueue

Changes = dict[str, dict[str, Any]]


def _is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _admin_of(actor: User, organization: Organization) -> Operator:
    """The acting administrator of ``organization``; anyone else is refused (the views answer 403 first)."""
    operator = (
        Operator.objects.select_related("organization").filter(user=actor, user__is_active=True).first()
        if getattr(actor, "kind", None) == UserKind.OPERATOR
        else None
    )
    if operator is None or not operator.is_organization_admin or operator.organization_id != organization.pk:
        raise ApplicationError(
            "forbidden", _("Only an administrator of the organization can change its policies.")
        )
    return operator


def _value_errors(field: str, value: Any, before: Any, bounds: PolicyBounds) -> tuple[Any, ApplicationError | None]:
    """Check one value's type, and its bounds when it differs from ``before``; returns it normalized."""
    if field in BOUNDED_INTEGERS:
        if not _is_whole_number(value):
            return value, ApplicationError("invalid_type", _("Enter a whole number."), field=field)
        low, high = getattr(bounds, f"{field}_min"), getattr(bounds, f"{field}_max")
        if value != before and not low <= value <= high:
            return value, ApplicationError(
                "out_of_bounds",
                _("The platform allows values between %(min)s and %(max)s.") % {"min": low, "max": high},
                field=field,
            )
        return value, None
    if field in BOOLEANS:
        if not isinstance(value, bool):
            return value, ApplicationError("invalid_type", _("Choose yes or no."), field=field)
        if value == before:
            return value, None
        if field == "renewal_requires_approval" and not value and not bounds.automatic_renewal_allowed:
            return value, ApplicationError(
                "automatic_renewal_forbidden",
                _("The platform does not allow automatic renewal: every renewal needs an operator's approval."),
                field=field,
            )
        if field in OTP_KINDS and value and not getattr(bounds, OTP_KINDS[field]):
            return value, ApplicationError(
                "otp_kind_unavailable",
                _("The platform does not offer this kind of OTP device: it can be switched off, not on."),
                field=field,
            )
        return value, None
    # reminder_days
    if not isinstance(value, list) or not all(_is_whole_number(day) for day in value):
        return value, ApplicationError(
            "invalid_type",
            _("Enter the reminder days as whole numbers separated by commas, for example 60, 30, 7."),
            field=field,
        )
    if not value:
        return value, ApplicationError("invalid", _("Enter at least one reminder day."), field=field)
    if len(set(value)) != len(value):
        return value, ApplicationError("invalid", _("Reminder days must not repeat."), field=field)
    value = sorted(value, reverse=True)
    if value != before:
        low, high, most = bounds.reminder_day_min, bounds.reminder_day_max, bounds.reminder_days_max_count
        if len(value) > most:
            return value, ApplicationError(
                "out_of_bounds",
                ngettext(
                    "The platform allows at most %(count)s reminder day.",
                    "The platform allows at most %(count)s reminder days.",
                    most,
                ) % {"count": most},
                field=field,
            )
        if not all(low <= day <= high for day in value):
            return value, ApplicationError(
                "out_of_bounds",
                _("The platform allows reminder days between %(min)s and %(max)s.") % {"min": low, "max": high},
                field=field,
            )
    return value, None


def organization_policies_check(
    *, organization: Organization, changes: dict[str, Any], bounds: PolicyBounds
) -> tuple[Changes, list[ApplicationError]]:
    """What ``changes`` would change (``{field: {"before": x, "after": y}}``) and every reason to refuse it.

    Pure: reads ``organization`` as given and saves nothing. The console's form calls it to show
    every error at once; :func:`organization_policies_update` calls it again under the row lock.
    """
    errors: list[ApplicationError] = []
    changed: Changes = {}
    unknown = sorted(set(changes) - set(POLICY_FIELDS))
    if unknown:
        errors.append(ApplicationError("unknown_policy", _("These policies cannot be changed here.")))
    for field in POLICY_FIELDS:
        if field not in changes:
            continue
        before = getattr(organization, field)
        after, error = _value_errors(field, changes[field], before, bounds)
        if error is not None:
            errors.append(error)
        elif after != before:
            changed[field] = {"before": before, "after": after}
    if not any(
        changed[field]["after"] if field in changed else getattr(organization, field) for field in OTP_KINDS
    ) and not any(error.field in OTP_KINDS for error in errors):
        errors.append(ApplicationError("no_otp_kind", _("Allow at least one kind of OTP device.")))
    return changed, errors


def _full_clean(organization: Organization) -> None:
    """The model's own validators and constraints, on the fields the console changes."""
    others = [field.name for field in Organization._meta.fields if field.name not in POLICY_FIELDS]
    try:
        organization.full_clean(exclude=others, validate_unique=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ApplicationError(
            "invalid", messages[0], field=None if field == NON_FIELD_ERRORS or field not in POLICY_FIELDS else field
        ) from exc


def organization_policies_update(
    *, actor: User, organization: Organization, changes: dict[str, Any], ip: str = ""
) -> Changes:
    """Apply ``changes`` (field → new value) to ``organization``'s policies; returns what changed.

    Nothing is saved if any value is refused (the first refusal is raised, naming its field). An
    empty answer means every value was already the organization's: nothing is saved, audited or
    sent.
    """
    _admin_of(actor, organization)
    with transaction.atomic():
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        changed, errors = organization_policies_check(
            organization=locked, changes=changes, bounds=PolicyBounds.current()
        )
        if errors:
            raise errors[0]
        if not changed:
            return {}
        for field, change in changed.items():
            setattr(locked, field, change["after"])
        _full_clean(locked)
        locked.save(update_fields=list(changed))
        event = audit_record(
            event_type=AuditEventType.ORGANIZATION_POLICIES_CHANGED,
            actor=actor,
            organization=locked,
            subject=locked,
            ip=ip,
            details={"changes": changed},
        )
        _notify_other_admins(locked, actor=actor, changed=changed, reference=event.pk)
    for field, change in changed.items():  # the caller's copy reads as the database now does
        setattr(organization, field, change["after"])
    return changed


def _notify_other_admins(organization: Organization, *, actor: User, changed: Changes, reference: int) -> None:
    """Every other active administrator of the organization learns what changed, and who changed it."""
    author = Operator.objects.filter(user=actor).first()
    actor_name = f"{author.full_name} ({actor.username})" if author else actor.username
    admins = (
        Operator.objects.select_related("user")
        .filter(organization=organization, role=OperatorRole.ORGANIZATION_ADMIN, user__is_active=True)
        .exclude(user=actor)
        .exclude(email="")
        .order_by("pk")
    )
    for admin in admins:
        message_enqueue(
            message_type="organization_policies_changed",
            channel=Channel.EMAIL,
            recipient=admin.email,
            language=admin.user.preferred_language,
            organization=organization,
            idempotency_key=f"policies-changed:{reference}:{admin.pk}",
            context={
                "admin_name": admin.full_name,
                "actor_name": actor_name,
                "organization_name": organization.name,
                "changes": policy_changes_display(changed),
                "changed_at": timezone.localtime(),
                "console_url": f"{settings.SITE_URL}{reverse('console:organization')}",
            },
        )
