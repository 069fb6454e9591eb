"""The holder's selfcare panel: "Gestione utenza", "Gestione dispositivi", "Notifiche"."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.decorators import holder_required
from accounts.forms import PasswordChangeForm
from accounts.selectors import holder_for_user
from accounts.services.authentication import user_password_change
from certificates.selectors import certificate_current_for_holder
from core.errors import ApplicationError
from core.ratelimit import client_ip, consume_or_429
from notifications.selectors import message_list_for_holder
from notifications.views import message_rows_for_holder
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.selectors import device_list_for_holder


def _render(request: HttpRequest, template: str, section: str, **context: object) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    return render(request, template, {"holder": holder, "section": section, **context})


def _device_rows(request: HttpRequest) -> tuple[list[OtpDevice], str | None]:
    """The holder's devices and their OTP state: "active" if one works, "locked" if all are locked."""
    devices = list(device_list_for_holder(user=request.user))
    active = [device for device in devices if device.state == DeviceState.ACTIVE]
    if any(not device.is_locked for device in active):
        return devices, "active"
    return devices, "locked" if active else None


@holder_required
def profile_view(request: HttpRequest) -> HttpResponse:
    recent = list(message_list_for_holder(user=request.user)[:3])
    devices, otp_state = _device_rows(request)
    return _render(
        request, "panel/profile.html", "profile", recent_messages=message_rows_for_holder(recent),
        devices=[device for device in devices if device.state == DeviceState.ACTIVE], otp_state=otp_state,
        certificate=certificate_current_for_holder(user=request.user),
    )


@sensitive_post_parameters("current_password", "new_password", "new_password_confirm")
@holder_required
@require_http_methods(["GET", "POST"])
def password_change_view(request: HttpRequest) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    form = PasswordChangeForm(
        request.POST if request.method == "POST" else None, min_length=holder.organization.password_min_length
    )
    status = 200
    if request.method == "POST":
        limited = consume_or_429(request, "password_change_user", key=str(request.user.pk))
        if limited is not None:
            return limited
        if form.is_valid():
            try:
                user_password_change(
                    user=request.user,
                    current_password=form.cleaned_data["current_password"],
                    new_password=form.cleaned_data["new_password"],
                    ip=client_ip(request),
                )
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc.message))
            except ValidationError as exc:
                form.add_error("new_password", exc)
            else:
                # Keep this session; every other session of the account is now invalid (ASVS 3.3.3).
                update_session_auth_hash(request, request.user)
                messages.success(request, _("Your password has been changed."))
                return redirect("panel:profile")
        status = 400
    return render(
        request, "panel/password_change.html", {"holder": holder, "section": "password", "form": form}, status=status
    )


@holder_required
def user_code_view(request: HttpRequest) -> HttpResponse:
    return _render(request, "panel/user_code.html", "user_code")


@holder_required
def devices_view(request: HttpRequest) -> HttpResponse:
    devices, otp_state = _device_rows(request)
    return _render(
        request, "panel/devices.html", "devices", devices=devices, otp_state=otp_state,
        has_hardware=any(
            d.kind in (DeviceKind.HARDWARE_HOTP, DeviceKind.HARDWARE_TOTP) and d.state == DeviceState.ACTIVE
            for d in devices
        ),
    )


@holder_required
def notifications_view(request: HttpRequest) -> HttpResponse:
    page = Paginator(message_list_for_holder(user=request.user), 25).get_page(request.GET.get("page"))
    return _render(
        request, "panel/notifications.html", "notifications",
        page=page, rows=message_rows_for_holder(list(page.object_list)),
    )
