"""OTP pages of the holder's panel: the step-up before a sensitive operation, and "Gestione
dispositivi": test a device, synchronize a hardware token, enrol (or change) the smartphone app, turn
on codes by SMS.

Synchronizing and a first enrolment ask for the account password again; changing an app when the
holder already has a working device asks for a code from it (step-up "device_change"). The fresh
password is remembered in the session for a few minutes, for the one flow that asked for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts.confirmation import user_password_reconfirm
from accounts.decorators import acting_user, holder_required
from accounts.selectors import holder_for_user
from core.errors import ApplicationError
from core.http import safe_next
from core.ratelimit import client_ip, consume_or_429
from notifications.display import mobile_masked
from otp.enrolment import app_enrolment_confirm, app_enrolment_start, sms_enrolment_confirm, sms_enrolment_send
from otp.forms import (
    SMS_CHOICE,
    AppConfirmForm,
    DeviceTestForm,
    PasswordReentryForm,
    ResyncForm,
    SmsEnrolmentCodeForm,
    SmsEnrolmentSendForm,
    StepUpForm,
    code_device_choices,
)
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.qr import qr_svg
from otp.selectors import device_codes_for_holder, device_get_for_holder, device_list_for_holder, sms_device_for_holder
from otp.services import VerifyOutcome, device_resynchronize, device_verify
from otp.sms_codes import sms_code_check, sms_code_issue
from otp.stepup import OPERATIONS, SMS_PURPOSE_OF_OPERATION, stepup_consume, stepup_grant, stepup_required
from otp.texts import sms_code_message, verify_message

if TYPE_CHECKING:
    from accounts.models import Holder

PASSWORD_FRESH_SECONDS = 300  # how long a re-entered password opens the flow that asked for it
ENROLMENT_SECONDS = 600  # time to scan the QR code and type the first code
RESYNC_PASSWORD_KEY = "otp_resync_password_until"
ENROL_PASSWORD_KEY = "otp_enrol_password_until"
ENROL_PENDING_KEY = "otp_enrol_pending"
HARDWARE_KINDS = (DeviceKind.HARDWARE_HOTP, DeviceKind.HARDWARE_TOTP)


# ---------------------------------------------------------------------------------------- helpers


def _limited(request: HttpRequest) -> HttpResponse | None:
    return consume_or_429(request, "otp_verify_user", key=str(request.user.pk))


def _fresh(request: HttpRequest, key: str) -> bool:
    until = request.session.get(key)
    return isinstance(until, int) and until >= time.time()


def _password_step(request: HttpRequest, holder: Holder, key: str, purpose: str) -> tuple[PasswordReentryForm, int]:
    """Handle the password form; on success mark the session (the caller redirects)."""
    form = PasswordReentryForm(request.POST if request.method == "POST" else None)
    if request.method != "POST":
        return form, 200
    if form.is_valid():
        if user_password_reconfirm(user=acting_user(request), password=form.cleaned_data["password"], purpose=purpose,
                                   ip=client_ip(request)):
            request.session[key] = int(time.time()) + PASSWORD_FRESH_SECONDS
            return form, 302
        form.add_error("password", _("The password is not correct."))
    return form, 400


def device_label(device: OtpDevice) -> str:
    if device.kind in HARDWARE_KINDS and device.serial:
        return _("Physical device - serial: %(serial)s") % {"serial": device.serial}
    return str(device.get_kind_display())


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(
        request, template, {"holder": holder_for_user(user=request.user), "section": "devices", **context},
        status=status,
    )


# ------------------------------------------------------------------------------------------ test


@sensitive_post_parameters("code")
@holder_required
@require_http_methods(["GET", "POST"])
def device_test_view(request: HttpRequest, device_id: str) -> HttpResponse:
    device = device_get_for_holder(holder=holder_for_user(user=request.user), public_id=device_id)
    if device.kind == DeviceKind.SMS or device.state != DeviceState.ACTIVE:
        raise Http404
    form = DeviceTestForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        limited = _limited(request)
        if limited is not None:
            return limited
        if form.is_valid():
            result = device_verify(device=device, code=form.cleaned_data["code"], purpose="test",
                                   ip=client_ip(request))
            if result.ok:
                messages.success(request, _("Test passed: the code is correct and the device works."))
                return redirect("panel:devices")
            form.add_error("code", verify_message(result.outcome, result.failures_left))
            device.refresh_from_db()
        status = 400
    return _render(
        request, "otp/device_test.html",
        {"form": form, "device": device, "device_label": device_label(device),
         "is_hardware": device.kind in HARDWARE_KINDS},
        status,
    )


# ------------------------------------------------------------------------------------ synchronize


@sensitive_post_parameters("password", "first_code", "second_code")
@never_cache
@holder_required
@require_http_methods(["GET", "POST"])
def device_resync_view(request: HttpRequest) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    tokens = list(device_list_for_holder(holder=holder).filter(kind__in=HARDWARE_KINDS,
                                                                   state=DeviceState.ACTIVE))
    if not tokens:
        return _render(request, "otp/device_resync.html", {"tokens": []})
    if request.method == "POST":
        limited = _limited(request)
        if limited is not None:
            return limited
    if not _fresh(request, RESYNC_PASSWORD_KEY):
        password_form, status = _password_step(request, holder, RESYNC_PASSWORD_KEY, "resynchronize")
        if status == 302:
            return HttpResponseRedirect(request.get_full_path())
        return _render(request, "otp/device_resync.html", {"tokens": tokens, "password_form": password_form}, status)
    choices = [(str(token.public_id), device_label(token)) for token in tokens]
    wanted = request.GET.get("dispositivo", "")
    initial = {"device": wanted} if wanted in {value for value, _label in choices} else {}
    form = ResyncForm(request.POST if request.method == "POST" else None, devices=choices, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            device = device_get_for_holder(holder=holder, public_id=form.cleaned_data["device"])
            result = device_resynchronize(device=device, first_code=form.cleaned_data["first_code"],
                                          second_code=form.cleaned_data["second_code"], ip=client_ip(request))
            if result.ok:
                request.session.pop(RESYNC_PASSWORD_KEY, None)
                messages.success(request, _("Device synchronized: it can be used again."))
                return redirect("panel:devices")
            if result.outcome is VerifyOutcome.REPLAYED:
                form.add_error(None, verify_message(result.outcome, result.failures_left))
            else:
                form.add_error(
                    None,
                    _("The two codes were not recognized as consecutive codes of this token. Generate two new "
                      "codes, one after the other, and enter them in the order they appeared."),
                )
        status = 400
    return _render(request, "otp/device_resync.html", {"tokens": tokens, "form": form}, status)


# ------------------------------------------------------------------------------- smartphone app


@sensitive_post_parameters("password")
@never_cache
@holder_required
@require_http_methods(["GET", "POST"])
def app_enrol_view(request: HttpRequest) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    if not holder.organization.otp_app_allowed:
        return _render(request, "otp/app_enrol.html", {"not_allowed": True})
    if device_codes_for_holder(holder=holder).exists():
        # A working device exists: a code from it, not just the password, may replace the app.
        return stepup_required("device_change")(_enrol_start)(request, holder)
    if request.method == "POST" or not _fresh(request, ENROL_PASSWORD_KEY):
        if request.method == "POST":
            limited = _limited(request)
            if limited is not None:
                return limited
        form, status = _password_step(request, holder, ENROL_PASSWORD_KEY, "enrol")
        if status == 302:
            return redirect("otp:app_enrol")
        return _render(request, "otp/app_enrol.html", {"password_form": form}, status)
    return _enrol_start(request, holder)


def _enrol_start(request: HttpRequest, holder: Holder) -> HttpResponse:
    """A new pending app and its secret, shown this once; coming back starts over."""
    if request.method == "POST":
        return redirect("otp:app_enrol")
    try:
        enrolment = app_enrolment_start(holder=holder, ip=client_ip(request))
    except ApplicationError as exc:
        return _render(request, "otp/app_enrol.html", {"error": exc.message}, 400)
    request.session[ENROL_PENDING_KEY] = {
        "device": str(enrolment.device.public_id),
        "until": int(time.time()) + ENROLMENT_SECONDS,
    }
    return _render(
        request, "otp/app_enrol.html",
        {"enrolment": enrolment, "qr_svg": qr_svg(enrolment.uri), "form": AppConfirmForm(),
         "replacing": device_codes_for_holder(holder=holder).filter(kind=DeviceKind.APP_TOTP).exists()},
    )


@sensitive_post_parameters("code")
@never_cache
@holder_required
@require_POST
def app_confirm_view(request: HttpRequest, device_id: str) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    device = device_get_for_holder(holder=holder, public_id=device_id)
    pending = request.session.get(ENROL_PENDING_KEY)
    if (
        not isinstance(pending, dict)
        or pending.get("device") != str(device.public_id)
        or not isinstance(pending.get("until"), int)
        or pending["until"] < time.time()
        or device.state != DeviceState.PENDING
    ):
        # Another tab started over, the time ran out, or this enrolment is not this session's.
        messages.error(request, _("This enrolment is no longer valid. Start again to get a new QR code."))
        return redirect("otp:app_enrol")
    limited = _limited(request)
    if limited is not None:
        return limited
    form = AppConfirmForm(request.POST)
    if form.is_valid():
        result = app_enrolment_confirm(holder=holder, device=device, code=form.cleaned_data["code"],
                                       ip=client_ip(request))
        if result.ok:
            for key in (ENROL_PENDING_KEY, ENROL_PASSWORD_KEY):
                request.session.pop(key, None)
            stepup_consume(request=request, operation="device_change")
            messages.success(request, _("Your smartphone app is active: use its codes from now on."))
            return redirect("panel:devices")
        form.add_error("code", verify_message(result.outcome, result.failures_left, enrolment=True))
    return _render(
        request, "otp/app_confirm.html",
        {"form": form, "device": device, "confirm_url": reverse("otp:app_confirm", args=[device.public_id])},
        400,
    )


# ------------------------------------------------------------------------------------------- SMS


@sensitive_post_parameters("password", "code")
@never_cache
@holder_required
@require_http_methods(["GET", "POST"])
def sms_enrol_view(request: HttpRequest) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    if not holder.organization.otp_sms_allowed:
        return _render(request, "otp/sms_enrol.html", {"not_allowed": True})
    device = sms_device_for_holder(holder=holder)
    if device is not None and device.state == DeviceState.ACTIVE:
        return _render(request, "otp/sms_enrol.html", {"active": True})
    send_form = SmsEnrolmentSendForm(request.POST if "send" in request.POST else None)
    code_form = SmsEnrolmentCodeForm(request.POST if "confirm" in request.POST else None)
    status = 200
    if request.method == "POST":
        limited = _limited(request)
        if limited is not None:
            return limited
        status = 400
        if "send" in request.POST and send_form.is_valid():
            if not user_password_reconfirm(user=acting_user(request), password=send_form.cleaned_data["password"],
                                           purpose="sms_enrolment", ip=client_ip(request)):
                send_form.add_error("password", _("The password is not correct."))
            else:
                try:
                    device = sms_enrolment_send(holder=holder, actor=request.user, ip=client_ip(request))
                except ApplicationError as exc:
                    send_form.add_error(None, str(exc.message))
                else:
                    messages.info(request, _("We sent a code by SMS to your registered mobile number."))
                    return redirect("otp:sms_enrol")
        elif "confirm" in request.POST and code_form.is_valid():
            result = sms_enrolment_confirm(holder=holder, code=code_form.cleaned_data["code"], ip=client_ip(request))
            if result.ok:
                messages.success(request, _("OTP codes by SMS are active: you can use them to confirm operations."))
                return redirect("panel:devices")
            code_form.add_error("code", sms_code_message(
                result, refused=_("The code is not correct or has expired. Ask for a new code.")
            ))
    pending = device is not None and device.state == DeviceState.PENDING
    return _render(
        request, "otp/sms_enrol.html",
        {"send_form": send_form, "code_form": code_form, "pending": pending}, status,
    )


# ---------------------------------------------------------------------------------------- step-up
# The step-up before a sensitive operation of the panel (signing, changing a device).


def sms_code_send(request: HttpRequest, holder: Holder, purpose: str) -> tuple[str, str]:
    """The "send me a code by SMS" button of a page asking for a code: ``(notice, error)`` to show —
    the notice names the masked number; the error says when a code may be asked again."""
    try:
        sms_code_issue(holder=holder, purpose=purpose, ip=client_ip(request))
    except ApplicationError as exc:
        return "", str(exc.message)
    return str(_("We sent a code by SMS to %(mobile)s. It is valid for 5 minutes.") % {
        "mobile": mobile_masked(holder.mobile)
    }), ""


@dataclass
class CodePost:
    """How a POST of a page asking for a signing code starts: ``response`` (429: answer it and stop),
    or what to show of "send me a code by SMS" (``sms_notice``/``sms_error``) and the status."""

    response: HttpResponse | None = None
    sms_notice: str = ""
    sms_error: str = ""
    status: int = 200


def signing_code_post(request: HttpRequest, holder: Holder, *, sms_device: OtpDevice | None,
                      sending: bool) -> CodePost:
    """The start of every POST of a page that asks for the OTP before signing (the panel's signing
    page, a renewal's signature, the CSC consent page): one budget of code checks per person, the
    same as the step-up's, and the "send me a code by SMS" button."""
    limited = consume_or_429(request, "otp_verify_user", key=str(request.user.pk))
    if limited is not None:
        return CodePost(response=limited)
    if not sending:
        return CodePost()
    if sms_device is None:
        return CodePost(sms_error=_("No SMS device is active on your account."), status=400)
    notice, error = sms_code_send(request, holder, SMS_PURPOSE_OF_OPERATION["sign"])
    return CodePost(sms_notice=notice, sms_error=error, status=400 if error else 200)


@sensitive_post_parameters("code")
@holder_required
@require_http_methods(["GET", "POST"])
def stepup_view(request: HttpRequest) -> HttpResponse:
    operation = request.POST.get("operation") or request.GET.get("operation") or ""
    if operation not in OPERATIONS:
        return HttpResponseBadRequest(_("Unknown operation."), content_type="text/plain; charset=utf-8")
    holder = holder_for_user(user=request.user)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    choices, sms_device = code_device_choices(holder)
    sms_usable = sms_device is not None
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
            # Asked again too soon: the error says when (the form stays unbound).
            sms_notice, sms_error = sms_code_send(request, holder, SMS_PURPOSE_OF_OPERATION[operation])
            status = 400 if sms_error else 200
        elif form.is_valid():
            if form.cleaned_data["device"] == SMS_CHOICE:
                result = sms_code_check(holder=holder, purpose=SMS_PURPOSE_OF_OPERATION[operation],
                                        code=form.cleaned_data["code"], ip=client_ip(request))
                ok, error = result.ok, sms_code_message(
                    result, refused=_("The code is not correct or has expired. Ask for a new code by SMS.")
                )
            else:
                device = device_get_for_holder(holder=holder, public_id=form.cleaned_data["device"])
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
