"""Session lifetime: the idle timeout is the cookie age; this caps the total length of a session."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services.authentication import SESSION_LOGIN_AT_KEY, session_end


class SessionLifetimeMiddleware:
    """Ends sessions older than ``SESSION_ABSOLUTE_LIFETIME_SECONDS`` however active (ASVS 3.3.2)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            started = request.session.get(SESSION_LOGIN_AT_KEY)
            now = int(timezone.now().timestamp())
            if not isinstance(started, int) or now - started > settings.SESSION_ABSOLUTE_LIFETIME_SECONDS:
                session_end(request=request, reason="session_lifetime")
                messages.info(request, _("Your session has expired. Please log in again."))
        return self.get_response(request)
