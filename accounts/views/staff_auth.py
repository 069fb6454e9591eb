"""The second step of signing in to the console and to Django admin: a passkey or a code."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts.confirmation import confirmation_required
from accounts.decorators import acting_user, console_member_required
from accounts.forms import EnrolmentPasswordForm
from accounts.models import StaffEnrolment, StaffEnrolmentPurpose, User, UserKind
from accounts.selectors import operator_for_user
from accounts.services.authentication import Portal
from accounts.services.second_factor import (
    CODE_FIELD,
    FACTOR_FIELD_NAMES,
    KEY_REFUSED_MESSAGE,
    challenge_keep,
    challenge_pop,
    enrolled_sign_in,
    factor_check_posted,
    relying_party,
    sign_in_complete,
    sign_in_pending,
    staff_factors,
)
from accounts.services.staff import (
    ENROLMENT_INVALID_MESSAGE,
    enrolment_get,
    enrolment_password,
    enrolment_resume,
    enrolment_use,
    staff_factor_remove,
)
from core.errors import ApplicationError
from core.http import safe_next
from core.ratelimit import client_ip, consume_or_429
from otp.enrolment import staff_app_enrolment_confirm, staff_app_enrolment_start
from otp.qr import qr_svg
from otp.selectors import staff_pending_app
from otp.texts import verify_message
from otp.webauthn import authentication_options, registration_options, security_key_register

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
        result = factor_check_posted(request=request, user=pending.user, purpose=SIGN_IN_PURPOSE)
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
            **FACTOR_FIELD_NAMES,
        },
        status=status,
    )


# --- Enrolment links: the only way to a first factor ----------------------------------------------

ENROLMENT_SESSION_KEY = "staff_enrolment"
ENROLMENT_SESSION_SECONDS = 1800
REGISTER_PURPOSE = "register"


def _enrolment_page(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    return render(request, f"accounts/enrolment/{template}", context, status=status)


@sensitive_post_parameters("password", "password_again")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def enrolment_view(request: HttpRequest, token: str) -> HttpResponse:
    """The link's first step: choose a password (invitation) or type the current one (reset)."""
    enrolment = enrolment_get(token=token)
    if enrolment is None:
        return _enrolment_page(request, "invalid.html", {"message": ENROLMENT_INVALID_MESSAGE}, status=400)
    invitation = enrolment.purpose == StaffEnrolmentPurpose.INVITATION
    form = EnrolmentPasswordForm(request.POST if request.method == "POST" else None, invitation=invitation)
    status = 200
    if request.method == "POST":
        limited = consume_or_429(request, "login_ip")
        if limited is not None:
            return limited
        if form.is_valid():
            try:
                enrolment_password(
                    enrolment=enrolment, password=form.cleaned_data["password"],
                    password_again=form.cleaned_data.get("password_again", ""), ip=client_ip(request),
                )
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc.message))
            except ValidationError as exc:  # the password policy
                form.add_error("password", exc)
            else:
                request.session.flush()  # a clean session for the rest of the enrolment
                request.session[ENROLMENT_SESSION_KEY] = {"id": enrolment.pk, "at": int(time.time())}
                return redirect("console:enrolment_factor")
        status = 400
    return _enrolment_page(
        request, "password.html",
        {"form": form, "invitation": invitation, "username": enrolment.user.username,
         "organization": enrolment.user.organization},
        status=status,
    )


def _enrolment_in_session(request: HttpRequest) -> StaffEnrolment | None:
    kept = request.session.get(ENROLMENT_SESSION_KEY)
    if not isinstance(kept, dict) or not isinstance(kept.get("at"), int):
        return None
    if kept["at"] + ENROLMENT_SESSION_SECONDS < time.time():
        return None
    return enrolment_resume(enrolment_id=kept.get("id"))


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def enrolment_factor_view(request: HttpRequest) -> HttpResponse:
    """The link's second step: register a passkey or an authenticator app; then the person is in."""
    enrolment = _enrolment_in_session(request)
    if enrolment is None:
        return _enrolment_page(request, "invalid.html", {"message": ENROLMENT_INVALID_MESSAGE}, status=400)
    user = enrolment.user
    error = ""
    if request.method == "POST":
        limited = consume_or_429(request, "otp_verify_user", key=str(user.pk))
        if limited is not None:
            return limited
        outcome = _add_factor(request, user, enrolment=enrolment)
        if outcome.done:
            request.session.pop(ENROLMENT_SESSION_KEY, None)
            portal = Portal.ADMIN if user.kind == UserKind.PLATFORM_ADMIN else Portal.CONSOLE
            enrolled_sign_in(request=request, user=user, factor=outcome.factor, portal=portal)
            messages.success(request, _("Your second factor is registered. From now on you sign in with it."))
            return redirect(_HOME[portal])
        error = outcome.error
    return _enrolment_page(request, "factor.html", {**_factor_choices(request, user), "error": error},
                           status=400 if error else 200)


@dataclass(frozen=True)
class _Added:
    done: bool
    factor: str = ""
    error: str = ""


def _add_factor(request: HttpRequest, user: User, *, enrolment: StaffEnrolment | None = None,
                actor: User | None = None) -> _Added:
    """Register the passkey or confirm the pending app the form sent (and spend ``enrolment``)."""
    ip = client_ip(request)
    kind = request.POST.get("kind")
    try:
        with transaction.atomic():
            if kind == "passkey":
                challenge = challenge_pop(request=request, purpose=REGISTER_PURPOSE)
                if challenge is None:
                    return _Added(False, error=str(KEY_REFUSED_MESSAGE))
                security_key_register(
                    user=user, response=str(request.POST.get("answer", "")), challenge=challenge,
                    rp=relying_party(request), name=str(request.POST.get("name", ""))[:64], actor=actor, ip=ip,
                )
                factor = "webauthn"
            elif kind == "app":
                device = staff_pending_app(user=user, public_id=request.session.get(PENDING_APP_SESSION_KEY))
                if device is None:
                    return _Added(False, error=str(_("Scan the QR code again: this enrolment has expired.")))
                result = staff_app_enrolment_confirm(
                    user=user, device=device, code=str(request.POST.get("code", ""))[:16], actor=actor, ip=ip
                )
                if not result.ok:
                    return _Added(False, error=verify_message(result.outcome, result.failures_left, enrolment=True))
                factor = "otp"
            else:
                return _Added(False, error=str(_("Choose a passkey or an authenticator app.")))
            if enrolment is not None:
                enrolment_use(enrolment=enrolment, factor=factor, ip=ip)
    except ApplicationError as exc:
        return _Added(False, error=str(exc.message))
    request.session.pop(PENDING_APP_SESSION_KEY, None)
    return _Added(True, factor=factor)


PENDING_APP_SESSION_KEY = "staff_pending_app"


def _factor_choices(request: HttpRequest, user: User) -> dict:
    """What the enrolment pages show: passkey registration options, and a fresh app QR code."""
    options = challenge_keep(
        request=request, purpose=REGISTER_PURPOSE,
        ceremony=registration_options(user=user, rp=relying_party(request)),
    )
    app = staff_app_enrolment_start(user=user, ip=client_ip(request))
    request.session[PENDING_APP_SESSION_KEY] = str(app.device.public_id)
    return {"webauthn_options": options, "app": app, "qr_svg": qr_svg(app.uri), "username": user.username}


# --- One's own factors ----------------------------------------------------------------------------

@console_member_required
@require_http_methods(["GET"])
def security_view(request: HttpRequest) -> HttpResponse:
    operator = operator_for_user(user=request.user)
    return render(
        request,
        "console/security.html",
        {"operator": operator, "organization": operator.organization, "section": "security",
         "factors": staff_factors(user=acting_user(request))},
    )


@console_member_required
@require_http_methods(["GET", "POST"])
@confirmation_required("factor_manage")
def security_add_view(request: HttpRequest) -> HttpResponse:
    """Add a passkey or an authenticator app (confirmed with a factor one already has)."""
    operator = operator_for_user(user=request.user)
    user = acting_user(request)
    error = ""
    if request.method == "POST" and request.POST.get("kind") in ("passkey", "app"):
        outcome = _add_factor(request, user, actor=user)
        if outcome.done:
            messages.success(request, _("The new second factor is registered."))
            return redirect("console:security")
        error = outcome.error
    return render(
        request,
        "console/security_add.html",
        {"operator": operator, "organization": operator.organization, "section": "security", "error": error,
         **_factor_choices(request, user)},
        status=400 if error else 200,
    )


@console_member_required
@require_POST
@confirmation_required("factor_manage")
def security_remove_view(request: HttpRequest, kind: str, public_id: str) -> HttpResponse:
    user = acting_user(request)
    factors = staff_factors(user=user)
    device = next((d for d in factors.devices if str(d.public_id) == public_id), None) if kind == "codice" else None
    key = next((k for k in factors.keys if str(k.public_id) == public_id), None) if kind == "chiave" else None
    if device is None and key is None:
        raise Http404
    try:
        staff_factor_remove(user=user, device=device, key=key, ip=client_ip(request))
    except ApplicationError as exc:
        messages.error(request, str(exc.message))
        return redirect("console:security")
    messages.success(request, _("The second factor was removed."))
    return redirect("console:security")
