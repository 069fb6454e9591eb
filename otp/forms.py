"""Shape checks of the OTP pages; the verification itself is otp.services."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from notifications.display import mobile_masked
from otp.models import DeviceState, OtpDevice
from otp.selectors import device_codes_for_holder, sms_device_for_holder

if TYPE_CHECKING:
    from accounts.models import Holder


class OneTimeCodeInput(forms.TextInput):
    """A code field that never echoes what was typed: a refused code is spent, and codes are secrets."""

    def __init__(self) -> None:
        super().__init__(attrs={"class": "form-control", "autocomplete": "one-time-code", "inputmode": "numeric"})

    def format_value(self, value: Any) -> None:
        return None


def code_field(label: Any) -> forms.CharField:
    return forms.CharField(label=label, max_length=16, widget=OneTimeCodeInput())


class StepUpForm(forms.Form):
    device = forms.ChoiceField(label=_("Device"))
    code = code_field(_("One-time code"))

    def __init__(self, *args: Any, devices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        device = self.fields["device"]
        assert isinstance(device, forms.ChoiceField)  # declared above
        device.choices = devices
        device.widget.attrs["class"] = "form-select"


_CODE_SHAPE = re.compile(r"^(?:[0-9]{6}|[0-9]{8})$")


def _clean_code(value: str) -> str:
    code = "".join(value.split())
    if not _CODE_SHAPE.match(code):
        raise forms.ValidationError(gettext("Enter the 6 or 8 digits shown by your device."))
    return code


class PasswordReentryForm(forms.Form):
    password = forms.CharField(
        label=_("Password"),
        max_length=4096,
        strip=False,
        widget=forms.PasswordInput(attrs={"class": "form-control", "autocomplete": "current-password"}),
    )


class DeviceTestForm(forms.Form):
    code = code_field(_("OTP code"))

    def clean_code(self) -> str:
        return _clean_code(self.cleaned_data["code"])


class ResyncForm(forms.Form):
    device = forms.ChoiceField(label=_("Physical device - serial"))
    first_code = code_field(_("OTP code 1"))
    second_code = code_field(_("OTP code 2"))

    def __init__(self, *args: Any, devices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        device = self.fields["device"]
        assert isinstance(device, forms.ChoiceField)  # declared above
        device.choices = devices
        device.widget.attrs["class"] = "form-select"
        self.fields["second_code"].help_text = _(
            "Press the token's button again and enter the next code it shows (for a time-based token, "
            "wait for the next code)."
        )

    def clean_first_code(self) -> str:
        return _clean_code(self.cleaned_data["first_code"])

    def clean_second_code(self) -> str:
        return _clean_code(self.cleaned_data["second_code"])


class AppConfirmForm(forms.Form):
    code = code_field(_("Code shown by the app"))

    def clean_code(self) -> str:
        return _clean_code(self.cleaned_data["code"])


class SmsEnrolmentSendForm(PasswordReentryForm):
    """Turning on a new factor asks for the password again (ASVS 2.x); the code then proves the phone."""


class SmsEnrolmentCodeForm(forms.Form):
    code = code_field(_("Code received by SMS"))


class TokenAssignForm(forms.Form):
    """The operator assigns a hardware token by the serial printed on it."""

    serial = forms.CharField(label=_("Serial number (13 digits)"), max_length=20)


# The value of the "code by SMS" choice among a holder's code devices.
SMS_CHOICE = "sms"


def code_device_choices(holder: Holder) -> tuple[list[tuple[str, str]], OtpDevice | None]:
    """The holder's code devices as the choices of a code field — tokens and apps by kind and serial,
    then "Code by SMS to …" when the SMS device is active — and that SMS device (or None)."""
    devices = list(device_codes_for_holder(holder=holder))
    choices = [(str(d.public_id), f"{d.get_kind_display()}{f' {d.serial}' if d.serial else ''}") for d in devices]
    sms_device = sms_device_for_holder(holder=holder)
    if sms_device is None or sms_device.state != DeviceState.ACTIVE:
        return choices, None
    choices.append((SMS_CHOICE, str(_("Code by SMS to %(mobile)s") % {"mobile": mobile_masked(holder.mobile)})))
    return choices, sms_device
