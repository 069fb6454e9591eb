"""Confirmation of sensitive console actions with a fresh second factor, bound to one action.

A console POST that issues, revokes, unlocks, approves… is decorated with
:func:`confirmation_required`. Without a grant for *that* operation the action does not run: the
page asks for a passkey or a code instead, carrying the form's own fields, and submits them again to
the same address together with the factor. A factor accepted there grants the session that one
operation for ``CONFIRMATION_SECONDS``; the grant is spent by the action it allowed (any answer that
redirects, which is how every console action says "done"). A form sent back with an error keeps the
grant, so correcting a field does not ask for a new code. A grant for one operation never allows
another, and a passkey's answer is bound to a challenge issued for that operation only.

A batch approval is one POST, so one confirmation covers the whole batch.

The holder's panel confirms with the password instead (:func:`user_password_reconfirm`), before a
contact or a second factor changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.selectors import operator_for_user
from accounts.services.second_factor import (
    ASSERTION_FIELD,
    CODE_FIELD,
    DEVICE_FIELD,
    FACTOR_FIELD_NAMES,
    challenge_keep,
    factor_check_posted,
    relying_party,
    staff_factors,
)
from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from core.ratelimit import consume_or_429
from otp.webauthn import authentication_options

GRANTS_SESSION_KEY = "console_confirmations"
CONFIRMATION_SECONDS = 300
_OWN_FIELDS = {"csrfmiddlewaretoken", CODE_FIELD, DEVICE_FIELD, ASSERTION_FIELD}

# Every console action that needs a fresh second factor, and how the page names it.
OPERATIONS = {
    "certificate_issue": _("issue a certificate"),
    "certificate_revoke": _("revoke a certificate"),
    "certificate_reactivate": _("reactivate a certificate"),
    "login_unlock": _("unlock a holder's login"),
    "device_unlock": _("unlock an OTP device"),
    "token_assign": _("assign a hardware token"),
    "renewal_approve": _("approve renewal requests"),
    "renewal_reject": _("reject a renewal request"),
    "api_client_create": _("create an API client"),
    "api_client_revoke": _("revoke an API client"),
    "policy_change": _("change the organization's policies"),
    "operator_manage": _("manage operators"),
    "factor_manage": _("change your own second factors"),
}


def confirmation_grant(*, request: HttpRequest, operation: str) -> None:
    if operation not in OPERATIONS:
        raise ValueError(f"unknown console operation {operation!r}")
    grants = dict(request.session.get(GRANTS_SESSION_KEY, {}))
    grants[operation] = int(time.time()) + CONFIRMATION_SECONDS
    request.session[GRANTS_SESSION_KEY] = grants


def confirmation_valid(*, request: HttpRequest, operation: str) -> bool:
    expires = request.session.get(GRANTS_SESSION_KEY, {}).get(operation)
    return isinstance(expires, int) and expires >= time.time()


def confirmation_consume(*, request: HttpRequest, operation: str) -> None:
    grants = dict(request.session.get(GRANTS_SESSION_KEY, {}))
    if grants.pop(operation, None) is not None:
        request.session[GRANTS_SESSION_KEY] = grants


def confirmation_required(
    operation: str, *, consume: bool = True
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Run the decorated POST view only with a fresh second factor for ``operation``.

    Put it under the console's access decorator. ``consume=False`` for the first step of a
    two-step action (the grant is then spent by the step that completes it).
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown console operation {operation!r}")

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method != "POST":
                return view(request, *args, **kwargs)
            if not confirmation_valid(request=request, operation=operation):
                error = ""
                if request.POST.get(CODE_FIELD) or request.POST.get(ASSERTION_FIELD):
                    limited = consume_or_429(request, "otp_verify_user", key=str(request.user.pk))
                    if limited is not None:
                        return limited
                    user = request.user
                    assert isinstance(user, User)  # under the console's access decorator: a signed-in operator
                    result = factor_check_posted(request=request, user=user, purpose=f"confirm:{operation}")
                    if result.ok:
                        confirmation_grant(request=request, operation=operation)
                    else:
                        error = result.message
                if not confirmation_valid(request=request, operation=operation):
                    return _confirmation_page(request, operation, error)
            response = view(request, *args, **kwargs)
            if consume and response.status_code in (301, 302, 303):
                confirmation_consume(request=request, operation=operation)
            return response

        return wrapper

    return decorator


def _confirmation_page(request: HttpRequest, operation: str, error: str) -> HttpResponse:
    """Ask for the factor, carrying the action's own fields to the same address."""
    operator = operator_for_user(user=request.user)
    user = request.user
    assert isinstance(user, User)  # operator_for_user let in signed-in operators only
    factors = staff_factors(user=user)
    options = ""
    if factors.keys:
        options = challenge_keep(
            request=request, purpose=f"confirm:{operation}",
            ceremony=authentication_options(user=user, rp=relying_party(request)),
        )
    carried = [
        (name, value)
        for name, values in request.POST.lists()
        if name not in _OWN_FIELDS
        for value in values
    ]
    return render(
        request,
        "console/confirm.html",
        {
            "operator": operator,
            "organization": operator.organization,
            "operation_text": OPERATIONS[operation],
            "action": request.get_full_path(),
            "carried": carried,
            "factors": factors,
            "webauthn_options": options,
            "error": error,
            **FACTOR_FIELD_NAMES,
        },
        status=400 if error else 403,
    )


def user_password_reconfirm(*, user: User, password: str, purpose: str, ip: str = "") -> bool:
    """The logged-in user types their password again before a sensitive step; a refusal is audited.

    Bounded by the caller's rate limit (per account), not by the login lockout: the session is
    already authenticated, and locking it out here would let anyone with the session lock the owner.
    """
    if user.check_password(password):
        return True
    audit_record(
        event_type=AuditEventType.PANEL_PASSWORD_REENTRY_FAILED,
        outcome=Outcome.FAILURE,
        actor=user,
        organization=user.organization,
        ip=ip,
        details={"purpose": purpose},
    )
    return False
