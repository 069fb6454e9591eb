"""Reads of OTP devices; every one takes the acting user (tenant isolation as in accounts.selectors)."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import User
from accounts.selectors import RequestUser, holder_for_user, holder_get_for_operator
from otp.models import DeviceKind, DeviceState, OtpDevice


def device_list_for_holder(*, user: RequestUser) -> QuerySet[OtpDevice]:
    holder = holder_for_user(user=user)
    return OtpDevice.objects.filter(holder=holder).exclude(state=DeviceState.RETIRED).order_by("created_at", "pk")


def device_codes_for_holder(*, user: RequestUser) -> QuerySet[OtpDevice]:
    """The holder's devices that produce codes (tokens and apps), usable now."""
    return device_list_for_holder(user=user).filter(state=DeviceState.ACTIVE).exclude(kind=DeviceKind.SMS)


def sms_device_for_holder(*, user: RequestUser) -> OtpDevice | None:
    """The holder's SMS device (pending or active), if any."""
    # "active" sorts before "pending": the working one wins if both exist.
    return device_list_for_holder(user=user).filter(kind=DeviceKind.SMS).order_by("state").first()


def device_get_for_holder(*, user: RequestUser, public_id: str) -> OtpDevice:
    """The holder's device; 404 for missing, foreign and malformed ids alike."""
    try:
        parsed = uuid.UUID(str(public_id))
    except ValueError as exc:
        raise Http404 from exc
    return get_object_or_404(device_list_for_holder(user=user), public_id=parsed)


def device_list_for_operator(*, user: RequestUser, holder_id: int) -> QuerySet[OtpDevice]:
    """The devices of a holder of the operator's organization (404 for anyone else's holder)."""
    holder = holder_get_for_operator(user=user, holder_id=holder_id)
    return OtpDevice.objects.filter(holder=holder).order_by("created_at", "pk")


def device_get_for_operator(*, user: RequestUser, holder_id: int, public_id: str) -> OtpDevice:
    try:
        parsed = uuid.UUID(str(public_id))
    except ValueError as exc:
        raise Http404 from exc
    return get_object_or_404(device_list_for_operator(user=user, holder_id=holder_id), public_id=parsed)


def staff_pending_app(*, user: User, public_id: object) -> OtpDevice | None:
    """The authenticator app ``user`` (operator or administrator) is enrolling, by its public id."""
    try:
        parsed = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return OtpDevice.objects.filter(
        staff_user=user, public_id=parsed, kind=DeviceKind.APP_TOTP, state=DeviceState.PENDING
    ).first()
