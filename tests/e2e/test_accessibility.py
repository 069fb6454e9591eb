"""Journey 5: accessibility basics (WCAG 2.1) on the login, panel and console pages, checked in the browser.

Each page must have: ``<html lang>``; exactly one ``<main>``; a skip link that is the first thing the
Tab key reaches and that leads to ``#main-content``; a ``<label>`` for every visible form field; no
image without ``alt``; headings that start at ``<h1>`` (the first heading of the page is its only h1)
and never skip a level on the way down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import HOLDER_PASSWORD, OPERATOR_PASSWORD, World
from tests.e2e.conftest import italian, log_in

_INSPECT = """() => {
  const shown = (el) => {
    const style = getComputedStyle(el);
    return style.display !== 'none' && style.visibility !== 'hidden' && el.getClientRects().length > 0;
  };
  const fields = [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => !['hidden', 'submit', 'button', 'reset', 'image'].includes(el.type) && shown(el));
  return {
    lang: document.documentElement.getAttribute('lang'),
    mains: document.querySelectorAll('main, [role=main]').length,
    mainId: document.querySelector('main') && document.querySelector('main').id,
    unlabelled: fields
      .filter((el) => ![...el.labels].some((label) => label.textContent.trim() !== ''))
      .map((el) => el.outerHTML),
    imagesWithoutAlt: [...document.querySelectorAll('img, input[type=image]')]
      .filter((img) => !img.hasAttribute('alt'))
      .map((img) => img.outerHTML),
    headings: [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')]
      .filter(shown)
      .map((h) => `h${h.tagName[1]} ${h.textContent.trim().replace(/\\s+/g, ' ')}`),
  };
}"""


@dataclass(frozen=True)
class Visit:
    """How to reach a page: who logs in where, then which URL to open."""

    login_as: str | None  # "holder", "operator", "admin" (organization admin) or None (anonymous)
    url: Callable[[World], str]
    lang: str = "it"


PAGES = {
    "panel-login": Visit(None, lambda w: "/accesso/"),
    "console-login": Visit(None, lambda w: "/operatore/accesso/"),
    "profile": Visit("holder", lambda w: "/"),
    "password-change": Visit("holder", lambda w: "/utenza/password/"),
    "console-home": Visit("operator", lambda w: "/operatore/"),
    "console-holder": Visit("operator", lambda w: f"/operatore/titolari/{w.alpha.holder.pk}/"),
    "notifications": Visit("holder", lambda w: "/notifiche/"),
    "console-messages": Visit("operator", lambda w: "/operatore/messaggi/"),
    "developer-mailbox": Visit(None, lambda w: "/sviluppo/posta/"),
    "console-security": Visit("operator", lambda w: "/operatore/sicurezza/"),
    "console-team": Visit("admin", lambda w: "/operatore/operatori/"),
    "console-invite": Visit("admin", lambda w: "/operatore/operatori/invita/"),
    "console-organization": Visit("admin", lambda w: "/operatore/organizzazione/"),
    "console-audit": Visit("admin", lambda w: "/operatore/registro/"),
}


def _open(page: Page, world: World, visit: Visit) -> None:
    if visit.login_as == "holder":
        log_in(page, world.alpha.holder.user.username, HOLDER_PASSWORD)
    elif visit.login_as == "operator":
        log_in(page, world.alpha.operator.user.username, OPERATOR_PASSWORD, path="/operatore/accesso/")
    elif visit.login_as == "admin":
        log_in(page, world.alpha.admin.user.username, OPERATOR_PASSWORD, path="/operatore/accesso/")
    response = page.goto(visit.url(world))
    assert response is not None and response.status == 200, page.url


def _check_skip_link(page: Page) -> None:
    """From a freshly loaded page, Tab once: the focus is on the skip link; Enter moves it to <main>."""
    page.reload()
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => ({tag: document.activeElement.tagName, href: document.activeElement.getAttribute('href'),"
        " text: document.activeElement.textContent.trim()})"
    )
    assert focused["tag"] == "A" and focused["href"] == "#main-content", f"first Tab stop: {focused}"
    assert focused["text"] == italian("Skip to content")
    skip = page.locator(".skiplinks a")
    box = skip.bounding_box()
    assert box is not None and box["width"] > 10 and box["height"] > 10, "the focused skip link is not visible"
    page.keyboard.press("Enter")
    expect(page.locator("main#main-content")).to_be_focused()


@pytest.mark.parametrize("name", list(PAGES))
def test_page_meets_accessibility_basics(page: Page, world: World, name: str):
    visit = PAGES[name]
    _open(page, world, visit)
    found = page.evaluate(_INSPECT)

    assert found["lang"] == visit.lang
    assert found["mains"] == 1 and found["mainId"] == "main-content"
    assert found["unlabelled"] == [], "form fields without a <label>"
    assert found["imagesWithoutAlt"] == [], "images without alt"
    _check_skip_link(page)


def _heading_problems(headings: list[str]) -> list[str]:
    levels = [int(h[1]) for h in headings]
    problems = []
    if not levels or levels[0] != 1:
        problems.append("the first heading is not an h1")
    if levels.count(1) != 1:
        problems.append(f"{levels.count(1)} h1 elements instead of one")
    for index in range(1, len(levels)):
        if levels[index] > levels[index - 1] + 1:
            problems.append(f"level skipped before {headings[index]!r}")
    return problems


@pytest.mark.parametrize("name", PAGES)
def test_page_headings_start_at_h1(page: Page, world: World, name: str):
    _open(page, world, PAGES[name])
    headings = page.evaluate(_INSPECT)["headings"]
    problems = _heading_problems(headings)
    assert not problems, f"{problems}; headings in document order: {headings}"


def _current_menu_entry(page: Page) -> list[str]:
    return [" ".join(t.split()) for t in page.locator("nav.app-side-menu a[aria-current=page]").all_inner_texts()]


def test_panel_menu_marks_the_current_page(page: Page, world: World):
    log_in(page, world.alpha.holder.user.username, HOLDER_PASSWORD)
    for path, entry in (
        ("/", "Profile information"),
        ("/utenza/password/", "Change password"),
        ("/firma/", "Sign PDF documents"),
    ):
        page.goto(path)
        assert _current_menu_entry(page) == [italian(entry)], path


def test_console_menu_marks_the_current_page(page: Page, world: World):
    log_in(page, world.alpha.operator.user.username, OPERATOR_PASSWORD, path="/operatore/accesso/")
    for path, entry in (
        ("/operatore/", "Holders"),
        (f"/operatore/titolari/{world.alpha.holder.pk}/", "Holders"),
        ("/operatore/organizzazione/", "Organization policies"),
    ):
        page.goto(path)
        assert _current_menu_entry(page) == [italian(entry)], path
