"""Django admin for platform administrators: organizations and their people, and the policy bounds."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import Holder, Operator, Organization, PolicyBounds, User, UserKind
from accounts.policies import BOUNDED_INTEGERS
from audit.admin import AuditedAdmin
from core.ratelimit import client_ip


@admin.register(Organization)
class OrganizationAdmin(AuditedAdmin):
    list_display = (
        "name", "slug", "certificate_validity_months", "renewable", "renewal_requires_approval", "is_active"
    )
    search_fields = ("name", "slug")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # a support page typed without scheme
    prepopulated_fields = {"slug": ("name",)}
    fieldsets = (
        (None, {"fields": ("name", "slug", "is_active", "support_email", "support_url")}),
        (
            "Certificates",
            {
                "fields": (
                    "certificate_validity_months",
                    "renewable",
                    "renewal_window_days",
                    "renewal_requires_approval",
                    "reminder_days",
                    "activation_deadline_days",
                    "suspended_auto_revoke_days",
                    "max_active_certificates",
                    "key_algorithm",
                    "pin_max_retries",
                )
            },
        ),
        ("OTP", {"fields": ("otp_hardware_allowed", "otp_app_allowed", "otp_sms_allowed")}),
        ("Login", {"fields": ("password_min_length", "login_max_failures", "login_lockout_minutes")}),
        ("API", {"fields": ("csc_direct_authorization_allowed",)}),
    )


@admin.register(User)
class UserAdmin(AuditedAdmin):
    list_display = ("username", "kind", "is_active", "last_login")
    list_filter = ("kind", "is_active")
    search_fields = ("username",)
    fields = ("username", "kind", "email", "is_active", "preferred_language", "last_login", "date_joined")
    readonly_fields = ("username", "kind", "last_login", "date_joined")
    actions = ["reset_second_factor"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # accounts are created by the registration flows, which check the data

    @admin.action(description=_("Reset the second factor and e-mail an enrolment link"))
    def reset_second_factor(self, request: HttpRequest, queryset: Any) -> None:
        """For an operator who lost their factor with no other admin to help (an organization's last admin)."""
        from accounts.services.staff import staff_factor_reset

        actor = request.user
        assert isinstance(actor, User)  # the admin site lets in signed-in staff only
        done = 0
        for user in queryset.exclude(kind=UserKind.HOLDER).exclude(pk=actor.pk):
            staff_factor_reset(actor=actor, user=user, ip=client_ip(request))
            done += 1
        self.message_user(request, _("Second factor reset for %(count)d account(s); each was e-mailed a link.")
                          % {"count": done})


@admin.register(Holder)
class HolderAdmin(AuditedAdmin):
    list_display = ("surname", "given_name", "codice_fiscale", "organization")
    list_filter = ("organization",)
    search_fields = ("surname", "codice_fiscale", "user__username")
    readonly_fields = ("user", "organization", "codice_fiscale", "email", "mobile")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Operator)
class OperatorAdmin(AuditedAdmin):
    list_display = ("surname", "given_name", "organization", "role")
    list_filter = ("organization", "role")
    readonly_fields = ("user", "organization")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# Each pair PolicyBounds.<name>_min / <name>_max, and the values an organization's own field accepts.
_REMINDER_DAY_RANGE = (1, 365)  # validate_reminder_days


def _field_range(name: str) -> tuple[int, int]:
    if name == "reminder_day":
        return _REMINDER_DAY_RANGE
    model_field = Organization._meta.get_field(name)
    assert isinstance(model_field, models.Field)  # the bounded policies are the organization's own columns
    validators = model_field.validators
    low = max((v.limit_value for v in validators if isinstance(v, MinValueValidator)), default=0)
    high = min((v.limit_value for v in validators if isinstance(v, MaxValueValidator)), default=32767)
    return low, high


BOUND_PAIRS = (*BOUNDED_INTEGERS, "reminder_day")


class PolicyBoundsForm(forms.ModelForm):
    class Meta:
        model = PolicyBounds
        fields = (
            *(f"{name}_{end}" for name in BOUND_PAIRS for end in ("min", "max")),
            "reminder_days_max_count",
            "automatic_renewal_allowed",
            "otp_hardware_available",
            "otp_app_available",
            "otp_sms_available",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in BOUND_PAIRS:
            low, high = cleaned.get(f"{name}_min"), cleaned.get(f"{name}_max")
            if low is None or high is None:
                continue
            if low > high:
                self.add_error(f"{name}_max", _("The maximum must not be below the minimum (%(min)s).") % {"min": low})
                continue
            floor, ceiling = _field_range(name)
            if low < floor or high > ceiling:
                self.add_error(
                    f"{name}_max" if high > ceiling else f"{name}_min",
                    _("Organizations accept values between %(min)s and %(max)s only.") % {"min": floor, "max": ceiling},
                )
        count = cleaned.get("reminder_days_max_count")
        if count is not None and count < 1:
            self.add_error("reminder_days_max_count", _("Allow at least one reminder day."))
        if not any(cleaned.get(f"otp_{kind}_available") for kind in ("hardware", "app", "sms")):
            self.add_error(None, _("Offer at least one kind of OTP device."))
        return cleaned


@admin.register(PolicyBounds)
class PolicyBoundsAdmin(AuditedAdmin):
    """One row: the bounds within which organization admins set their policies in the console."""

    form = PolicyBoundsForm
    readonly_fields = ("updated_at",)
    fieldsets = (
        (
            "Certificates",
            {
                "fields": (
                    ("certificate_validity_months_min", "certificate_validity_months_max"),
                    ("renewal_window_days_min", "renewal_window_days_max"),
                    "automatic_renewal_allowed",
                    ("reminder_day_min", "reminder_day_max"),
                    "reminder_days_max_count",
                    ("activation_deadline_days_min", "activation_deadline_days_max"),
                )
            },
        ),
        ("OTP", {"fields": ("otp_hardware_available", "otp_app_available", "otp_sms_available")}),
        (
            "Login",
            {
                "fields": (
                    ("password_min_length_min", "password_min_length_max"),
                    ("login_max_failures_min", "login_max_failures_max"),
                    ("login_lockout_minutes_min", "login_lockout_minutes_max"),
                    "updated_at",
                )
            },
        ),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not PolicyBounds.objects.exists()
