"""Shape checks of the certificate pages — issuance (console), activation, the holder's own actions;
the rules (PIN policy, transitions) live in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from accounts.forms import input_attrs
from accounts.models import IdDocumentType, Organization
from certificates.models import OtpChoice, RevocationReason
from certificates.pin_policy import PIN_MAX_LENGTH
from certificates.services.holder_requests import HOLDER_REVOCATION_REASONS
from certificates.services.lifecycle import REVOCATION_REASONS
from otp.forms import code_field


def _text(label: Any, max_length: int, required: bool = True, **attrs: Any) -> forms.CharField:
    return forms.CharField(label=label, max_length=max_length, required=required,
                           widget=forms.TextInput(attrs=input_attrs(**attrs)))


def _date(label: Any, required: bool = True) -> forms.DateField:
    return forms.DateField(label=label, required=required,
                           widget=forms.DateInput(attrs=input_attrs(type="date"), format="%Y-%m-%d"))


def otp_choices(organization: Organization) -> list[tuple[str, Any]]:
    allowed = {
        OtpChoice.HARDWARE: organization.otp_hardware_allowed,
        OtpChoice.APP: organization.otp_app_allowed,
        OtpChoice.SMS: organization.otp_sms_allowed,
    }
    return [(choice.value, choice.label) for choice in OtpChoice if allowed[choice]]


class DeviceChoiceForm(forms.Form):
    """The OTP device chosen at issuance: a token by its 13-digit serial, the app, or SMS."""

    otp_choice = forms.ChoiceField(label=_("Device kind"), widget=forms.RadioSelect)
    token_serial = _text(
        _("Token serial number"), 20, required=False, inputmode="numeric", autocomplete="off",
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        otp_choice = self.fields["otp_choice"]
        assert isinstance(otp_choice, forms.ChoiceField)  # declared above
        otp_choice.choices = otp_choices(organization)
        self.fields["token_serial"].help_text = _("Hardware token only: the 13 digits printed on its back.")


class HolderRegistrationForm(DeviceChoiceForm):
    """The request form: section A (the person, identified face to face) and B (the role)."""

    field_order = [
        "given_name", "surname", "codice_fiscale", "birth_date", "birth_place",
        "id_document_type", "id_document_number", "id_document_issuer", "id_document_expiry",
        "residence_address", "residence_postal_code", "residence_city", "residence_province",
        "mobile", "email", "role_organization", "role_title", "otp_choice", "token_serial",
    ]
    SECTION_A = field_order[:15]
    SECTION_B = ["role_organization", "role_title"]

    given_name = _text(_("Given name"), 100, autocomplete="off")
    surname = _text(_("Surname"), 100, autocomplete="off")
    codice_fiscale = _text(_("Codice fiscale"), 16, autocomplete="off", autocapitalize="characters",
                           spellcheck="false")
    birth_date = _date(_("Birth date"))
    birth_place = _text(_("Birth place"), 100)
    id_document_type = forms.ChoiceField(
        label=capfirst(_("ID document type")), choices=[("", "—"), *IdDocumentType.choices],
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    id_document_number = _text(capfirst(_("ID document number")), 32, autocomplete="off")
    id_document_issuer = _text(capfirst(_("ID document issued by")), 100)
    id_document_expiry = _date(capfirst(_("ID document expiry")))
    residence_address = _text(_("Address"), 200)
    residence_postal_code = _text(_("Postal code"), 10, inputmode="numeric")
    residence_city = _text(_("City"), 100)
    residence_province = _text(_("Province"), 2, required=False, autocapitalize="characters")
    mobile = _text(_("Mobile number"), 20, type="tel", autocomplete="off")
    email = forms.EmailField(label=_("E-mail"), max_length=254,
                             widget=forms.EmailInput(attrs=input_attrs(autocomplete="off")))
    role_organization = _text(_("Role organization"), 200, required=False)
    role_title = _text(_("Title / role"), 200)

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, organization=organization, **kwargs)
        self.fields["mobile"].help_text = _("The temporary password is sent here by SMS, e.g. +39 347 123 4567.")
        self.fields["email"].help_text = _("The username, the user code and the activation link are sent here.")
        self.fields["role_organization"].help_text = _("Leave empty for %(name)s.") % {"name": organization.name}
        self.fields["residence_province"].widget.attrs["maxlength"] = 2

    @property
    def section_a(self) -> list[forms.BoundField]:
        return [self[name] for name in self.SECTION_A]

    @property
    def section_b(self) -> list[forms.BoundField]:
        return [self[name] for name in self.SECTION_B]


class SuspendForm(forms.Form):
    note = forms.CharField(label=_("Reason (optional)"), max_length=500, required=False,
                           widget=forms.TextInput(attrs=input_attrs()))


class RevokeForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Revocation reason"),
        choices=[(reason.value, reason.label) for reason in RevocationReason if reason in REVOCATION_REASONS],
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    confirm = forms.BooleanField(
        label=_("I understand that revocation is final: the certificate can never be used again."), required=True,
    )


# --- Activation ---------------------------------------------------------------------------------------


class TemporaryPasswordForm(forms.Form):
    temporary_password = forms.CharField(
        label=_("Temporary password"), max_length=128, strip=True,
        help_text=_("You received it by SMS."),
        widget=forms.PasswordInput(attrs=input_attrs(autocomplete="off")),
    )


PIN_RULE = _(
    "At least 10 digits, or at least 8 characters with letters. Not a run such as 12345678, not one repeated "
    "character, not your codice fiscale or birth date. The PIN cannot be recovered: if you forget it, the "
    "certificate must be revoked."
)


class PinForm(forms.Form):
    pin = forms.CharField(
        label=_("Signing PIN"), max_length=PIN_MAX_LENGTH, strip=False,
        help_text=PIN_RULE,
        widget=forms.PasswordInput(attrs=input_attrs(autocomplete="off")),
    )
    pin_confirm = forms.CharField(
        label=_("Confirm the signing PIN"), max_length=PIN_MAX_LENGTH, strip=False,
        widget=forms.PasswordInput(attrs=input_attrs(autocomplete="off")),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("pin") and cleaned.get("pin_confirm") and cleaned["pin"] != cleaned["pin_confirm"]:
            self.add_error("pin_confirm", _("The two PINs do not match."))
        return cleaned


# --- The holder's own actions (panel, and without login) -------------------------------------------


def pin_field(label: Any, autocomplete: str = "off") -> forms.CharField:
    return forms.CharField(
        label=label, max_length=PIN_MAX_LENGTH, strip=False,
        widget=forms.PasswordInput(attrs=input_attrs(autocomplete=autocomplete)),
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
        self.fields["new_pin"].help_text = PIN_RULE

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        new, confirm = cleaned.get("new_pin"), cleaned.get("new_pin_confirm")
        if new and confirm and new != confirm:
            self.add_error("new_pin_confirm", _("The two PINs do not match."))
        return cleaned


class HolderRevokeForm(forms.Form):
    """The holder's revocation from the panel: the reasons a holder may give, and an explicit confirmation."""

    reason = revocation_reason_field()
    confirm = forms.BooleanField(
        label=_("I understand that revocation is final: the certificate can never be used again."),
        error_messages={"required": _("Tick the box to confirm that you want to revoke the certificate.")},
    )


class WithoutLoginForm(forms.Form):
    """Suspend at once (or revoke) with username, user code and an OTP code."""

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
