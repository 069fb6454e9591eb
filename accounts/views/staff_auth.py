"""The second step of signing in to the console and to Django admin: a passkey or a code."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.confirmation import ASSERTION_FIELD, CODE_FIELD, DEVICE_FIELD
from accounts.ratelimit import consume_or_429
from accounts.services.authentication import Portal
from accounts.services.second_factor import (
    challenge_keep,
    factor_check,
    relying_party,
    sign_in_complete,
    sign_in_pending,
    staff_factors,
)
from accounts.views.auth import safe_next
from otp.webauthn import authentication_options

_HOME = {Portal.CONSOLE: "console:home", Portal.ADMIN: "admin:index"}
SIGN_IN_PURPOSE = "sign_in"


@sensitive_post_parameters(CODE_FIELD)
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def second_factor_view(request: HttpRequest) -> HttpResponse:
    pending = sign_in_pending(request=request)
    if pending is None:  # no password step, or it is too old: start from the password
        return redirect("console:login")
    factors = staff_factors(user=pending.user)
    error, status = "", 200
    if request.method == "POST":
        limited = consume_or_429(request, "otp_verify_user", key=str(pending.user.pk))
        if limited is not None:
            return limited
        result = factor_check(
            request=request, user=pending.user, purpose=SIGN_IN_PURPOSE,
            code=str(request.POST.get(CODE_FIELD, ""))[:16],
            device_id=str(request.POST.get(DEVICE_FIELD, ""))[:64],
            assertion=str(request.POST.get(ASSERTION_FIELD, "")),
        )
        if result.ok:
            sign_in_complete(request=request, pending=pending, factor=result.factor)
            return HttpResponseRedirect(safe_next(request, pending.next_url, _HOME[pending.portal]))
        error, status = result.message, 400
    options = ""
    if factors.keys:
        options = challenge_keep(
            request=request, purpose=SIGN_IN_PURPOSE,
            ceremony=authentication_options(user=pending.user, rp=relying_party(request)),
        )
    return render(
        request,
        "accounts/second_factor.html",
        {
            "portal": str(pending.portal),
            "username": pending.user.username,
            "factors": factors,
            "webauthn_options": options,
            "action": request.path,
            "carried": [],
            "error": error,
            "code_field": CODE_FIELD,
            "device_field": DEVICE_FIELD,
            "assertion_field": ASSERTION_FIELD,
        },
        status=status,
    )
