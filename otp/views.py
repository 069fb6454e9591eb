"""OTP pages of the holder's panel: the step-up before a sensitive operation."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.decorators import holder_required
from accounts.ratelimit import client_ip, consume_or_429
from accounts.selectors import holder_for_user
from accounts.views.auth import safe_next
from otp.forms import StepUpForm
from otp.selectors import device_codes_for_holder, device_get_for_holder
from otp.services import device_verify
from otp.stepup import OPERATIONS, stepup_grant
from otp.texts import verify_message


@sensitive_post_parameters("code")
@holder_required
@require_http_methods(["GET", "POST"])
def stepup_view(request: HttpRequest) -> HttpResponse:
    operation = request.POST.get("operation") or request.GET.get("operation") or ""
    if operation not in OPERATIONS:
        return HttpResponseBadRequest(_("Unknown operation."), content_type="text/plain; charset=utf-8")
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    devices = list(device_codes_for_holder(user=request.user))
    choices = [(str(d.public_id), f"{d.get_kind_display()}{f' {d.serial}' if d.serial else ''}") for d in devices]
    form = StepUpForm(request.POST if request.method == "POST" else None, devices=choices)
    status = 200
    if request.method == "POST":
        limited = consume_or_429(request, "otp_verify_user", key=str(request.user.pk))
        if limited is not None:
            return limited
        if form.is_valid():
            device = device_get_for_holder(user=request.user, public_id=form.cleaned_data["device"])
            result = device_verify(device=device, code=form.cleaned_data["code"], purpose=operation,
                                   ip=client_ip(request))
            if result.ok:
                stepup_grant(request=request, operation=operation)
                return HttpResponseRedirect(safe_next(request, next_url, "panel:devices"))
            form.add_error("code", verify_message(result.outcome, result.failures_left))
        status = 400
    return render(
        request,
        "otp/stepup.html",
        {
            "holder": holder_for_user(user=request.user),
            "section": "devices",
            "form": form,
            "operation": operation,
            "operation_text": OPERATIONS[operation],
            "next": next_url,
            "has_devices": bool(devices),
        },
        status=status,
    )

