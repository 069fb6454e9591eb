""""Telefono" and "E-mail" of "Gestione utenza": an OTP (step-up), the password, then
the new contact proved by what is sent to it (a signed link, an SMS code)."""

from __future__ import annotations

import time
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods

from accounts.confirmation import user_password_reconfirm
from accounts.decorators import acting_user, holder_required
from accounts.forms import ContactPasswordForm, EmailChangeForm, PhoneChangeForm, PhoneConfirmForm
from accounts.models import Holder
from accounts.selectors import holder_for_user
from accounts.services.contacts import (
    email_change_confirm,
    email_change_request,
    phone_change_confirm,
    phone_change_request,
)
from core.errors import ApplicationError
from core.ratelimit import client_ip, consume_or_429
from otp.stepup import stepup_consume, stepup_required

PHONE_PENDING_KEY = "contacts_phone_pending"
PHONE_PENDING_SECONDS = 600
# Where to go back once the change is confirmed (the renewal wizard's data review sends holders
# here): only a path of this site, kept in the session because the e-mail's link comes back later.
RETURN_KEY = "contacts_return_to"


def _remember_return(request: HttpRequest) -> None:
    target = request.GET.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts=None) and target.startswith("/"):
        request.session[RETURN_KEY] = target


def _return_or_profile(request: HttpRequest) -> HttpResponse:
    target = request.session.pop(RETURN_KEY, None)
    if isinstance(target, str) and url_has_allowed_host_and_scheme(target, allowed_hosts=None):
        return redirect(target)
    return redirect("panel:profile")


def _render(request: HttpRequest, template: str, section: str, status: int = 200, **context: Any) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    return render(request, template, {"holder": holder, "section": section, **context}, status=status)


def _password_ok(request: HttpRequest, holder: Holder, form: ContactPasswordForm, purpose: str) -> bool:
    if user_password_reconfirm(user=acting_user(request), password=form.cleaned_data["current_password"],
                               purpose=purpose, ip=client_ip(request)):
        return True
    form.add_error("current_password", _("The password is not correct."))
    return False


# ------------------------------------------------------------------------------------------ e-mail


@sensitive_post_parameters("current_password")
@holder_required
@stepup_required("change_email")
@require_http_methods(["GET", "POST"])
def email_view(request: HttpRequest) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    form = EmailChangeForm(request.POST if request.method == "POST" else None)
    if request.method != "POST":
        _remember_return(request)
        return _render(request, "panel/email.html", "email", form=form)
    limited = consume_or_429(request, "password_change_user", key=str(request.user.pk))
    if limited is not None:
        return limited
    if form.is_valid() and _password_ok(request, holder, form, "change_email"):
        try:
            new_email = email_change_request(holder=holder, new_email=form.cleaned_data["new_email"],
                                             ip=client_ip(request))
        except ApplicationError as exc:
            form.add_error("new_email", str(exc.message))
        else:
            # One OTP, one request: the link may be opened long after the grant would expire.
            stepup_consume(request=request, operation="change_email")
            return _render(request, "panel/email_confirm_sent.html", "email", new_email=new_email)
    return _render(request, "panel/email.html", "email", status=400, form=form)


@holder_required
@never_cache
@require_http_methods(["GET"])
def email_confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    """The link of the confirmation e-mail; only the holder it was sent for, logged in, can use it."""
    holder = holder_for_user(user=request.user)
    try:
        previous, new = email_change_confirm(
            holder=holder, token=token, actor=acting_user(request), ip=client_ip(request)
        )
    except ApplicationError as exc:
        return _render(request, "panel/email_confirm_error.html", "email", status=400, error=str(exc.message))
    stepup_consume(request=request, operation="change_email")
    messages.success(request, _("Your e-mail address is now %(email)s.") % {"email": new})
    return _return_or_profile(request)


# ------------------------------------------------------------------------------------------- phone


def _pending_mobile(request: HttpRequest) -> str | None:
    pending = request.session.get(PHONE_PENDING_KEY)
    if not isinstance(pending, dict) or not isinstance(pending.get("until"), int) or pending["until"] < time.time():
        return None
    mobile = pending.get("mobile")
    return mobile if isinstance(mobile, str) else None


@sensitive_post_parameters("current_password")
@holder_required
@stepup_required("change_phone")
@require_http_methods(["GET", "POST"])
def phone_view(request: HttpRequest) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    form = PhoneChangeForm(request.POST if request.method == "POST" else None)
    if request.method != "POST":
        _remember_return(request)
        return _render(request, "panel/phone.html", "phone", form=form)
    limited = consume_or_429(request, "password_change_user", key=str(request.user.pk))
    if limited is not None:
        return limited
    if form.is_valid() and _password_ok(request, holder, form, "change_phone"):
        try:
            new_mobile = phone_change_request(holder=holder, new_mobile=form.cleaned_data["new_mobile"],
                                              ip=client_ip(request))
        except ApplicationError as exc:
            form.add_error("new_mobile", str(exc.message))
        else:
            request.session[PHONE_PENDING_KEY] = {
                "mobile": new_mobile, "until": int(time.time()) + PHONE_PENDING_SECONDS
            }
            return redirect("panel:phone_confirm")
    return _render(request, "panel/phone.html", "phone", status=400, form=form)


@sensitive_variables("code")
@sensitive_post_parameters("code")
@holder_required
@stepup_required("change_phone")
@never_cache
@require_http_methods(["GET", "POST"])
def phone_confirm_view(request: HttpRequest) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    new_mobile = _pending_mobile(request)
    if new_mobile is None:
        messages.info(request, _("Enter the new mobile number first."))
        return redirect("panel:phone")
    form = PhoneConfirmForm(request.POST if request.method == "POST" and "resend" not in request.POST else None)
    status, resend_error = 200, ""
    if request.method == "POST":
        limited = consume_or_429(request, "otp_verify_user", key=str(request.user.pk))
        if limited is not None:
            return limited
        if "resend" in request.POST:
            try:
                phone_change_request(holder=holder, new_mobile=new_mobile, ip=client_ip(request))
            except ApplicationError as exc:
                resend_error = str(exc.message)
                status = 400
            else:
                messages.info(request, _("A new code has been sent."))
                return redirect("panel:phone_confirm")
        elif form.is_valid():
            code = form.cleaned_data["code"]
            try:
                phone_change_confirm(holder=holder, new_mobile=new_mobile, code=code, actor=acting_user(request),
                                     ip=client_ip(request))
            except ApplicationError as exc:
                form.add_error("code" if exc.field == "code" else None, str(exc.message))
                status = 400
            else:
                request.session.pop(PHONE_PENDING_KEY, None)
                stepup_consume(request=request, operation="change_phone")
                messages.success(request, _("Your mobile number is now %(mobile)s.") % {"mobile": new_mobile})
                return _return_or_profile(request)
        else:
            status = 400
    return _render(request, "panel/phone_confirm.html", "phone", status=status, form=form, new_mobile=new_mobile,
                   resend_error=resend_error)
