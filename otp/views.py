"""OTP pages of the holder's panel: the step-up before a sensitive operation."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.decorators import holder_required
from accounts.selectors import holder_for_user
from accounts.views.auth import safe_next
from core.errors import ApplicationError
from core.ratelimit import client_ip, consume_or_429
from notifications.views import mobile_masked
from otp.forms import StepUpForm
from otp.models import DeviceState
from otp.selectors import device_codes_for_holder, device_get_for_holder, sms_device_for_holder
from otp.services import device_verify
from otp.sms_codes import sms_code_check, sms_code_issue
from otp.stepup import OPERATIONS, SMS_PURPOSE_OF_OPERATION, stepup_grant
from otp.texts import sms_code_message, verify_message

SMS_CHOICE = "sms"


@sensitive_post_parameters("code")
@holder_required
@require_http_methods(["GET", "POST"])
def stepup_view(request: HttpRequest) -> HttpResponse:
    operation = request.POST.get("operation") or request.GET.get("operation") or ""
    if operation not in OPERATIONS:
        return HttpResponseBadRequest(_("Unknown operation."), content_type="text/plain; charset=utf-8")
    holder = holder_for_user(user=request.user)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    devices = list(device_codes_for_holder(user=request.user))
    choices = [(str(d.public_id), f"{d.get_kind_display()}{f' {d.serial}' if d.serial else ''}") for d in devices]
    sms_device = sms_device_for_holder(user=request.user)
    sms_usable = sms_device is not None and sms_device.state == DeviceState.ACTIVE
    if sms_usable:
        choices.append((SMS_CHOICE, _("Code by SMS to %(mobile)s") % {"mobile": mobile_masked(holder.mobile)}))
    sending = request.method == "POST" and "send_sms" in request.POST
    form = StepUpForm(
        request.POST if request.method == "POST" and not sending else None,
        devices=choices, initial={"device": SMS_CHOICE} if sending else None,
    )
    status = 200
    sms_notice = sms_error = ""
    if request.method == "POST":
        limited = consume_or_429(request, "otp_verify_user", key=str(request.user.pk))
        if limited is not None:
            return limited
        if sending and sms_usable:
            try:
                sms_code_issue(holder=holder, purpose=SMS_PURPOSE_OF_OPERATION[operation], ip=client_ip(request))
            except ApplicationError as exc:  # asked again too soon: say when (the form stays unbound)
                sms_error = str(exc.message)
                status = 400
            else:
                sms_notice = _("We sent a code by SMS to %(mobile)s. It is valid for 5 minutes.") % {
                    "mobile": mobile_masked(holder.mobile)
                }
        elif form.is_valid():
            if form.cleaned_data["device"] == SMS_CHOICE:
                result = sms_code_check(holder=holder, purpose=SMS_PURPOSE_OF_OPERATION[operation],
                                        code=form.cleaned_data["code"], ip=client_ip(request))
                ok, error = result.ok, sms_code_message(
                    result, refused=_("The code is not correct or has expired. Ask for a new code by SMS.")
                )
            else:
                device = device_get_for_holder(user=request.user, public_id=form.cleaned_data["device"])
                result = device_verify(device=device, code=form.cleaned_data["code"], purpose=operation,
                                       ip=client_ip(request))
                ok, error = result.ok, verify_message(result.outcome, result.failures_left)
            if ok:
                stepup_grant(request=request, operation=operation)
                return HttpResponseRedirect(safe_next(request, next_url, "panel:devices"))
            form.add_error("code", error)
            status = 400
        else:
            status = 400
    return render(
        request,
        "otp/stepup.html",
        {
            "holder": holder,
            "section": "devices",
            "form": form,
            "operation": operation,
            "operation_text": OPERATIONS[operation],
            "next": next_url,
            "has_devices": bool(choices),
            "sms_usable": sms_usable,
            "sms_notice": sms_notice,
            "sms_error": sms_error,
        },
        status=status,
    )
