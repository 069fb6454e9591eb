"""Password and username recovery pages, reachable without logging in.

Every page answers the same whatever the data typed: the services do the same work either way
and the pages never say whether an account matched (see ``accounts.services.recovery``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods

from accounts.forms import NewPasswordForm, PasswordRecoveryForm, RecoveryCodeForm, UsernameRecoveryForm
from accounts.services.recovery import (
    password_recovery_code_verify,
    password_recovery_complete,
    password_recovery_link_holder,
    password_recovery_resend,
    password_recovery_start,
    username_recovery_start,
)
from core.errors import ApplicationError
from core.ratelimit import client_ip, consume_or_429
from core.usernames import normalize_username

RECOVERY_SESSION_KEY = "password_recovery"


def _with_captcha_policy(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = settings.CAPTCHA_CONTENT_SECURITY_POLICY
    return response


def _limited(request: HttpRequest, account_key: str) -> HttpResponse | None:
    return consume_or_429(request, "recovery_ip") or consume_or_429(request, "recovery_account", key=account_key)


@sensitive_post_parameters("user_code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def password_recovery_view(request: HttpRequest) -> HttpResponse:
    form = PasswordRecoveryForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        limited = _limited(request, "password:" + normalize_username(request.POST.get("username", "")))
        if limited is not None:
            return limited
        if form.is_valid():
            recovery = password_recovery_start(
                username=form.cleaned_data["username"], user_code=form.cleaned_data["user_code"],
                ip=client_ip(request),
            )
            request.session[RECOVERY_SESSION_KEY] = str(recovery.public_id)
            return redirect("accounts:password_recovery_code")
        status = 400
    return _with_captcha_policy(
        render(request, "accounts/recovery/password_start.html", {"form": form}, status=status)
    )


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def password_recovery_code_view(request: HttpRequest) -> HttpResponse:
    recovery_id = request.session.get(RECOVERY_SESSION_KEY)
    if not isinstance(recovery_id, str):
        return redirect("accounts:password_recovery")
    form = RecoveryCodeForm(request.POST if request.method == "POST" and "resend" not in request.POST else None)
    status = 200
    resent = False
    if request.method == "POST":
        limited = consume_or_429(request, "recovery_code_ip")
        if limited is not None:
            return limited
        if "resend" in request.POST:
            password_recovery_resend(recovery_id=recovery_id, ip=client_ip(request))
            resent = True
        elif form.is_valid():
            try:
                password_recovery_code_verify(recovery_id=recovery_id, code=form.cleaned_data["code"],
                                              ip=client_ip(request))
            except ApplicationError as exc:
                if exc.code == "recovery_spent":
                    request.session.pop(RECOVERY_SESSION_KEY, None)
                form.add_error("code" if exc.field == "code" else None, str(exc.message))
                status = 400
            else:
                request.session.pop(RECOVERY_SESSION_KEY, None)
                return redirect("accounts:password_recovery_email_sent")
        else:
            status = 400
    return render(
        request, "accounts/recovery/password_code.html",
        {"form": form, "resent": resent, "spent": RECOVERY_SESSION_KEY not in request.session}, status=status,
    )


@never_cache
def password_recovery_email_sent_view(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/recovery/password_email_sent.html")


@sensitive_variables("token")
@sensitive_post_parameters("new_password", "new_password_confirm")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def password_recovery_reset_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        holder = password_recovery_link_holder(token=token)
    except ApplicationError as exc:
        return render(request, "accounts/recovery/password_link_error.html", {"error": exc.message}, status=400)
    form = NewPasswordForm(
        request.POST if request.method == "POST" else None, min_length=holder.organization.password_min_length
    )
    status = 200
    if request.method == "POST":
        limited = consume_or_429(request, "recovery_code_ip")
        if limited is not None:
            return limited
        if form.is_valid():
            try:
                password_recovery_complete(token=token, new_password=form.cleaned_data["new_password"],
                                           ip=client_ip(request))
            except ApplicationError as exc:
                return render(
                    request, "accounts/recovery/password_link_error.html", {"error": exc.message}, status=400
                )
            except ValidationError as exc:
                form.add_error("new_password", exc)
            else:
                return redirect("accounts:password_recovery_done")
        status = 400
    return render(request, "accounts/recovery/password_reset.html", {"form": form}, status=status)


@never_cache
def password_recovery_done_view(request: HttpRequest) -> HttpResponse:
    login_then_sync = f"{reverse('accounts:login')}?next={reverse('otp:device_resync')}"
    return render(request, "accounts/recovery/password_done.html", {"login_then_sync": login_then_sync})


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def username_recovery_view(request: HttpRequest) -> HttpResponse:
    form = UsernameRecoveryForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        account = "".join(request.POST.get("codice_fiscale", "").split()).upper()[:16]
        limited = _limited(request, "username:" + account)
        if limited is not None:
            return limited
        if form.is_valid():
            username_recovery_start(
                codice_fiscale=form.cleaned_data["codice_fiscale"], email=form.cleaned_data["email"],
                ip=client_ip(request),
            )
            return redirect("accounts:username_recovery_sent")
        status = 400
    return _with_captcha_policy(
        render(request, "accounts/recovery/username_start.html", {"form": form}, status=status)
    )


@never_cache
def username_recovery_sent_view(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/recovery/username_sent.html")
