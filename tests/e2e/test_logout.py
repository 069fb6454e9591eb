"""Journey 4: logging out really ends the session, and the session cookie is out of reach of scripts."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from tests.conftest import HOLDER_PASSWORD, OPERATOR_PASSWORD, World
from tests.e2e.conftest import go_back, italian, log_in, log_out, path_of


def _cookie(page: Page, name: str) -> dict | None:
    return next((c for c in page.context.cookies() if c["name"] == name), None)


def test_session_cookie_is_httponly_and_samesite_lax(page: Page, world: World):
    log_in(page, world.alpha.holder.user.username, HOLDER_PASSWORD)
    assert path_of(page) == "/"

    session = _cookie(page, settings.SESSION_COOKIE_NAME)
    assert session is not None, [c["name"] for c in page.context.cookies()]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["path"] == "/"
    assert session["expires"] == -1, "the session cookie must end with the browser (SESSION_EXPIRE_AT_BROWSER_CLOSE)"
    # Scripts in the page cannot read it (nor the CSRF cookie).
    assert settings.SESSION_COOKIE_NAME not in page.evaluate("document.cookie")

    csrf = _cookie(page, settings.CSRF_COOKIE_NAME)
    assert csrf is not None and csrf["httpOnly"] is True and csrf["sameSite"] == "Lax"


def test_logout_ends_the_session_on_the_server(page: Page, world: World):
    holder = world.alpha.holder
    log_in(page, holder.user.username, HOLDER_PASSWORD)
    assert path_of(page) == "/"
    expect(page.get_by_text(holder.codice_fiscale)).to_be_visible()
    stolen = _cookie(page, settings.SESSION_COOKIE_NAME)
    assert stolen is not None

    log_out(page)
    assert path_of(page) == "/accesso/"
    expect(page.locator("main h1")).to_have_text(italian("Remote signature"))
    expect(page.locator(".app-logout-btn")).to_have_count(0)
    assert _cookie(page, settings.SESSION_COOKIE_NAME) is None

    # Opening the profile again asks for a login.
    page.goto("/")
    assert path_of(page) == "/accesso/"

    # The old session id is dead on the server too: replaying the cookie leads to the login page.
    page.context.add_cookies([stolen])
    page.goto("/")
    url = urlsplit(page.url)
    assert url.path == "/accesso/" and parse_qs(url.query).get("next") == ["/"]
    assert holder.codice_fiscale not in page.locator("body").inner_text()


@pytest.mark.parametrize(
    ("portal", "login_path", "home"),
    [("panel", "/accesso/", "/"), ("console", "/operatore/accesso/", "/operatore/")],
)
def test_back_after_logout_lands_on_the_login_page(page: Page, world: World, portal: str, login_path: str, home: str):
    holder = world.alpha.holder
    if portal == "panel":
        log_in(page, holder.user.username, HOLDER_PASSWORD)
    else:
        log_in(page, world.alpha.operator.user.username, OPERATOR_PASSWORD, path=login_path)
    assert path_of(page) == home
    expect(page.locator("body")).to_contain_text(holder.codice_fiscale)

    log_out(page)
    assert path_of(page) == login_path

    from_cache = go_back(page)
    shown = page.locator("body").inner_text()
    assert not from_cache, f"Back after logout restored {page.url} from the back/forward cache"
    assert path_of(page) == login_path, f"Back after logout shows {page.url}"
    assert holder.codice_fiscale not in shown
    expect(page.locator("#id_username")).to_be_visible()
