"""Browser journeys: Playwright (sync API) driving Debian's Chromium against pytest-django's live server.

One Chromium for the whole run; a fresh browser context (cookies, storage, cache) for every page a
test opens, so each journey starts as a new visitor. Every page is watched: a JavaScript error or a
Content-Security-Policy violation fails the test, and a sub-resource (CSS, JS, font, icon sprite)
that does not load fails it too. Console errors and failed requests are collected and printed when
something goes wrong.

The browser locale is en-US on purpose: the panel must still open in Italian (it ignores
Accept-Language and follows only the language the person chose).
"""

from __future__ import annotations

import os

# Playwright's sync API runs an asyncio event loop in the test thread; Django refuses ORM calls from
# a thread with a running loop unless told that this is fine (the calls are really synchronous).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import functools  # noqa: E402
import re  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import polib  # noqa: E402
import pytest  # noqa: E402
from django.utils import translation  # noqa: E402
from playwright.sync_api import (  # noqa: E402
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    WebError,
    expect,
    sync_playwright,
)

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
BROWSER_LOCALE = "en-US"

# Generous enough for a loaded CI machine, short enough that a broken page fails fast.
expect.set_options(timeout=10_000)


# --------------------------------------------------------------------------------------- marking


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test in this folder is an ``e2e`` test (``-m "not e2e"`` skips the browser)."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


# --------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():  # pragma: no cover - environment problem, not a product one
        pytest.fail(f"Chromium not found at {CHROMIUM}: the e2e tests use Debian's Chromium, never a download")
    # Playwright turns Chromium's back/forward cache off by default; real browsers have it on, and it is
    # what the Back button uses after a logout. Keep it on so the journeys see what people see.
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        ignore_default_args=["--disable-back-forward-cache"],
    )
    yield browser
    browser.close()


@dataclass
class BrowserLog:
    """What went wrong in the pages of one test, in the browser's own words."""

    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    broken_subresources: list[str] = field(default_factory=list)

    def fatal(self) -> list[str]:
        return (
            [f"JavaScript error: {e}" for e in self.page_errors]
            + [f"CSP violation: {e}" for e in self.csp_violations]
            + [f"sub-resource failed: {e}" for e in self.broken_subresources]
        )

    def summary(self) -> str:
        lines = []
        for name in ("page_errors", "csp_violations", "console_errors", "failed_requests", "broken_subresources"):
            for entry in getattr(self, name):
                lines.append(f"  [{name}] {entry}")
        return "\n".join(lines) or "  (nothing)"


_INIT_SCRIPT = """
window.addEventListener('pageshow', (event) => { window.__e2eFromBackForwardCache = event.persisted; });
window.addEventListener('pagehide', () => { window.__e2eFromBackForwardCache = undefined; });
document.addEventListener('securitypolicyviolation', (event) => {
  const blocked = event.blockedURI || '(inline)';
  const report = `${event.violatedDirective} blocked ${blocked} on ${document.location.pathname}`;
  if (window.__e2eCspViolation) { window.__e2eCspViolation(report); }
});
"""

_CSP_CONSOLE = re.compile(r"Content Security Policy|Content-Security-Policy", re.IGNORECASE)


def _watch(context: BrowserContext, log: BrowserLog) -> None:
    def on_csp_violation(report: str) -> None:
        log.csp_violations.append(report)

    context.expose_function("__e2eCspViolation", on_csp_violation)
    context.add_init_script(_INIT_SCRIPT)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            text = f"{message.text} ({message.location.get('url', '')})"
            log.console_errors.append(text)
            if _CSP_CONSOLE.search(message.text):
                log.csp_violations.append(text)

    def on_request_failed(request: Request) -> None:
        failure = request.failure or ""
        log.failed_requests.append(f"{request.method} {request.url}: {failure}")
        if "ERR_BLOCKED_BY_CSP" in failure:
            log.csp_violations.append(f"{request.url} blocked ({failure})")

    def on_response(response: Response) -> None:
        # Documents may answer 400/404 on purpose (a wrong password, a page of another tenant);
        # the CSS, scripts, fonts and icons they load must not.
        if response.status >= 400 and response.request.resource_type != "document":
            log.broken_subresources.append(f"{response.status} {response.request.resource_type} {response.url}")

    def on_web_error(error: WebError) -> None:
        page = error.page
        log.page_errors.append(f"{error.error} on {page.url if page else '?'}")

    context.on("console", on_console)
    context.on("weberror", on_web_error)
    context.on("requestfailed", on_request_failed)
    context.on("response", on_response)


@pytest.fixture
def browser_log() -> BrowserLog:
    return BrowserLog()


@pytest.fixture
def open_page(
    browser: Browser, browser_log: BrowserLog, transactional_db: None, live_server, request: pytest.FixtureRequest
) -> Iterator[Callable[[], Page]]:
    """A factory of pages, each in its own browser context: a second person, a second device."""
    contexts: list[BrowserContext] = []

    def make() -> Page:
        context = browser.new_context(viewport=VIEWPORT, locale=BROWSER_LOCALE, base_url=live_server.url)
        context.set_default_timeout(10_000)
        _watch(context, browser_log)
        contexts.append(context)
        return context.new_page()

    yield make

    for context in contexts:
        context.close()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"\nBrowser log of {request.node.name}:\n{browser_log.summary()}")
    problems = browser_log.fatal()
    assert not problems, "the browser reported problems:\n  " + "\n  ".join(problems)


@pytest.fixture
def page(open_page: Callable[[], Page]) -> Page:
    """One visitor: a new context at 1280x900, browser locale en-US."""
    return open_page()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# --------------------------------------------------------------------------------------- helpers


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG in tests/e2e/artifacts/, taken once the web fonts are in (no fallback-font shots)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("async () => { await document.fonts.ready; return document.fonts.status; }")
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(
    page: Page, username: str, password: str, *, path: str = "/accesso/", second_factor: bool = True
) -> Response | None:
    """Fill in and submit a login form (panel by default, ``/operatore/accesso/`` for the console).

    The console then asks for the second factor: typed from the person's test token (see
    ``tests.conftest.staff_code``) unless ``second_factor`` is False.
    """
    if not page.url.split("?")[0].endswith(path):
        page.goto(path)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation() as navigation:
        page.click("main button.btn-primary")
    if second_factor and path_of(page) == "/operatore/accesso/secondo-fattore/":
        return confirm_with_code(page, username)
    return navigation.value


def confirm_with_code(page: Page, username: str) -> Response | None:
    """Answer the second-factor step (sign-in, or a console action's confirmation) with a code."""
    from accounts.models import User
    from tests.conftest import staff_code

    page.fill("#id_confirmation_code", staff_code(User.objects.get(username=username)))
    with page.expect_navigation() as navigation:
        page.locator("#id_confirmation_code").press("Enter")
    return navigation.value


def log_out(page: Page) -> None:
    with page.expect_navigation():
        page.click(".app-logout-btn")


def go_back(page: Page) -> bool:
    """Press the browser's Back button; True when the page came back from the back/forward cache.

    A page restored from that cache fires no ``load`` event, so wait for its ``pageshow`` instead.
    """
    page.go_back(wait_until="commit")
    page.wait_for_function("() => window.__e2eFromBackForwardCache !== undefined")
    return bool(page.evaluate("window.__e2eFromBackForwardCache"))


def switch_language(page: Page, code: str) -> None:
    with page.expect_navigation():
        page.click(f"button[name=language][value={code}]")
    expect(page.locator("html")).to_have_attribute("lang", code)


def italian(message: str) -> str:
    """The Italian catalogue's translation of ``message``; fails if there is none (an English leftover)."""
    with translation.override("it"):
        translated = translation.gettext(message)
    assert translated != message, f"no Italian translation for {message!r} in locale/it/LC_MESSAGES/django.mo"
    return translated


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


# ------------------------------------------------------------------------ English left on Italian pages

CATALOGUE = Path(__file__).resolve().parents[2] / "locale" / "it" / "LC_MESSAGES" / "django.po"
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")

_PAGE_TEXTS = r"""() => {
  const texts = [document.title, document.title.split(' – ').slice(1).join(' – ')];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!['SCRIPT', 'STYLE', 'NOSCRIPT'].includes(node.parentElement.tagName)) { texts.push(node.textContent); }
  }
  for (const el of document.querySelectorAll('[aria-label], [title], [placeholder], [alt]')) {
    for (const name of ['aria-label', 'title', 'placeholder', 'alt']) {
      if (el.hasAttribute(name)) { texts.push(el.getAttribute(name)); }
    }
  }
  return texts.map((t) => t.replace(/\s+/g, ' ').trim()).filter((t) => t !== '');
}"""


@functools.cache
def _english_patterns() -> list[tuple[str, re.Pattern[str]]]:
    """Every English message of the catalogue whose Italian differs, as a pattern matching its rendering.

    Short words must be a whole text ("Search"); sentences may open a text ("Need help? Alfa: …").
    A message the translator deliberately kept identical ("Password", "Codice fiscale") is not English.
    """
    patterns = []
    for entry in polib.pofile(str(CATALOGUE)):
        if entry.obsolete or entry.msgid == "yes,no":
            continue
        if entry.msgid_plural:
            english = [entry.msgid, entry.msgid_plural]
            italian_forms = set(entry.msgstr_plural.values())
        else:
            english, italian_forms = [entry.msgid], {entry.msgstr}
        for message in english:
            if message in italian_forms:
                continue
            pieces = [re.escape(" ".join(piece.split())) for piece in _PLACEHOLDER.split(message)]
            body = ".+?".join(pieces)
            whole_text_only = len(message) < 16 and message[-1].isalnum()
            pattern = rf"{body}$" if whole_text_only else rf"{body}(?:\W|$)"
            patterns.append((message, re.compile(pattern)))
    return patterns


def english_leftovers(page: Page) -> list[str]:
    """English texts of the catalogue shown on the current page (title, text, aria-label/title/alt)."""
    found = []
    for text in page.evaluate(_PAGE_TEXTS):
        for msgid, pattern in _english_patterns():
            if pattern.match(text):
                found.append(f"{text!r} (msgid {msgid!r})")
    return found
