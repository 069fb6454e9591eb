"""Which of an organization's policies its administrators change in the console, and how a change reads.

Platform administrators set every policy in Django admin, unbound; organization admins change only
:data:`POLICY_FIELDS`, within the platform's :class:`~accounts.models.PolicyBounds`
(``accounts.services.policies``). The labels are the model fields' own, so the form, the e-mail and
the list of recent changes name a policy with the same words.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.text import capfirst

from accounts.models import Organization

# In the order the console shows them.
POLICY_FIELDS = (
    "certificate_validity_months",
    "renewal_window_days",
    "renewal_requires_approval",
    "reminder_days",
    "activation_deadline_days",
    "otp_hardware_allowed",
    "otp_app_allowed",
    "otp_sms_allowed",
    "password_min_length",
    "login_max_failures",
    "login_lockout_minutes",
    "csc_direct_authorization_allowed",
)
# Whole numbers bounded by PolicyBounds.<field>_min / <field>_max.
BOUNDED_INTEGERS = (
    "certificate_validity_months",
    "renewal_window_days",
    "activation_deadline_days",
    "password_min_length",
    "login_max_failures",
    "login_lockout_minutes",
)
# Each OTP kind an organization allows, and the PolicyBounds flag saying the platform offers it.
OTP_KINDS = {
    "otp_hardware_allowed": "otp_hardware_available",
    "otp_app_allowed": "otp_app_available",
    "otp_sms_allowed": "otp_sms_available",
}
BOOLEANS = ("renewal_requires_approval", *OTP_KINDS, "csc_direct_authorization_allowed")



def policy_label(field: str) -> Any:
    """The policy's name, lazy (rendered in the reader's language)."""
    model_field = Organization._meta.get_field(field)
    assert isinstance(model_field, models.Field)  # the policies are the organization's own columns
    return capfirst(model_field.verbose_name)


def policy_value_text(field: str, value: Any) -> Any:
    """A value as people read it; booleans stay booleans (templates say yes/no in their language)."""
    if field == "reminder_days" and isinstance(value, list):
        return ", ".join(str(day) for day in value)
    return value


def policy_changes_display(changes: dict[str, Any]) -> list[dict[str, Any]]:
    """``{"field": {"before": x, "after": y}}`` (as audited) → rows to show, in the console's order."""
    rows = []
    for field in sorted(changes, key=lambda name: POLICY_FIELDS.index(name) if name in POLICY_FIELDS else 99):
        change = changes[field]
        if field not in POLICY_FIELDS or not isinstance(change, dict):
            continue
        rows.append(
            {
                "field": field,
                "label": policy_label(field),
                "boolean": field in BOOLEANS,
                "before": policy_value_text(field, change.get("before")),
                "after": policy_value_text(field, change.get("after")),
            }
        )
    return rows
