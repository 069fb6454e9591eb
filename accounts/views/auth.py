"""Login, logout and language switch — shared by the panel, the operator console and the admin."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import LanguageForm, LoginForm
from accounts.models import UserKind
from accounts.services.authentication import (
    LoginOutcome,
    Portal,
    login_attempt,
    session_end,
    session_start,
    user_language_set,
)
from accounts.services.second_factor import session_has_second_factor, sign_in_pending_start
from core.errors import ApplicationError
from core.http import safe_next
from core.ratelimit import client_ip, consume_or_429

_HOME = {Portal.PANEL: "panel:profile", Portal.CONSOLE: "console:home", Portal.ADMIN: "admin:index"}
_LOGIN = {Portal.PANEL: "accounts:login", Portal.CONSOLE: "console:login", Portal.ADMIN: "admin:login"}
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
_SameSite = Literal["Lax", "Strict", "None", False] | None
_KIND = {Portal.PANEL: UserKind.HOLDER, Portal.CONSOLE: UserKind.OPERATOR, Portal.ADMIN: UserKind.PLATFORM_ADMIN}


def _set_language_cookie(response: HttpResponse, language: str) -> None:
    """Remember the language for LocaleMiddleware, with the cookie attributes the settings give it."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=LANGUAGE_COOKIE_AGE,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        # The settings module's "Lax" reads as a plain str to mypy; set_cookie takes only Django's values.
        samesite=cast(_SameSite, settings.LANGUAGE_COOKIE_SAMESITE),
    )


def locked_message(locked_until: datetime) -> str:
    local = timezone.localtime(locked_until)
    return _(
        "Too many failed attempts: access is locked until %(time)s on %(date)s. "
        "Try again later or contact your registration office."
    ) % {"time": formats.time_format(local, "H:i"), "date": formats.date_format(local, "SHORT_DATE_FORMAT")}


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest, portal: Portal = Portal.PANEL) -> HttpResponse:
    home = _HOME[portal]
    if (
        request.user.is_authenticated
        and getattr(request.user, "kind", None) == _KIND[portal]
        and (portal == Portal.PANEL or session_has_second_factor(request))
    ):
        return redirect(home)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    form = LoginForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        limited = consume_or_429(request, "login_ip")
        if limited is not None:
            return limited
        if form.is_valid():
            result = login_attempt(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                portal=portal,
                ip=client_ip(request),
            )
            if result.outcome is LoginOutcome.SUCCESS and result.user is not None:
                if portal in (Portal.CONSOLE, Portal.ADMIN):
                    # Trusted roles: the password opens only the second-factor step.
                    sign_in_pending_start(request=request, user=result.user, portal=portal, next_url=next_url)
                    response = redirect("console:second_factor")
                else:
                    session_start(request=request, user=result.user)
                    response = HttpResponseRedirect(safe_next(request, next_url, home))
                _set_language_cookie(response, result.user.preferred_language)
                return response
            if result.outcome is LoginOutcome.LOCKED and result.locked_until is not None:
                form.add_error(None, locked_message(result.locked_until))
            else:
                form.add_error(
                    None,
                    _("Invalid username or password. Attempts left: %(left)d") % {"left": result.attempts_left or 0},
                )
        status = 400
    return render(
        request,
        "accounts/login.html",
        {"form": form, "portal": str(portal), "next": next_url},
        status=status,
    )


def console_login_view(request: HttpRequest) -> HttpResponse:
    return login_view(request, portal=Portal.CONSOLE)


def admin_login_view(request: HttpRequest, extra_context: object = None) -> HttpResponse:
    return login_view(request, portal=Portal.ADMIN)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    kind = getattr(request.user, "kind", None)
    session_end(request=request)
    response = redirect("console:login" if kind == UserKind.OPERATOR else "accounts:login")
    # Drop whatever the browser kept of the private pages (back/forward cache included).
    response["Clear-Site-Data"] = '"cache"'
    return response


@require_POST
def language_view(request: HttpRequest) -> HttpResponse:
    limited = consume_or_429(request, "language_ip")
    if limited is not None:
        return limited
    form = LanguageForm(request.POST)
    codes = {code for code, _name in settings.LANGUAGES}
    if not form.is_valid() or form.cleaned_data["language"] not in codes:
        return HttpResponseBadRequest(
            _("This language is not available. Choose Italiano or English."), content_type="text/plain; charset=utf-8"
        )
    language = form.cleaned_data["language"]
    if request.user.is_authenticated:
        try:
            user_language_set(user=request.user, language=language)
        except ApplicationError as exc:  # pragma: no cover - codes checked above
            return HttpResponseBadRequest(str(exc.message))
    translation.activate(language)
    response = HttpResponseRedirect(safe_next(request, form.cleaned_data.get("next"), "panel:profile"))
    _set_language_cookie(response, language)
    return response
