"""Shape checks of the certificate pages; the rules (PIN policy, transitions) live in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.forms import input_attrs
from certificates.models import RevocationReason
from certificates.services.holder_requests import HOLDER_REVOCATION_REASONS
from otp.forms import code_field

PIN_MAX_LENGTH = 64


def pin_field(label: Any, autocomplete: str = "off") -> forms.CharField:
    return forms.CharField(
        label=label, max_length=PIN_MAX_LENGTH, strip=False,
        widget=forms.PasswordInput(attrs=input_attrs(autocomplete=autocomplete, inputmode="numeric")),
    )


def revocation_reason_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label=_("Reason for revocation"),
        choices=[(value, RevocationReason(value).label) for value in HOLDER_REVOCATION_REASONS],
        widget=forms.Select(attrs={"class": "form-select"}),
    )


class PinChangeForm(forms.Form):
    current_pin = pin_field(_("Current PIN"))
    new_pin = pin_field(_("New PIN"), autocomplete="new-password")
    new_pin_confirm = pin_field(_("Confirm the new PIN"), autocomplete="new-password")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_pin"].help_text = _(
            "At least 8 characters; not a repeated character, not a sequence like 12345678, not your codice "
            "fiscale or birth date. The PIN cannot be recovered: if you forget it, the certificate must be revoked."
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        new, confirm = cleaned.get("new_pin"), cleaned.get("new_pin_confirm")
        if new and confirm and new != confirm:
            self.add_error("new_pin_confirm", _("The two PINs do not match."))
        return cleaned


class RevokeForm(forms.Form):
    reason = revocation_reason_field()
    confirm = forms.BooleanField(
        label=_("I understand that revocation is final: the certificate can never be used again."),
        error_messages={"required": _("Tick the box to confirm that you want to revoke the certificate.")},
    )


class WithoutLoginForm(forms.Form):
    """Seed 001: suspend at once (or revoke) with username, user code and an OTP code."""

    username = forms.CharField(
        label=_("Username"), max_length=150,
        widget=forms.TextInput(attrs=input_attrs(autocomplete="username", autocapitalize="none", spellcheck="false")),
    )
    user_code = forms.CharField(
        label=_("User code"), max_length=32,
        widget=forms.PasswordInput(attrs=input_attrs(autocomplete="off", inputmode="numeric")),
    )
    otp_code = code_field(_("OTP code"))
    action = forms.ChoiceField(
        label=_("Operation"),
        choices=[("suspend", _("Suspend the certificate")), ("revoke", _("Revoke the certificate (final)"))],
        widget=forms.RadioSelect,
        initial="suspend",
    )
    reason = forms.ChoiceField(
        label=_("Reason for revocation"),
        choices=[("", "—"), *((value, RevocationReason(value).label) for value in HOLDER_REVOCATION_REASONS)],
        required=False,
        widget=forms.Select(attrs={"class": "form-select"}),
        help_text=_("Only for revocation."),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("action") == "revoke" and not cleaned.get("reason"):
            self.add_error("reason", _("Choose the reason for revocation."))
        return cleaned
