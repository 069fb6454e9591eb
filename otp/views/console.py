"""OTP actions of the operator console: a holder's devices, token assignment by serial, unlock, SMS enrolment.

Assigning a token and unlocking a device need a fresh second factor of the operator for that action
(:mod:`accounts.confirmation`)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.confirmation import confirmation_required
from accounts.decorators import operator_required
from accounts.selectors import holder_get_for_operator
from core.errors import ApplicationError
from core.ratelimit import client_ip
from otp.enrolment import sms_enrolment_send
from otp.forms import TokenAssignForm
from otp.selectors import device_get_for_operator
from otp.services import device_unlock, token_assign


@operator_required
@confirmation_required("token_assign")
@require_POST
def token_assign_view(request: HttpRequest, holder_id: int) -> HttpResponse:
    holder = holder_get_for_operator(user=request.user, holder_id=holder_id)
    form = TokenAssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Enter the 13-digit serial number printed on the back of the token."))
    else:
        try:
            device = token_assign(actor=request.user, holder=holder, serial=form.cleaned_data["serial"],
                                  ip=client_ip(request))
        except ApplicationError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("Token %(serial)s assigned.") % {"serial": device.serial})
    return redirect("console:holder_detail", holder_id=holder.pk)


@operator_required
@confirmation_required("device_unlock")
@require_POST
def device_unlock_view(request: HttpRequest, holder_id: int, device_id: str) -> HttpResponse:
    holder = holder_get_for_operator(user=request.user, holder_id=holder_id)
    device = device_get_for_operator(holder=holder, public_id=device_id)
    device_unlock(device=device, actor=request.user, ip=client_ip(request))
    messages.success(request, _("The device can be used again."))
    return redirect("console:holder_detail", holder_id=holder_id)


@operator_required
@require_POST
def sms_enrolment_send_view(request: HttpRequest, holder_id: int) -> HttpResponse:
    """Send (again) the code that turns on OTP codes by SMS for a holder at the counter."""
    holder = holder_get_for_operator(user=request.user, holder_id=holder_id)
    try:
        sms_enrolment_send(holder=holder, actor=request.user, ip=client_ip(request))
    except ApplicationError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(
            request, _("Activation code sent by SMS. The holder enters it in the panel within 5 minutes.")
        )
    return redirect("console:holder_detail", holder_id=holder.pk)
