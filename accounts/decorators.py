"""Who may open which page. The panel is for holders, the console for operators."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url

from accounts.models import OperatorRole, UserKind
from accounts.selectors import operator_for_user

View = Callable[..., HttpResponse]


def _kind_required(kind: str, login_url: str) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated or getattr(user, "kind", None) != kind:
                # Anyone else is sent to this portal's login, as if not logged in at all.
                return redirect_to_login(request.get_full_path(), resolve_url(login_url))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


holder_required = _kind_required(UserKind.HOLDER, "accounts:login")
operator_required = _kind_required(UserKind.OPERATOR, "console:login")


def organization_admin_required(view: View) -> View:
    @operator_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if operator_for_user(user=request.user).role != OperatorRole.ORGANIZATION_ADMIN:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper
