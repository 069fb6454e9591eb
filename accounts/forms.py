"""Shape checks of the accounts pages; business rules live in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.validators import MAX_PASSWORD_LENGTH


def input_attrs(**attrs: Any) -> dict[str, Any]:
    return {"class": "form-control", **attrs}


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        widget=forms.TextInput(attrs=input_attrs(autocomplete="username", autocapitalize="none", spellcheck="false")),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=MAX_PASSWORD_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs=input_attrs(autocomplete="current-password")),
    )


class PasswordChangeForm(forms.Form):
    current_password = forms.CharField(
        label=_("Current password"),
        max_length=MAX_PASSWORD_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs=input_attrs(autocomplete="current-password")),
    )
    new_password = forms.CharField(
        label=_("New password"),
        max_length=MAX_PASSWORD_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs=input_attrs(autocomplete="new-password")),
    )
    new_password_confirm = forms.CharField(
        label=_("Confirm the new password"),
        max_length=MAX_PASSWORD_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs=input_attrs(autocomplete="new-password")),
    )

    def __init__(self, *args: Any, min_length: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password"].help_text = _(
            "At least %(min_length)d characters; avoid common passwords and your personal data."
        ) % {"min_length": min_length}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        new, confirm = cleaned.get("new_password"), cleaned.get("new_password_confirm")
        if new and confirm and new != confirm:
            self.add_error("new_password_confirm", _("The two passwords do not match."))
        return cleaned


class LanguageForm(forms.Form):
    language = forms.CharField(max_length=8)
    next = forms.CharField(max_length=2000, required=False)



class HolderSearchForm(forms.Form):
    """The console's holder search; Django's CharField also refuses NUL characters (PostgreSQL would)."""

    q = forms.CharField(required=False, max_length=100)
