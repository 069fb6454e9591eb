"""Journey 1: a holder logs in, reads the profile in Italian, switches to English and changes the password."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.conftest import HOLDER_PASSWORD, World
from tests.e2e.conftest import italian, log_in, log_out, path_of, screenshot, switch_language

NEW_PASSWORD = "Nuvola-Bassa-Sopra-Il-Colle-73"

# The panel menu as the Italian UI must show it (headings and links of the side menu).
ITALIAN_MENU = [
    "Gestione utenza",
    "Informazioni profilo",
    "Cambio password",
    "Telefono",
    "Email",
    "Codice utente",
    "Gestione dispositivi",
    "Firma",
    "Notifiche",
]


def _menu_texts(page: Page) -> list[str]:
    entries = page.locator("nav.app-side-menu").locator(".app-menu-heading, a").all_inner_texts()
    return [" ".join(text.split()) for text in entries]


def test_holder_logs_in_reads_profile_in_italian_switches_to_english_and_changes_password(page: Page, world: World):
    holder = world.alpha.holder
    username = holder.user.username

    # Italian although the browser asks for en-US.
    response = page.goto("/accesso/")
    assert response is not None and response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", "it")

    # A wrong password: refused, with the attempts left under alpha's policy (5 failures).
    response = log_in(page, username, "Password-Sbagliata-99")
    assert response is not None and response.status == 400
    assert path_of(page) == "/accesso/"
    expect(page.locator("main .alert-danger")).to_have_text("Nome utente o password non validi. Tentativi rimasti: 4")
    expect(page.locator("#id_username")).to_have_value(username)
    expect(page.locator("#id_password")).to_have_value("")
    screenshot(page, "login-error.png")

    # The right password: the profile, in Italian, with the holder's own data.
    log_in(page, username, HOLDER_PASSWORD)
    assert path_of(page) == "/"
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(page.locator("main h1")).to_have_text("Informazioni profilo")
    main = page.locator("main")
    for value in (
        holder.given_name,
        holder.surname,
        holder.codice_fiscale,
        holder.email,
        holder.mobile,
        holder.role_organization,
        holder.role_title,
    ):
        expect(main).to_contain_text(value)
    expect(main).to_contain_text(italian("Role data"))
    expect(page.get_by_test_id("certificate-state")).to_have_text(italian("No certificate issued yet"))
    expect(page.locator(".app-username")).to_contain_text(username)
    menu = _menu_texts(page)
    missing = [label for label in ITALIAN_MENU if label not in menu]
    assert not missing, f"Italian menu entries missing: {missing}; the menu shows {menu}"
    expect(page.locator("nav.app-side-menu a[aria-current=page]")).to_have_text("Informazioni profilo")
    screenshot(page, "profile-it.png")

    # English, one click away; the page stays where it was.
    switch_language(page, "en")
    assert path_of(page) == "/"
    expect(page.locator("main h1")).to_have_text("Profile information")
    expect(page.get_by_test_id("certificate-state")).to_have_text("No certificate issued yet")
    expect(page.locator("button[name=language][value=en]")).to_have_attribute("aria-current", "true")
    assert "Account management" in _menu_texts(page)
    screenshot(page, "profile-en.png")

    # Change the password from the menu: first a new password the policy refuses…
    with page.expect_navigation():
        page.locator("nav.app-side-menu").get_by_role("link", name="Change password").click()
    assert path_of(page) == "/utenza/password/"
    expect(page.locator("main h1")).to_have_text("Change password")
    expect(page.locator("main")).to_contain_text("at least 12 characters")
    page.fill("#id_current_password", HOLDER_PASSWORD)
    page.fill("#id_new_password", "Corta-1")
    page.fill("#id_new_password_confirm", "Corta-1")
    with page.expect_navigation() as navigation:
        page.click("main button.btn-primary")
    assert navigation.value is not None and navigation.value.status == 400
    expect(page.locator("#id_new_password_error")).to_be_visible()
    expect(page.locator("#id_new_password")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "password-change.png")

    # …then one it accepts.
    page.fill("#id_current_password", HOLDER_PASSWORD)
    page.fill("#id_new_password", NEW_PASSWORD)
    page.fill("#id_new_password_confirm", NEW_PASSWORD)
    with page.expect_navigation():
        page.click("main button.btn-primary")
    assert path_of(page) == "/"
    expect(page.locator("main .alert-success")).to_have_text("Your password has been changed.")

    # This session survived the change; now log out.
    log_out(page)
    assert path_of(page) == "/accesso/"
    expect(page.locator("html")).to_have_attribute("lang", "en")

    # The old password no longer works (a failure like any other: 4 attempts left again).
    response = log_in(page, username, HOLDER_PASSWORD)
    assert response is not None and response.status == 400
    expect(page.locator("main .alert-danger")).to_have_text("Invalid username or password. Attempts left: 4")

    # A fresh browser (no language cookie) opens in Italian; after login the stored choice wins.
    page.context.clear_cookies()
    page.goto("/accesso/")
    expect(page.locator("html")).to_have_attribute("lang", "it")
    log_in(page, username, NEW_PASSWORD)
    assert path_of(page) == "/"
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("main h1")).to_have_text("Profile information")
