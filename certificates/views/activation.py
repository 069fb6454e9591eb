"""The holder's activation pages, reachable without logging in.

The link is opened once: its activation's id goes into the session and the browser is sent to
``/attivazione/``, which shows the step the activation row is at (see
``certificates.services.activation`` for the steps and their order). The token never stays in the
address bar, and every step re-reads the row, so the state lives on the server, bound to the link.
"""

from __future__ import annotations

import time

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods

from accounts.forms import NewPasswordForm
from accounts.services.authentication import session_end, session_start
from certificates.forms import PinForm, TemporaryPasswordForm
from certificates.models import Activation, ActivationState, OtpChoice
from certificates.services.activation import (
    activation_app_confirm,
    activation_app_start,
    activation_by_link,
    activation_complete,
    activation_device,
    activation_device_verify,
    activation_get,
    activation_password_check,
    activation_password_choose,
    activation_sms_confirm,
    activation_sms_send,
)
from core.errors import ApplicationError
from core.ratelimit import client_ip, consume_or_429
from otp.forms import AppConfirmForm, DeviceTestForm, SmsEnrolmentCodeForm
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.qr import qr_svg
from otp.texts import sms_code_message, verify_message

SESSION_KEY = "certificate_activation"
APP_PENDING_KEY = "certificate_activation_app"
SMS_SENT_KEY = "certificate_activation_sms"
APP_ENROLMENT_SECONDS = 600

_STEP_TEMPLATES = {
    ActivationState.SENT: "activation/temporary_password.html",
    ActivationState.PASSWORD_CHECKED: "activation/new_password.html",
    ActivationState.PASSWORD_CHOSEN: "activation/device.html",
    ActivationState.DEVICE_READY: "activation/pin.html",
}
_STEP_NUMBER = {
    ActivationState.SENT: 1, ActivationState.PASSWORD_CHECKED: 2, ActivationState.PASSWORD_CHOSEN: 3,
    ActivationState.DEVICE_READY: 4,
}


def _error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    return render(request, "activation/link_error.html", {"error": exc.message}, status=400)


def _limited(request: HttpRequest, activation: Activation) -> HttpResponse | None:
    return consume_or_429(request, "activation_ip") or consume_or_429(
        request, "activation_link", key=str(activation.public_id)
    )


@sensitive_variables("token")
@never_cache
@require_http_methods(["GET"])
def activation_start_view(request: HttpRequest, token: str) -> HttpResponse:
    limited = consume_or_429(request, "activation_ip")
    if limited is not None:
        return limited
    try:
        activation = activation_by_link(token=token)
    except ApplicationError as exc:
        return _error(request, exc)
    if request.user.is_authenticated:
        # Someone else's session in this browser must not carry over into the activation.
        session_end(request=request, reason="activation")
    request.session.cycle_key()
    request.session[SESSION_KEY] = str(activation.public_id)
    return redirect("activation:step")


@sensitive_post_parameters("temporary_password", "new_password", "new_password_confirm", "code", "pin", "pin_confirm")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def activation_step_view(request: HttpRequest) -> HttpResponse:
    public_id = request.session.get(SESSION_KEY)
    if not isinstance(public_id, str):
        return render(request, "activation/link_error.html", {"error": None}, status=400)
    try:
        activation = activation_get(public_id=public_id)
    except ApplicationError as exc:
        return _error(request, exc)
    if request.method == "POST":
        limited = _limited(request, activation)
        if limited is not None:
            return limited
    handler = {
        ActivationState.SENT: _temporary_password_step,
        ActivationState.PASSWORD_CHECKED: _new_password_step,
        ActivationState.PASSWORD_CHOSEN: _device_step,
        ActivationState.DEVICE_READY: _pin_step,
    }[ActivationState(activation.state)]
    try:
        return handler(request, activation)
    except ApplicationError as exc:
        if exc.code.startswith("activation_") and exc.code != "activation_step":
            return _error(request, exc)
        if exc.code == "activation_step":
            return redirect("activation:step")
        # Any other refusal (a device kind the organization stopped using…): said, and the link kept.
        return render(request, "activation/link_error.html", {"error": exc.message}, status=400)


def _render(request: HttpRequest, activation: Activation, context: dict[str, object], status: int = 200,
            state: str | None = None) -> HttpResponse:
    state = state or activation.state
    return render(
        request, _STEP_TEMPLATES[ActivationState(state)],
        {"activation": activation, "holder": activation.holder, "organization": activation.organization,
         "step": _STEP_NUMBER[ActivationState(state)], "steps": 4, **context},
        status=status,
    )


def _temporary_password_step(request: HttpRequest, activation: Activation) -> HttpResponse:
    form = TemporaryPasswordForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid():
            try:
                activation_password_check(activation=activation,
                                          temporary_password=form.cleaned_data["temporary_password"],
                                          ip=client_ip(request))
            except ApplicationError as exc:
                if exc.code == "activation_spent":
                    raise
                form.add_error("temporary_password", str(exc.message))
            else:
                return redirect("activation:step")
        return _render(request, activation, {"form": form}, 400)
    return _render(request, activation, {"form": form})


def _new_password_step(request: HttpRequest, activation: Activation) -> HttpResponse:
    form = NewPasswordForm(request.POST if request.method == "POST" else None,
                           min_length=activation.organization.password_min_length)
    if request.method == "POST":
        if form.is_valid():
            try:
                activation_password_choose(activation=activation, new_password=form.cleaned_data["new_password"],
                                           ip=client_ip(request))
            except ValidationError as exc:
                form.add_error("new_password", exc)
            except ApplicationError as exc:
                if exc.field != "new_password":
                    raise
                form.add_error("new_password", str(exc.message))
            else:
                return redirect("activation:step")
        return _render(request, activation, {"form": form}, 400)
    return _render(request, activation, {"form": form})


def _device_step(request: HttpRequest, activation: Activation) -> HttpResponse:
    device = activation_device(activation=activation)
    choice = activation.otp_choice
    if choice == OtpChoice.SMS:
        return _sms_step(request, activation, device)
    if choice == OtpChoice.APP and device is None:
        return _app_step(request, activation)
    # A hardware token (assigned at the counter), or an app enrolled before: one code from it.
    form = DeviceTestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid():
            result = activation_device_verify(activation=activation, code=form.cleaned_data["code"],
                                              ip=client_ip(request))
            if result.ok:
                return redirect("activation:step")
            form.add_error("code", verify_message(result.outcome, result.failures_left))
        return _render(request, activation, {"form": form, "mode": "code", "device": device}, 400)
    return _render(request, activation, {"form": form, "mode": "code", "device": device})


def _app_step(request: HttpRequest, activation: Activation) -> HttpResponse:
    pending = request.session.get(APP_PENDING_KEY)
    if request.method == "POST":
        form = AppConfirmForm(request.POST)
        device = None
        if (
            isinstance(pending, dict) and isinstance(pending.get("device"), str)
            and isinstance(pending.get("until"), int) and pending["until"] >= time.time()
        ):
            device = OtpDevice.objects.filter(
                public_id=pending["device"], holder=activation.holder, kind=DeviceKind.APP_TOTP,
                state=DeviceState.PENDING,
            ).first()
        if device is None:
            return redirect("activation:step")  # timed out or started over elsewhere: a new QR code
        if form.is_valid():
            result = activation_app_confirm(activation=activation, device=device, code=form.cleaned_data["code"],
                                            ip=client_ip(request))
            if result.ok:
                request.session.pop(APP_PENDING_KEY, None)
                return redirect("activation:step")
            form.add_error("code", verify_message(result.outcome, result.failures_left, enrolment=True))
        return _render(request, activation, {"form": form, "mode": "app_confirm"}, 400)
    enrolment = activation_app_start(activation=activation, ip=client_ip(request))
    request.session[APP_PENDING_KEY] = {"device": str(enrolment.device.public_id),
                                        "until": int(time.time()) + APP_ENROLMENT_SECONDS}
    return _render(request, activation, {"form": AppConfirmForm(), "mode": "app", "enrolment": enrolment,
                                         "qr_svg": qr_svg(enrolment.uri)})


def _sms_step(request: HttpRequest, activation: Activation, device: OtpDevice | None) -> HttpResponse:
    form = SmsEnrolmentCodeForm(request.POST if "confirm" in request.POST else None)
    context: dict[str, object] = {"mode": "sms", "form": form,
                                  "sms_sent": request.session.get(SMS_SENT_KEY) == str(activation.public_id)}
    status = 200
    if request.method == "POST":
        status = 400
        if "send" in request.POST:
            try:
                activation_sms_send(activation=activation, ip=client_ip(request))
            except ApplicationError as exc:
                if exc.code.startswith("activation_"):
                    raise
                context["send_error"] = exc.message
            else:
                request.session[SMS_SENT_KEY] = str(activation.public_id)
                return redirect("activation:step")
        elif form.is_valid():
            result = activation_sms_confirm(activation=activation, code=form.cleaned_data["code"],
                                            ip=client_ip(request))
            if result.ok:
                request.session.pop(SMS_SENT_KEY, None)
                return redirect("activation:step")
            form.add_error("code", sms_code_message(
                result, refused=_("The code is not correct or has expired. Ask for a new code.")
            ))
    return _render(request, activation, context, status)


def _pin_step(request: HttpRequest, activation: Activation) -> HttpResponse:
    form = PinForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid():
            try:
                holder = activation_complete(activation=activation, pin=form.cleaned_data["pin"],
                                             ip=client_ip(request))
            except ApplicationError as exc:
                if exc.code.startswith("activation_"):
                    raise
                form.add_error("pin" if exc.field == "pin" else None, str(exc.message))
            else:
                request.session.pop(SESSION_KEY, None)
                session_start(request=request, user=holder.user)
                messages.success(request, _("Your certificate is active. You can now sign with your PIN and an OTP "
                                            "code."))
                return redirect("panel:profile")
        return _render(request, activation, {"form": form}, 400)
    return _render(request, activation, {"form": form})
