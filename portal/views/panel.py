"""The holder panel's composite pages: the profile (account, devices, certificate, latest messages),
"Gestione dispositivi" and "Notifiche"."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.decorators import holder_required
from accounts.models import Holder
from accounts.selectors import holder_for_user
from certificates.selectors import certificate_current_for_holder
from notifications.display import message_rows_for_holder
from notifications.selectors import message_list_for_holder
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.selectors import device_list_for_holder


def _render(request: HttpRequest, holder: Holder, template: str, section: str, **context: object) -> HttpResponse:
    return render(request, template, {"holder": holder, "section": section, **context})


def _device_rows(holder: Holder) -> tuple[list[OtpDevice], str | None]:
    """The holder's devices and their OTP state: "active" if one works, "locked" if all are locked."""
    devices = list(device_list_for_holder(holder=holder))
    active = [device for device in devices if device.state == DeviceState.ACTIVE]
    if any(not device.is_locked for device in active):
        return devices, "active"
    return devices, "locked" if active else None


@holder_required
def profile_view(request: HttpRequest) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    recent = list(message_list_for_holder(holder=holder)[:3])
    devices, otp_state = _device_rows(holder)
    return _render(
        request, holder, "panel/profile.html", "profile", recent_messages=message_rows_for_holder(recent),
        devices=[device for device in devices if device.state == DeviceState.ACTIVE], otp_state=otp_state,
        certificate=certificate_current_for_holder(user=request.user),
    )


@holder_required
def devices_view(request: HttpRequest) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    devices, otp_state = _device_rows(holder)
    return _render(
        request, holder, "panel/devices.html", "devices", devices=devices, otp_state=otp_state,
        has_hardware=any(
            d.kind in (DeviceKind.HARDWARE_HOTP, DeviceKind.HARDWARE_TOTP) and d.state == DeviceState.ACTIVE
            for d in devices
        ),
    )


@holder_required
def notifications_view(request: HttpRequest) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    page = Paginator(message_list_for_holder(holder=holder), 25).get_page(request.GET.get("page"))
    return _render(
        request, holder, "panel/notifications.html", "notifications",
        page=page, rows=message_rows_for_holder(list(page.object_list)),
    )
