"""Italian first: every page a person can reach shows no English text of the catalogue (browser locale en-US)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.conftest import HOLDER_PASSWORD, OPERATOR_PASSWORD, World
from tests.e2e.conftest import english_leftovers, log_in

PANEL_PAGES = [
    "/",
    "/utenza/password/",
    "/utenza/telefono/",
    "/utenza/email/",
    "/utenza/codice-utente/",
    "/dispositivi/",
    "/firma/",
    "/firma/storico/",
    "/firma/verifica/",
    "/notifiche/",
]


def _check(page: Page, where: str, leftovers: dict[str, list[str]]) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "it")
    found = english_leftovers(page)
    if found:
        leftovers[where] = found


def test_login_and_error_pages_are_in_italian(page: Page, world: World):
    leftovers: dict[str, list[str]] = {}
    page.goto("/accesso/")
    _check(page, "/accesso/", leftovers)
    log_in(page, world.alpha.holder.user.username, "Password-Sbagliata-99")
    _check(page, "/accesso/ after a wrong password", leftovers)
    page.goto("/operatore/accesso/")
    _check(page, "/operatore/accesso/", leftovers)
    response = page.goto("/questa-pagina-non-esiste/")
    assert response is not None and response.status == 404
    _check(page, "404", leftovers)
    assert not leftovers, f"English on Italian pages: {leftovers}"


def test_every_panel_page_is_in_italian(page: Page, world: World):
    leftovers: dict[str, list[str]] = {}
    log_in(page, world.alpha.holder.user.username, HOLDER_PASSWORD)
    for path in PANEL_PAGES:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        _check(page, path, leftovers)

    # The password form with its error messages: mismatch, then a password the policy refuses.
    page.goto("/utenza/password/")
    for new, confirm, case in (
        ("Nuvola-Bassa-Sopra-Il-Colle-73", "Nuvola-Bassa-Sopra-Il-Colle-74", "mismatch"),
        ("Corta-1", "Corta-1", "too short"),
    ):
        page.fill("#id_current_password", HOLDER_PASSWORD)
        page.fill("#id_new_password", new)
        page.fill("#id_new_password_confirm", confirm)
        with page.expect_navigation():
            page.click("main button.btn-primary")
        expect(page.locator("main .invalid-feedback").first).to_be_visible()
        _check(page, f"/utenza/password/ ({case})", leftovers)
    assert not leftovers, f"English on Italian pages: {leftovers}"


def test_every_console_page_is_in_italian(page: Page, world: World):
    leftovers: dict[str, list[str]] = {}
    log_in(page, world.alpha.operator.user.username, OPERATOR_PASSWORD, path="/operatore/accesso/")
    for path in (
        "/operatore/",
        "/operatore/?q=nessuno",
        f"/operatore/titolari/{world.alpha.holder.pk}/",
        "/operatore/organizzazione/",
    ):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        _check(page, path, leftovers)
    response = page.goto(f"/operatore/titolari/{world.beta.holder.pk}/")
    assert response is not None and response.status == 404
    _check(page, "console 404", leftovers)
    assert not leftovers, f"English on Italian pages: {leftovers}"
