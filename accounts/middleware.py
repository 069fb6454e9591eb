"""Session lifetime: the idle timeout (the server-side row's expiry, pushed as the person goes on)
and the cap on the total length of a session."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services.authentication import SESSION_LOGIN_AT_KEY, session_end

# How stale the idle deadline may get before a request pushes it again. Writing the session row on
# every request cost each page a write transaction (on SQLite, one writer at a time for the whole
# server); once a minute keeps the idle timeout within a minute of SESSION_COOKIE_AGE, never past it.
SESSION_REFRESH_INTERVAL = timedelta(seconds=60)


class SessionLifetimeMiddleware:
    """Ends sessions older than ``SESSION_ABSOLUTE_LIFETIME_SECONDS`` however active (ASVS 3.3.2), and
    keeps the idle timeout: a session read from the database whose expiry is more than
    ``SESSION_REFRESH_INTERVAL`` behind "now + SESSION_COOKIE_AGE" is saved again, which moves it.

    Any session still alive after the request, logged in or not (a pending second factor, a
    recovery in progress): they all expire after SESSION_COOKIE_AGE of inactivity.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            started = request.session.get(SESSION_LOGIN_AT_KEY)
            now = int(timezone.now().timestamp())
            if not isinstance(started, int) or now - started > settings.SESSION_ABSOLUTE_LIFETIME_SECONDS:
                session_end(request=request, reason="session_lifetime")
                messages.info(request, _("Your session has expired. Please log in again."))
        response = self.get_response(request)
        session = getattr(request, "session", None)
        loaded_expiry = getattr(session, "loaded_expiry", None)
        if session is not None and loaded_expiry is not None:
            deadline = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)
            if deadline - loaded_expiry >= SESSION_REFRESH_INTERVAL:
                # SessionMiddleware saves a modified, non-empty session (a new expiry) and sends
                # its cookie; a session flushed by a logout is empty and stays gone.
                session.modified = True
        return response
