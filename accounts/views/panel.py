"""The holder's own account pages in the panel: password, user code."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.decorators import acting_user, holder_required
from accounts.forms import PasswordChangeForm
from accounts.selectors import holder_for_user
from accounts.services.authentication import user_password_change
from core.errors import ApplicationError
from core.ratelimit import client_ip, consume_or_429


def _render(request: HttpRequest, template: str, section: str, **context: object) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    return render(request, template, {"holder": holder, "section": section, **context})


@sensitive_post_parameters("current_password", "new_password", "new_password_confirm")
@holder_required
@require_http_methods(["GET", "POST"])
def password_change_view(request: HttpRequest) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    form = PasswordChangeForm(
        request.POST if request.method == "POST" else None, min_length=holder.organization.password_min_length
    )
    status = 200
    if request.method == "POST":
        limited = consume_or_429(request, "password_change_user", key=str(request.user.pk))
        if limited is not None:
            return limited
        if form.is_valid():
            try:
                user_password_change(
                    user=acting_user(request),
                    current_password=form.cleaned_data["current_password"],
                    new_password=form.cleaned_data["new_password"],
                    ip=client_ip(request),
                )
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc.message))
            except ValidationError as exc:
                form.add_error("new_password", exc)
            else:
                # Keep this session; every other session of the account is now invalid (ASVS 3.3.3).
                update_session_auth_hash(request, acting_user(request))
                messages.success(request, _("Your password has been changed."))
                return redirect("panel:profile")
        status = 400
    return render(
        request, "panel/password_change.html", {"holder": holder, "section": "password", "form": form}, status=status
    )


@holder_required
def user_code_view(request: HttpRequest) -> HttpResponse:
    return _render(request, "panel/user_code.html", "user_code")
