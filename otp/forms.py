"""Shape checks of the OTP pages; the verification itself is otp.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _


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
