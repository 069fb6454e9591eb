"""Shape checks of the accounts pages; business rules live in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.captcha import CaptchaField
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


class LanguageForm(forms.Form):
    language = forms.CharField(max_length=8)
    next = forms.CharField(max_length=2000, required=False)



class HolderSearchForm(forms.Form):
    """The console's holder search; Django's CharField also refuses NUL characters (PostgreSQL would)."""

    q = forms.CharField(required=False, max_length=100)


class PasswordRecoveryForm(forms.Form):
    """Seed 002 §2: "Codice utente", "Nome utente", "Non sono un robot"."""

    user_code = forms.CharField(
        label=_("User code"),
        max_length=32,
        help_text=_("You find it in the activation e-mail."),
        widget=forms.PasswordInput(attrs=input_attrs(autocomplete="off", inputmode="numeric")),
    )
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        help_text=_("You find it in the activation e-mail."),
        widget=forms.TextInput(attrs=input_attrs(autocomplete="username", autocapitalize="none", spellcheck="false")),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["captcha"] = CaptchaField()


class UsernameRecoveryForm(forms.Form):
    codice_fiscale = forms.CharField(
        label=_("Codice fiscale"),
        max_length=16,
        min_length=16,
        widget=forms.TextInput(attrs=input_attrs(autocomplete="off", autocapitalize="characters", spellcheck="false")),
    )
    email = forms.EmailField(
        label=_("E-mail"),
        max_length=254,
        help_text=_("The e-mail address registered for your remote signature."),
        widget=forms.EmailInput(attrs=input_attrs(autocomplete="email")),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["captcha"] = CaptchaField()


class RecoveryCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code received by SMS"),
        max_length=16,
        widget=forms.TextInput(attrs=input_attrs(autocomplete="one-time-code", inputmode="numeric")),
    )


class NewPasswordForm(forms.Form):
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


class PasswordChangeForm(NewPasswordForm):
    field_order = ["current_password", "new_password", "new_password_confirm"]

    current_password = forms.CharField(
        label=_("Current password"),
        max_length=MAX_PASSWORD_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs=input_attrs(autocomplete="current-password")),
    )


class EnrolmentPasswordForm(forms.Form):
    """First step of an enrolment link: a new password (invitation) or the current one (reset)."""

    password = forms.CharField(label=_("Password"), strip=False, max_length=128, widget=forms.PasswordInput(
        attrs={"autocomplete": "new-password"}))
    password_again = forms.CharField(label=_("Password again"), strip=False, max_length=128, required=False,
                                     widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def __init__(self, *args: Any, invitation: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if invitation:
            self.fields["password"].label = _("Choose a password")
            self.fields["password_again"].required = True
        else:
            self.fields["password"].label = _("Your current password")
            self.fields["password"].widget.attrs["autocomplete"] = "current-password"
            del self.fields["password_again"]
