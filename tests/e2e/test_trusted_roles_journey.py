"""Journeys of the trusted roles: an invited operator enrols a passkey (Chromium's virtual
authenticator, driven through the DevTools protocol) and an authenticator app, signs in with each,
and is asked again before issuing a certificate; an organization admin runs the team."""

from __future__ import annotations

import base64
import re
import time

from playwright.sync_api import BrowserContext, Page, expect

from accounts.models import Operator, User
from certificates.models import Certificate
from notifications.models import Message
from otp.models import SecurityKey
from otp.oath import totp
from tests.certificates.conftest import ca_hierarchy, load_hierarchy  # noqa: F401  (fixture)
from tests.conftest import OPERATOR_PASSWORD, World
from tests.e2e.conftest import confirm_with_code, english_leftovers, log_in, log_out, path_of, screenshot

INVITEE_PASSWORD = "Biblioteca-Estense-Del-1598"


def virtual_authenticator(context: BrowserContext, page: Page) -> str:
    """A platform authenticator with user verification, as a laptop's fingerprint reader would be."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True,
    }})
    return added["authenticatorId"]


def app_code(secret: str, *, later: int = 0) -> str:
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return totp(seed, time.time() + later)


def test_an_invited_operator_enrols_a_passkey_and_an_app_signs_in_with_each_and_confirms_issuing(
    open_page, world: World, ca_hierarchy,  # noqa: F811
):
    load_hierarchy(ca_hierarchy)
    admin = open_page()
    log_in(admin, world.alpha.admin.user.username, OPERATOR_PASSWORD, path="/operatore/accesso/")
    assert path_of(admin) == "/operatore/"

    # --- The admin invites a new operator; the invitation asks for the admin's second factor.
    admin.goto("/operatore/operatori/invita/")
    admin.fill("#id_given_name", "Anna")
    admin.fill("#id_surname", "Verdi")
    admin.fill("#id_email", "anna.verdi@alpha.example.org")
    with admin.expect_navigation():
        admin.click("main form button.btn-primary")
    expect(admin.locator("main h1")).to_have_text("Conferma con il secondo fattore")
    assert not Operator.objects.filter(email="anna.verdi@alpha.example.org").exists()
    screenshot(admin, "trusted-confirm-invite.png")
    confirm_with_code(admin, world.alpha.admin.user.username)
    assert path_of(admin) == "/operatore/operatori/"
    expect(admin.locator("main table")).to_contain_text("Anna Verdi")
    screenshot(admin, "trusted-team.png")

    # --- The invitee opens the link of the e-mail, chooses a password and registers a passkey.
    mail = Message.objects.get(message_type="staff_invitation", recipient="anna.verdi@alpha.example.org")
    link = re.search(r"https?://\S+?(/operatore/attivazione/[\w-]+/)", mail.body_text).group(1)
    invitee = open_page()
    virtual_authenticator(invitee.context, invitee)
    invitee.goto(link)
    invitee.fill("#id_password", INVITEE_PASSWORD)
    invitee.fill("#id_password_again", INVITEE_PASSWORD)
    with invitee.expect_navigation():
        invitee.click("main form button.btn-primary")
    assert path_of(invitee) == "/operatore/attivazione/fattore/"
    assert english_leftovers(invitee) == []
    screenshot(invitee, "trusted-enrol-factor.png")
    invitee.fill("#id_key_name", "Portatile")
    with invitee.expect_navigation():
        invitee.click("[data-webauthn-start]")
    assert path_of(invitee) == "/operatore/"
    user = User.objects.get(username="anna.verdi@alpha.example.org")
    assert SecurityKey.objects.get(user=user).name == "Portatile"
    assert Client_reuse_refused(invitee, link)

    # --- A second factor: the authenticator app, after confirming with the passkey.
    invitee.goto("/operatore/sicurezza/")
    with invitee.expect_navigation():
        invitee.click("main form button.btn-primary")
    expect(invitee.locator("main h1")).to_have_text("Conferma con il secondo fattore")
    with invitee.expect_navigation():
        invitee.click("[data-webauthn-start]")
    secret = re.sub(r"\s", "", invitee.get_by_test_id("enrolment-secret").inner_text())
    invitee.fill("#id_app_code", app_code(secret))
    with invitee.expect_navigation():
        invitee.click("main form button.btn-outline-primary")
    assert path_of(invitee) == "/operatore/sicurezza/"
    expect(invitee.locator("main table tbody tr")).to_have_count(2)
    screenshot(invitee, "trusted-security.png")

    # --- Signing in with each factor.
    log_out(invitee)
    log_in(invitee, user.username, INVITEE_PASSWORD, path="/operatore/accesso/", second_factor=False)
    assert path_of(invitee) == "/operatore/accesso/secondo-fattore/"
    screenshot(invitee, "trusted-second-factor.png")
    with invitee.expect_navigation():
        invitee.click("[data-webauthn-start]")
    assert path_of(invitee) == "/operatore/"
    log_out(invitee)
    log_in(invitee, user.username, INVITEE_PASSWORD, path="/operatore/accesso/", second_factor=False)
    invitee.fill("#id_confirmation_code", app_code(secret, later=30))  # the next step: never a replay
    with invitee.expect_navigation():
        invitee.locator("#id_confirmation_code").press("Enter")
    assert path_of(invitee) == "/operatore/"

    # --- Issuing a certificate is asked again; without the factor nothing is issued.
    holder = world.alpha.holders[1]
    invitee.goto(f"/operatore/titolari/{holder.pk}/")
    before = Certificate.objects.filter(holder=holder).count()
    issue_form = invitee.get_by_test_id("certificate-issue-form")
    radio = issue_form.locator("input[name=issue-otp_choice][value=sms]")
    issue_form.locator(f"label[for={radio.get_attribute('id')}]").click()
    with invitee.expect_navigation():
        issue_form.locator("button.btn-primary").click()
    expect(invitee.locator("main h1")).to_have_text("Conferma con il secondo fattore")
    assert Certificate.objects.filter(holder=holder).count() == before
    screenshot(invitee, "trusted-confirm-issue.png")
    with invitee.expect_navigation():
        invitee.click("[data-webauthn-start]")
    assert Certificate.objects.filter(holder=holder).count() == before + 1


def Client_reuse_refused(page: Page, link: str) -> bool:  # noqa: N802
    """The invitation link, opened again in another tab, is not valid any more."""
    other = page.context.new_page()
    response = other.goto(link)
    refused = response is not None and response.status == 400
    other.close()
    return refused


def test_an_admin_deactivates_and_resets_an_operator_and_changes_a_policy_within_bounds(page: Page, world: World):
    admin, operator = world.alpha.admin, world.alpha.operator
    log_in(page, admin.user.username, OPERATOR_PASSWORD, path="/operatore/accesso/")

    # --- Deactivate: the operator's sessions end and the password no longer opens anything.
    page.goto("/operatore/operatori/")
    with page.expect_navigation():
        page.locator("main table").get_by_role("link", name=operator.full_name).click()
    assert path_of(page) == f"/operatore/operatori/{operator.pk}/"
    screenshot(page, "trusted-team-member.png")
    with page.expect_navigation():
        page.get_by_role("button", name="Disattiva").click()
    confirm_with_code(page, admin.user.username)
    expect(page.locator(".app-messages .alert-success, main .alert-success")).to_contain_text("disattivata")
    assert not User.objects.get(pk=operator.user_id).is_active

    # --- Reactivate, then reset the second factor: a link is e-mailed, the old token retired.
    with page.expect_navigation():
        page.get_by_role("button", name="Riattiva").click()
    confirm_with_code(page, admin.user.username)
    assert User.objects.get(pk=operator.user_id).is_active
    with page.expect_navigation():
        page.get_by_role("button", name="Azzera il secondo fattore").click()
    confirm_with_code(page, admin.user.username)
    assert Message.objects.filter(message_type="staff_factor_reset", recipient=operator.email).count() == 1
    assert not operator.user.staff_otp_devices.filter(state="active").exists()

    # --- The last admin cannot be deactivated: the page of the admin's own account offers nothing.
    page.goto(f"/operatore/operatori/{admin.pk}/")
    expect(page.get_by_role("button", name="Disattiva")).to_have_count(0)

    # --- A policy within the platform's bounds is saved; one outside them is refused, nothing saved.
    page.goto("/operatore/organizzazione/")
    form = page.get_by_test_id("policies-form")
    form.locator("#id_certificate_validity_months").fill("99")
    with page.expect_navigation():
        form.locator("button.btn-primary").click()
    confirm_with_code(page, admin.user.username)
    expect(page.get_by_test_id("policies-form-error")).to_be_visible()
    world.alpha.organization.refresh_from_db()
    assert world.alpha.organization.certificate_validity_months == 36
    screenshot(page, "trusted-policy-refused.png")
    page.get_by_test_id("policies-form").locator("#id_certificate_validity_months").fill("24")
    with page.expect_navigation():
        page.get_by_test_id("policies-form").locator("button.btn-primary").click()
    world.alpha.organization.refresh_from_db()
    assert world.alpha.organization.certificate_validity_months == 24  # the grant outlived the form error
    expect(page.locator("main")).to_contain_text("36 → 24")
    assert english_leftovers(page) == []
    screenshot(page, "trusted-policy-saved.png")
