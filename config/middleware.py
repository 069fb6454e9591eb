"""Cross-cutting concerns of every request: response headers and the interface language."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.translation.trans_real import parse_accept_lang_header

logger = logging.getLogger(__name__)


class ContentSecurityPolicyMiddleware:
    """Sends the CSP of ``settings.CONTENT_SECURITY_POLICY`` on every response.

    The panel uses no inline script or style, so the policy can stay ``'self'`` only (ASVS 14.4.3).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


# Paths called by programs (organization systems, CSC clients), not by people in a browser.
API_PATH_PREFIXES = ("/api/", "/csc/", "/oauth2/")


class PortalLanguageMiddleware:
    """Italian unless the person chose otherwise (language cookie, set at login from their preference).

    Replaces Django's LocaleMiddleware on purpose: the service is Italian first, so the browser's
    Accept-Language is not consulted — an Italian holder on an English-language laptop still gets the
    Italian panel, and switching is one click away on every page.

    The APIs are the exception: a program has no cookie and no switch to click, so there the
    Accept-Language header it sends chooses the language of the error messages (Italian otherwise).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.available = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        api = request.path.startswith(API_PATH_PREFIXES)
        if chosen not in self.available and api:
            chosen = self._accepted(request.headers.get("Accept-Language", ""))
        language = chosen if chosen in self.available else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        patch_vary_headers(response, ("Cookie", "Accept-Language") if api else ("Cookie",))
        response.headers.setdefault("Content-Language", translation.get_language())
        return response

    def _accepted(self, header: str) -> str | None:
        """The first of our languages in an Accept-Language header, by its q-values (``en-GB`` → ``en``)."""
        for code, _quality in parse_accept_lang_header(header[:255]):
            base = code.split("-", 1)[0].lower()
            if base in self.available:
                return base
        return None


class PrivatePagesNotCachedMiddleware:
    """Pages seen while logged in are never stored by the browser or a proxy (ASVS 8.2.1).

    Without this, pressing Back after logout shows the profile (codice fiscale, contacts) again
    from the browser's back/forward cache, although the session is gone on the server.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        authenticated = request.user.is_authenticated  # read before the view: logout changes it
        response = self.get_response(request)
        if authenticated:
            add_never_cache_headers(response)
        return response


class KeyVaultUnavailableMiddleware:
    """A key device that cannot be reached is an outage: 503 with Retry-After, never a 500.

    The services let :class:`certificates.vault.VaultUnavailable` through their transactions, so
    nothing was written (no PIN failure counted, no authorization spent); the page says to retry.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from certificates.vault import VaultUnavailable
        from config.errors import outage_response

        if not isinstance(exception, VaultUnavailable):
            return None
        logger.error("key vault unavailable on %s: %s", request.path, exception)
        return outage_response(request, "key_vault")
