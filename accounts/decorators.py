"""Who may open which page. The panel is for holders, the console for operators."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import resolve_url

from accounts.models import OperatorRole, User, UserKind
from accounts.selectors import operator_for_user
from accounts.services.second_factor import session_has_second_factor

# A view, typed as it is written: each decorator hands back the view's own type (functools.wraps makes the
# wrapper stand for it), so a view that streams its answer (the audit export) keeps StreamingHttpResponse
# and one that returns an HttpResponse keeps that.
View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def acting_user(request: HttpRequest) -> User:
    """The signed-in user of a page behind one of the decorators below, typed as a `User`.

    `request.user` is typed `User | AnonymousUser`; the decorators guarantee the former, and services
    that act for someone take a `User`. One checked narrowing here instead of a cast at every call:
    an anonymous user never gets this far, but if one did the answer is a refusal, not an error.
    """
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise PermissionDenied
    return user


def _kind_required(kind: str, login_url: str, *, second_factor: bool = False) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            if (
                not user.is_authenticated
                or getattr(user, "kind", None) != kind
                or (second_factor and not session_has_second_factor(request))
            ):
                # Anyone else is sent to this portal's login, as if not logged in at all.
                return redirect_to_login(request.get_full_path(), resolve_url(login_url))
            return view(request, *args, **kwargs)

        return cast(View, wrapper)

    return decorator


holder_required = _kind_required(UserKind.HOLDER, "accounts:login")
# Every member of a registration office, whatever their role, signed in with a second factor: for
# their own pages (security settings) and for reading.
console_member_required = _kind_required(UserKind.OPERATOR, "console:login", second_factor=True)


def operator_required(view: View) -> View:
    """Console pages that act on the organization: auditors may read them, never change anything."""

    @console_member_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method not in ("GET", "HEAD") and operator_for_user(user=request.user).role == OperatorRole.AUDITOR:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return cast(View, wrapper)


def organization_admin_required(view: View) -> View:
    @operator_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if operator_for_user(user=request.user).role != OperatorRole.ORGANIZATION_ADMIN:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return cast(View, wrapper)


def audit_reader_required(view: View) -> View:
    """The organization's audit trail: its administrators and auditors."""

    @console_member_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if operator_for_user(user=request.user).role not in (OperatorRole.ORGANIZATION_ADMIN, OperatorRole.AUDITOR):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return cast(View, wrapper)
