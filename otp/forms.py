"""Shape checks of the OTP pages; the verification itself is otp.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _


class StepUpForm(forms.Form):
    device = forms.ChoiceField(label=_("Device"))
    code = forms.CharField(
        label=_("One-time code"),
        max_length=16,
        widget=forms.TextInput(
            attrs={"class": "form-control", "autocomplete": "one-time-code", "inputmode": "numeric"}
        ),
    )

    def __init__(self, *args: Any, devices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["device"].choices = devices
        self.fields["device"].widget.attrs["class"] = "form-select"
