"""Every kind of message the product sends, with the variables its templates need.

Templates live in ``templates/notifications/<type>/``: ``subject.txt``, ``body.txt`` and
``body.html`` for e-mail, ``sms.txt`` for SMS. Later issues add their types here (activation,
OTP code, expiry reminder…), so that a missing variable is caught when the message is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from notifications.models import Channel


@dataclass(frozen=True)
class MessageType:
    key: str
    label: Any  # lazy: what the message is, in words (pages show it for messages without a subject)
    channels: frozenset[str]
    required: frozenset[str]


MESSAGE_TYPES: dict[str, MessageType] = {
    "security_notice": MessageType(
        key="security_notice",
        label=_("Security notice"),
        channels=frozenset({Channel.EMAIL, Channel.SMS}),
        required=frozenset({"holder_name", "event_text", "occurred_at"}),
    ),
    "audit_checkpoint": MessageType(
        key="audit_checkpoint",
        label=_("Audit trail checkpoint"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset({"seq", "row_hash", "published_at", "checkpoint_json"}),
    ),
    "otp_sms_code": MessageType(
        key="otp_sms_code",
        label=_("One-time code"),
        channels=frozenset({Channel.SMS}),
        required=frozenset({"code", "purpose_text"}),
    ),
    "email_change_confirm": MessageType(
        key="email_change_confirm",
        label=_("Confirm your new e-mail address"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset({"holder_name", "link", "valid_hours"}),
    ),
    "password_recovery_link": MessageType(
        key="password_recovery_link",
        label=_("Password recovery: verification e-mail"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset({"holder_name", "link", "valid_minutes"}),
    ),
    "username_reminder": MessageType(
        key="username_reminder",
        label=_("Your username"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset({"holder_name", "username", "login_url"}),
    ),
    "certificate_activation": MessageType(
        key="certificate_activation",
        label=_("Activate your remote signature"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset({"holder_name", "username", "user_code", "link", "deadline"}),
    ),
    "certificate_activation_password": MessageType(
        key="certificate_activation_password",
        label=_("Temporary password"),
        channels=frozenset({Channel.SMS}),
        required=frozenset({"username", "temporary_password"}),
    ),
    # renewal_url is empty where the organization does not renew (the text then says to ask the
    # registration office for a new certificate); "renewable" decides which text is shown.
    "certificate_expiry_reminder": MessageType(
        key="certificate_expiry_reminder",
        label=_("Your remote signature certificate is about to expire"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset({"holder_name", "iut", "expires_on", "days_left", "renewable"}),
    ),
    # To the organization's admins: wrong secrets pile up for one of its API clients (once per window).
    "api_client_token_failures": MessageType(
        key="api_client_token_failures",
        label=_("Repeated failed token requests"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset({"admin_name", "client_name", "client_id", "failures", "window_minutes", "console_url"}),
    ),
    # Renewal (renewal/services.py): to the holder at each step, to the operators when a request
    # waits for them (at once, and in a morning digest once it has waited two working days).
    "renewal_submitted": MessageType(
        key="renewal_submitted",
        label=_("Your renewal request has been sent"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset({"holder_name", "number", "renewal_url", "organization_name"}),
    ),
    "renewal_approved": MessageType(
        key="renewal_approved",
        label=_("Your new certificate is ready to activate"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset({"holder_name", "number", "renewal_url", "new_iut", "deadline", "automatic"}),
    ),
    "renewal_rejected": MessageType(
        key="renewal_rejected",
        label=_("Your renewal request was rejected"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset({"holder_name", "number", "reason", "organization_name"}),
    ),
    "renewal_expired": MessageType(
        key="renewal_expired",
        label=_("Your renewal request has expired"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset({"holder_name", "number", "cause_text", "organization_name"}),
    ),
    "renewal_operator_submitted": MessageType(
        key="renewal_operator_submitted",
        label=_("A renewal request waits for your approval"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset({"operator_name", "holder_name", "number", "expires_on", "request_url"}),
    ),
    "renewal_operator_digest": MessageType(
        key="renewal_operator_digest",
        label=_("Renewal requests waiting for more than two working days"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset({"operator_name", "organization_name", "count", "oldest_submitted_at", "queue_url"}),
    ),
    "staff_invitation": MessageType(
        key="staff_invitation",
        label=_("Invitation to the operator console"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset({"person_name", "organization_name", "username", "link", "valid_hours", "by_name"}),
    ),
    "staff_factor_reset": MessageType(
        key="staff_factor_reset",
        label=_("Your second factor was reset"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset({"person_name", "organization_name", "username", "link", "valid_hours", "by_name"}),
    ),
    # To an organization's other administrators when one of them changes its policies in the console.
    "organization_policies_changed": MessageType(
        key="organization_policies_changed",
        label=_("The organization's policies were changed"),
        channels=frozenset({Channel.EMAIL}),
        required=frozenset(
            {"admin_name", "actor_name", "organization_name", "changes", "changed_at", "console_url"}
        ),
    ),
}

# What changed, in words (lazy: rendered in the recipient's language).
SECURITY_EVENTS = {
    "password_changed": _("The password of your account was changed."),
    "password_recovered": _("A new password was set for your account through password recovery."),
    "email_changed": _("The e-mail address of your account was changed."),
    "phone_changed": _("The mobile number of your account was changed."),
    "residence_changed": _("The residence address of your account was changed."),
    "device_changed": _("An OTP device of your account was changed."),
    "pin_changed": _("The signing PIN of your certificate was changed."),
    "certificate_activated": _("Your signature certificate was activated and a signing PIN was set."),
    "certificate_renewed": _(
        "Your new signature certificate was activated. The previous certificate was revoked as superseded: "
        "documents signed with it remain valid."
    ),
    "certificate_suspended": _("Your signature certificate was suspended."),
    "certificate_reactivated": _("Your signature certificate was reactivated after a suspension."),
    "certificate_blocked": _(
        "Your signature certificate was blocked after too many wrong PINs. It must be revoked and a new "
        "certificate issued."
    ),
    "certificate_revoked": _("Your signature certificate was revoked."),
    "otp_code_reused": _("A one-time code that had already been used was presented again for your account."),
}
