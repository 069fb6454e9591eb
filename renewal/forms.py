"""Forms of the renewal wizard (shape only; the rules are the services')."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.forms import input_attrs
from certificates.forms import PIN_RULE, pin_field
from otp.forms import code_field

SHA256_HEX = r"^[0-9a-fA-F]{64}$"


class ConsentsForm(forms.Form):
    form_sha256 = forms.RegexField(regex=SHA256_HEX, widget=forms.HiddenInput)
    data_still_valid = forms.BooleanField(
        label=_("I confirm that the personal data given at registration of the signature certificate are still "
                "valid to request a new qualified certificate."),
        error_messages={"required": _("Tick the box to confirm that your personal data are still valid.")},
    )
    conditions_accepted = forms.BooleanField(
        label=_("I have read the renewal form and I accept the general conditions of service."),
        error_messages={"required": _("Tick the box to accept the general conditions.")},
    )


class RenewalSignForm(forms.Form):
    pin = pin_field(_("Signing PIN"))
    device = forms.ChoiceField(label=_("OTP device"))
    code = code_field(_("One-time code"))

    def __init__(self, *args: Any, devices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        device = self.fields["device"]
        assert isinstance(device, forms.ChoiceField)  # declared above
        device.choices = devices
        device.widget.attrs["class"] = "form-select"


class ActivateForm(forms.Form):
    KEEP, NEW = "keep", "new"
    choice = forms.ChoiceField(
        label=_("Signing PIN of the new certificate"),
        choices=[(NEW, _("Choose a new PIN")), (KEEP, _("Keep my current PIN"))],
        widget=forms.RadioSelect, initial=NEW,
    )
    new_pin = pin_field(_("New PIN"), autocomplete="new-password")
    new_pin_confirm = pin_field(_("Confirm the new PIN"), autocomplete="new-password")
    current_pin = pin_field(_("Current PIN"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("new_pin", "new_pin_confirm", "current_pin"):
            self.fields[name].required = False
        self.fields["new_pin"].help_text = PIN_RULE

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("choice") == self.KEEP:
            if not cleaned.get("current_pin"):
                self.add_error("current_pin", _("Enter your current PIN."))
        elif cleaned.get("choice") == self.NEW:
            new, confirm = cleaned.get("new_pin"), cleaned.get("new_pin_confirm")
            if not new:
                self.add_error("new_pin", _("Choose the new PIN."))
            elif new != confirm:
                self.add_error("new_pin_confirm", _("The two PINs do not match."))
        return cleaned


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for the rejection"), max_length=2000, strip=True,
        widget=forms.Textarea(attrs={"rows": 4, "class": "form-control"}),
        help_text=_("The holder reads it in the notification."),
    )


class ResidenceForm(forms.Form):
    current_password = forms.CharField(
        label=_("Password"), strip=False, widget=forms.PasswordInput(attrs=input_attrs(autocomplete="current-password"))
    )
    residence_address = forms.CharField(label=_("Address"), max_length=200,
                                        widget=forms.TextInput(attrs=input_attrs(autocomplete="street-address")))
    residence_postal_code = forms.RegexField(label=_("Postal code"), regex=r"^[0-9A-Za-z \-]{3,10}$", max_length=10,
                                             widget=forms.TextInput(attrs=input_attrs(autocomplete="postal-code")))
    residence_city = forms.CharField(label=_("City"), max_length=100,
                                     widget=forms.TextInput(attrs=input_attrs(autocomplete="address-level2")))
    residence_province = forms.RegexField(label=_("Province"), regex=r"^[A-Za-z]{2}$", max_length=2, required=False,
                                          widget=forms.TextInput(attrs=input_attrs()))


# --- The operators' decisions in the console ---------------------------------------------------------

# At most one page of the console's queue at a time: each approval issues a certificate (a new key pair).
BULK_MAX = 50


class ApproveForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("I have checked the signed form and the holder's data, and I approve the request: the "
                           "new certificate is issued at once."),
        error_messages={"required": _("Tick the box to confirm the approval.")},
    )


class RejectConfirmForm(RejectForm):
    confirm = forms.BooleanField(
        label=_("I confirm the rejection: the holder receives the reason by e-mail and keeps the current "
                           "certificate until it expires."),
        error_messages={"required": _("Tick the box to confirm the rejection.")},
    )


class RequestIdsField(forms.Field):
    """The ids of the requests ticked in the queue (checkboxes named after the field, one per row: the
    widget only reads them; its errors are shown above the table)."""

    widget = forms.SelectMultiple
    default_error_messages = {
        "required": _("Select at least one request to approve."),
        "invalid": _("The selection is not valid: reload the page and select the requests again."),
    }

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        if not isinstance(value, list | tuple):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        ids = set()
        for item in value:
            if not isinstance(item, str) or not (item.isascii() and item.isdigit()) or len(item) > 12:
                raise ValidationError(self.error_messages["invalid"], code="invalid")
            ids.add(int(item))
        return sorted(ids)

    def validate(self, value: list[int]) -> None:
        super().validate(value)
        if len(value) > BULK_MAX:
            raise ValidationError(
                _("Select at most %(max)s requests at a time."), code="too_many", params={"max": BULK_MAX}
            )


class BulkApproveForm(forms.Form):
    requests = RequestIdsField()
    confirm = forms.BooleanField(
        label=_("I have checked the selected requests and their signed forms, and I approve them: the "
                           "new certificates are issued at once."),
        error_messages={"required": _("Tick the box to confirm the approval.")},
    )
