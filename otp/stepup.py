"""Step-up: a fresh OTP before a sensitive operation, valid for that operation only.

A successful code grants the logged-in session one operation for ``STEPUP_VALIDITY_SECONDS``;
the view that performs the operation consumes the grant, so one code never authorizes two
operations, nor another kind of operation than the one it was asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

STEPUP_SESSION_KEY = "otp_stepup"
STEPUP_VALIDITY_SECONDS = 300

# Every operation that needs a step-up, and how the page names it.
OPERATIONS = {
    "change_email": _("change your e-mail address"),
    "change_phone": _("change your mobile number"),
    "device_change": _("change an OTP device"),
    "certificate_suspend": _("suspend your certificate"),
    "certificate_reactivate": _("reactivate your certificate"),
    "certificate_revoke": _("revoke your certificate"),
    "pin_change": _("change your signing PIN"),
    "sign": _("sign documents"),
    "change_residence": _("change your residence address"),
    "renewal_activate": _("activate your renewed certificate"),
}

# The SMS code purpose of each operation (otp.sms_codes): a code sent to confirm "revoke" confirms
# nothing else.
SMS_PURPOSE_OF_OPERATION = {
    "change_email": "change_email",
    "change_phone": "change_phone",
    "device_change": "device_change",
    "certificate_suspend": "suspend",
    "certificate_reactivate": "reactivate",
    "certificate_revoke": "revoke",
    "pin_change": "pin_change",
    "sign": "sign",
    "change_residence": "change_residence",
    "renewal_activate": "activation",
}


def stepup_grant(*, request: HttpRequest, operation: str) -> None:
    if operation not in OPERATIONS:
        raise ValueError(f"unknown step-up operation {operation!r}")
    grants = dict(request.session.get(STEPUP_SESSION_KEY, {}))
    grants[operation] = int(time.time()) + STEPUP_VALIDITY_SECONDS
    request.session[STEPUP_SESSION_KEY] = grants


def stepup_valid(*, request: HttpRequest, operation: str) -> bool:
    expires = request.session.get(STEPUP_SESSION_KEY, {}).get(operation)
    return isinstance(expires, int) and expires >= time.time()


def stepup_consume(*, request: HttpRequest, operation: str) -> bool:
    """Use the grant (once); ``False`` if there was none or it expired."""
    valid = stepup_valid(request=request, operation=operation)
    grants = dict(request.session.get(STEPUP_SESSION_KEY, {}))
    if grants.pop(operation, None) is not None:
        request.session[STEPUP_SESSION_KEY] = grants
    return valid


def stepup_required(operation: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Send the holder to the OTP page first unless this session holds a grant for ``operation``.

    Put it under ``holder_required``; the view calls :func:`stepup_consume` once the operation is done.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown step-up operation {operation!r}")

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not stepup_valid(request=request, operation=operation):
                query = urlencode({"operation": operation, "next": request.get_full_path()})
                return HttpResponseRedirect(f"{reverse('otp:stepup')}?{query}")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
