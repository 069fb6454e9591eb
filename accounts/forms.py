"""Shape checks of the accounts pages; business rules live in the services."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.captcha import CaptchaField
from accounts.models import ApiScope, OperatorRole, Organization, PolicyBounds
from accounts.policies import BOOLEANS, BOUNDED_INTEGERS, OTP_KINDS, POLICY_FIELDS, policy_label
from accounts.services.policies import organization_policies_check
from accounts.validators import MAX_PASSWORD_LENGTH
from otp.forms import code_field


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
    """Password recovery: "Codice utente", "Nome utente", "Non sono un robot"."""

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
class OrganizationPoliciesForm(forms.Form):
    """The policies an organization admin changes in the console; the bounds are the platform's.

    The fields check the shape (whole numbers, a list of days); the service's own check, run in
    ``clean``, says which values the platform does not allow — every one at once.
    """

    REMINDER_DAY = re.compile(r"\d{1,4}")

    def __init__(self, *args: Any, organization: Organization, bounds: PolicyBounds, **kwargs: Any) -> None:
        initial = {field: getattr(organization, field) for field in POLICY_FIELDS}
        initial["reminder_days"] = ", ".join(str(day) for day in organization.reminder_days or [])
        super().__init__(*args, initial=initial, **kwargs)  # type: ignore[misc]  # args: data and files only
        self.organization, self.bounds = organization, bounds
        for field in POLICY_FIELDS:
            label = policy_label(field)
            if field in BOUNDED_INTEGERS:
                low, high = getattr(bounds, f"{field}_min"), getattr(bounds, f"{field}_max")
                self.fields[field] = forms.IntegerField(
                    label=label,
                    help_text=_("Between %(min)s and %(max)s.") % {"min": low, "max": high},
                    widget=forms.NumberInput(attrs=input_attrs(min=low, max=high, step=1)),
                )
            elif field in BOOLEANS:
                self.fields[field] = forms.BooleanField(
                    label=label, required=False, help_text=self._boolean_help(field)
                )
            else:
                self.fields[field] = forms.CharField(
                    label=label,
                    max_length=100,
                    help_text=_(
                        "Days before expiry, separated by commas (for example 60, 30, 7): at most %(count)s, "
                        "each between %(min)s and %(max)s."
                    ) % {"count": bounds.reminder_days_max_count, "min": bounds.reminder_day_min,
                         "max": bounds.reminder_day_max},
                    widget=forms.TextInput(attrs=input_attrs(autocomplete="off", inputmode="numeric")),
                )

    def _boolean_help(self, field: str) -> Any:
        if field == "renewal_requires_approval":
            if not self.bounds.automatic_renewal_allowed:
                return _("The platform does not allow automatic renewal: every renewal needs an operator's approval.")
            return _("Untick for automatic renewal.")
        if field in OTP_KINDS and not getattr(self.bounds, OTP_KINDS[field]):
            return _("The platform does not offer this kind of OTP device: it can be switched off, not on.")
        if field == "csc_direct_authorization_allowed":
            return _("Untick to require the consent page: the holder types PIN and OTP on this site only.")
        return ""

    def clean_reminder_days(self) -> list[int]:
        parts = [part for part in re.split(r"[\s,;]+", self.cleaned_data["reminder_days"]) if part]
        if not parts or not all(self.REMINDER_DAY.fullmatch(part) for part in parts):
            raise forms.ValidationError(
                _("Enter the reminder days as whole numbers separated by commas, for example 60, 30, 7."),
                code="invalid",
            )
        return [int(part) for part in parts]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        _changed, errors = organization_policies_check(
            organization=self.organization,
            changes={field: cleaned[field] for field in POLICY_FIELDS if field in cleaned},
            bounds=self.bounds,
        )
        for error in errors:
            self.add_error(error.field if error.field in self.fields else None, str(error.message))
        return cleaned

    @property
    def changes(self) -> dict[str, Any]:
        return {field: self.cleaned_data[field] for field in POLICY_FIELDS}


# --- The panel's contacts ("Telefono", "E-mail") ----------------------------------------------------


class ContactPasswordForm(forms.Form):
    """A contact changes only with the current password (and a fresh second factor, asked by the view)."""

    current_password = forms.CharField(
        label=_("Current password"),
        max_length=MAX_PASSWORD_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs=input_attrs(autocomplete="current-password")),
    )


class EmailChangeForm(ContactPasswordForm):
    new_email = forms.CharField(
        label=_("New e-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs=input_attrs(autocomplete="email", spellcheck="false")),
    )


class PhoneChangeForm(ContactPasswordForm):
    new_mobile = forms.CharField(
        label=_("New mobile number"),
        max_length=32,
        help_text=_("With the international prefix, for example +39 347 123 4567."),
        widget=forms.TextInput(attrs=input_attrs(autocomplete="tel", inputmode="tel")),
    )


class PhoneConfirmForm(forms.Form):
    code = code_field(_("Code received by SMS"))


# --- The console: API clients, the organization's team -----------------------------------------------


class ApiClientForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("For example, the system that will call the API: “Exam records (ESSE3)”."),
        widget=forms.TextInput(attrs=input_attrs(autocomplete="off")),
    )
    scopes = forms.MultipleChoiceField(
        label=_("Functions it may use"),
        choices=ApiScope.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    redirect_uris = forms.CharField(
        label=_("Return addresses for the holder's consent (optional)"),
        required=False,
        max_length=5000,
        help_text=_(
            "One per line, for example https://esse3.example.org/firma/callback: where the consent page sends "
            "the holder back after PIN and OTP (CSC OAuth 2.0, “credential” scope). https only; http only for "
            "127.0.0.1 or localhost. Leave empty for a client that uses client credentials only."
        ),
        widget=forms.Textarea(attrs={"class": "form-control", "rows": 2, "autocomplete": "off"}),
    )

    def clean_redirect_uris(self) -> list[str]:
        return [line for line in self.cleaned_data["redirect_uris"].splitlines() if line.strip()]


class InviteForm(forms.Form):
    given_name = forms.CharField(label=_("Given name"), max_length=100)
    surname = forms.CharField(label=_("Surname"), max_length=100)
    email = forms.EmailField(label=_("E-mail (it will be the username)"), max_length=150)
    role = forms.ChoiceField(label=_("Role"), choices=OperatorRole.choices, initial=OperatorRole.OPERATOR)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=OperatorRole.choices)
