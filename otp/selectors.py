"""Reads of OTP devices. Each takes whose devices are read: the holder (or staff user) the view
resolved from the acting person through accounts.selectors, so a foreign holder is a 404 before
any device is read."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from otp.models import DeviceKind, DeviceState, OtpDevice, SmsCode

if TYPE_CHECKING:
    from accounts.models import Holder, User


def device_list_for_holder(*, holder: Holder) -> QuerySet[OtpDevice]:
    return OtpDevice.objects.filter(holder=holder).exclude(state=DeviceState.RETIRED).order_by("created_at", "pk")


def device_codes_for_holder(*, holder: Holder) -> QuerySet[OtpDevice]:
    """The holder's devices that produce codes (tokens and apps), usable now."""
    return device_list_for_holder(holder=holder).filter(state=DeviceState.ACTIVE).exclude(kind=DeviceKind.SMS)


def sms_device_for_holder(*, holder: Holder) -> OtpDevice | None:
    """The holder's SMS device (pending or active), if any."""
    # "active" sorts before "pending": the working one wins if both exist.
    return device_list_for_holder(holder=holder).filter(kind=DeviceKind.SMS).order_by("state").first()


def device_get_for_holder(*, holder: Holder, public_id: str) -> OtpDevice:
    """The holder's device; 404 for missing, foreign and malformed ids alike."""
    try:
        parsed = uuid.UUID(str(public_id))
    except ValueError as exc:
        raise Http404 from exc
    return get_object_or_404(device_list_for_holder(holder=holder), public_id=parsed)


def device_list_for_operator(*, holder: Holder) -> QuerySet[OtpDevice]:
    """Every device of ``holder`` (retired ones too), for the console: the view has already checked
    that the holder belongs to the operator's organization (accounts.selectors.holder_get_for_operator)."""
    return OtpDevice.objects.filter(holder=holder).order_by("created_at", "pk")


def device_get_for_operator(*, holder: Holder, public_id: str) -> OtpDevice:
    try:
        parsed = uuid.UUID(str(public_id))
    except ValueError as exc:
        raise Http404 from exc
    return get_object_or_404(device_list_for_operator(holder=holder), public_id=parsed)


def staff_pending_app(*, user: User, public_id: object) -> OtpDevice | None:
    """The authenticator app ``user`` (operator or administrator) is enrolling, by its public id."""
    try:
        parsed = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return OtpDevice.objects.filter(
        staff_user=user, public_id=parsed, kind=DeviceKind.APP_TOTP, state=DeviceState.PENDING
    ).first()


def sms_code_live(*, holder: Holder, purpose: str) -> bool:
    """Is the holder's latest SMS code for ``purpose`` still usable (sent, unspent, unexpired)?"""
    latest = SmsCode.objects.filter(holder=holder, purpose=purpose).order_by("-created_at", "-pk").first()
    return latest is not None and latest.is_live(timezone.now())
