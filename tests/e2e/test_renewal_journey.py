"""Journeys of a renewal, in Chromium: Laura renews (data review, the renewal form downloaded and read,
consents, the form signed with PIN + token code), the university's operator approves from the queue,
Laura activates the new certificate with a new PIN and signs with it, and OpenSSL's OCSP client reads
the old serial as revoked (superseded) and the new one as good. At an organization that renews
automatically the holder goes straight to activation; a rejection's reason reaches the holder's
*Notifiche*.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from playwright.sync_api import Page, expect

from certificates.models import AuthorityRole, CertificateState
from otp.models import DeviceKind
from otp.oath import hotp
from otp.services import device_create
from renewal.models import RenewalRequest, RenewalState
from signing.exam_records import exam_records_write
from tests.certificates.conftest import PIN, active, ca, ca_hierarchy, openssl, write_pem  # noqa: F401
from tests.conftest import HOLDER_PASSWORD, OPERATOR_PASSWORD, World
from tests.e2e.conftest import confirm_with_code, english_leftovers, log_in, path_of, screenshot

SEED = bytes.fromhex("3132333435363738393031323334353637383930")
NEW_PIN = "Rinnovo-2026x"


class Token:
    """Laura's hardware token: each press gives the next HOTP code."""

    def __init__(self, holder, serial: str) -> None:  # noqa: ANN001
        self.device = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, holder=holder, serial=serial)
        self.counter = 0

    def press(self) -> str:
        code = hotp(SEED, self.counter)
        self.counter += 1
        return code


def _ready_to_renew(world: World, holder, *, window_days: int = 2000):  # noqa: ANN001
    organization = holder.organization
    organization.renewal_window_days = window_days
    organization.save(update_fields=["renewal_window_days"])
    certificate = active(holder)
    return certificate, Token(holder, serial=f"40000000{holder.pk:05d}")


def _sign_the_form(page: Page, token: Token, tmp_path: Path) -> RenewalRequest:
    """From the profile to the outcome page: the holder's part of a renewal."""
    with page.expect_navigation():
        page.get_by_test_id("renew-link").click()
    assert path_of(page) == "/rinnovo/"
    with page.expect_navigation():
        page.get_by_test_id("renewal-start").click()
    request = RenewalRequest.objects.get(state=RenewalState.DRAFT)
    assert path_of(page) == f"/rinnovo/{request.pk}/dati/"
    assert english_leftovers(page) == []
    screenshot(page, f"renewal-1-data-{request.holder.user.username}.png")
    with page.expect_navigation():
        page.get_by_test_id("data-confirm").click()
    assert path_of(page) == f"/rinnovo/{request.pk}/consensi/"

    with page.expect_download() as download_info:
        page.get_by_test_id("form-download").click()
    form_path = tmp_path / "modulo.pdf"
    download_info.value.save_as(form_path)
    text = " ".join(subprocess.run(["pdftotext", str(form_path), "-"], capture_output=True, check=True,
                                   text=True).stdout.split())
    holder, certificate = request.holder, request.old_certificate
    assert holder.full_name in text and holder.codice_fiscale in text and certificate.iut in text, text

    page.locator("label[for=id_data_still_valid]").click()
    page.locator("label[for=id_conditions_accepted]").click()
    assert english_leftovers(page) == []
    screenshot(page, f"renewal-2-consents-{holder.user.username}.png")
    with page.expect_navigation():
        page.get_by_test_id("consents-confirm").click()
    assert path_of(page) == f"/rinnovo/{request.pk}/firma/"
    page.fill("#id_pin", PIN)
    page.select_option("#id_device", str(token.device.public_id))
    page.fill("#id_code", token.press())
    screenshot(page, f"renewal-3-sign-{holder.user.username}.png")
    with page.expect_navigation():
        page.get_by_test_id("renewal-sign").click()
    assert path_of(page) == f"/rinnovo/{request.pk}/esito/"
    request.refresh_from_db()
    return request


def _activate(page: Page, token: Token, request: RenewalRequest) -> None:
    """Attiva il certificato: an OTP first (step-up), then the new PIN."""
    page.goto("/rinnovo/")
    assert path_of(page) == "/dispositivi/verifica/", path_of(page)
    page.select_option("#id_device", str(token.device.public_id))
    page.fill("#id_code", token.press())
    with page.expect_navigation():
        page.click("main button.btn-primary")
    assert path_of(page) == f"/rinnovo/{request.pk}/attiva/"
    assert english_leftovers(page) == []
    page.fill("#id_new_pin", NEW_PIN)
    page.fill("#id_new_pin_confirm", NEW_PIN)
    screenshot(page, "renewal-5-activate.png")
    with page.expect_navigation():
        page.get_by_test_id("activate-submit").click()
    expect(page.get_by_test_id("renewal-outcome")).to_have_attribute("data-state", "activated")


def _ocsp(live_server, ca, tmp_path: Path, certificate) -> str:  # noqa: ANN001, F811
    issuing = write_pem(tmp_path / "issuing.pem", ca[AuthorityRole.ISSUING].der)
    responder = write_pem(tmp_path / "responder.pem", ca[AuthorityRole.OCSP].der)
    leaf = write_pem(tmp_path / f"{certificate.pk}.pem", certificate.der)
    result = openssl("ocsp", "-issuer", str(issuing), "-cert", str(leaf), "-url", f"{live_server.url}/ca/ocsp/",
                     "-VAfile", str(responder))
    assert "Response verify OK" in result.stderr, result.stderr + result.stdout
    return result.stdout


def test_laura_renews_the_operator_approves_and_the_old_serial_is_revoked_superseded(
    open_page, world: World, ca, live_server, tmp_path: Path,  # noqa: F811
):
    laura = world.alpha.holders[1]
    old_certificate, token = _ready_to_renew(world, laura)
    page = open_page()
    log_in(page, laura.user.username, HOLDER_PASSWORD)
    request = _sign_the_form(page, token, tmp_path)
    assert request.state == RenewalState.SUBMITTED
    expect(page.get_by_test_id("renewal-outcome")).to_have_attribute("data-state", "submitted")
    screenshot(page, "renewal-4-submitted.png")

    operator = open_page()
    log_in(operator, world.alpha.operator.user.username, OPERATOR_PASSWORD, path="/operatore/accesso/")
    _operator_approves(operator, request)

    request.refresh_from_db()
    assert request.state == RenewalState.ISSUED
    _activate(page, token, request)
    request.refresh_from_db()
    old_certificate.refresh_from_db()
    new_certificate = request.new_certificate
    assert new_certificate.state == CertificateState.ACTIVE and old_certificate.state == CertificateState.REVOKED
    screenshot(page, "renewal-6-activated.png")

    # Laura signs with the new certificate.
    paths, _seconds = exam_records_write(count=1, directory=tmp_path / "verbali", professor="Prof.ssa Laura Bianchi")
    page.goto("/firma/")
    page.set_input_files("#id_documents", [str(paths[0])])
    page.fill("#id_pin", NEW_PIN)
    page.select_option("#id_device", str(token.device.public_id))
    page.fill("#id_code", token.press())
    with page.expect_download() as download_info:
        page.click("main form[data-testid=signing-form] button.btn-primary")
    assert download_info.value.suggested_filename.endswith("-firmato.pdf")

    old_status = _ocsp(live_server, ca, tmp_path, old_certificate)
    assert ": revoked" in old_status and "Reason: superseded" in old_status, old_status
    assert ": good" in _ocsp(live_server, ca, tmp_path, new_certificate)

    page.goto("/certificato/")
    expect(page.locator("main")).to_contain_text(f"{old_certificate.iut} → {new_certificate.iut}")
    screenshot(page, "renewal-7-certificate-history.png")


def test_at_an_organization_that_renews_automatically_the_holder_goes_straight_to_activation(
    open_page, world: World, ca, tmp_path: Path,  # noqa: F811
):
    holder = world.alpha.holder
    organization = holder.organization
    organization.renewal_requires_approval = False
    organization.save(update_fields=["renewal_requires_approval"])
    _certificate, token = _ready_to_renew(world, holder)
    page = open_page()
    log_in(page, holder.user.username, HOLDER_PASSWORD)
    request = _sign_the_form(page, token, tmp_path)
    assert request.state == RenewalState.ISSUED and request.automatic
    expect(page.get_by_test_id("renewal-outcome")).to_have_attribute("data-state", "issued")
    expect(page.get_by_test_id("activate-link")).to_be_visible()
    assert english_leftovers(page) == []
    screenshot(page, "renewal-automatic-issued.png")
    _activate(page, token, request)


def test_a_rejection_with_its_reason_reaches_the_holders_notifications(
    open_page, world: World, ca, tmp_path: Path,  # noqa: F811
):
    laura = world.alpha.holders[1]
    _certificate, token = _ready_to_renew(world, laura)
    page = open_page()
    log_in(page, laura.user.username, HOLDER_PASSWORD)
    request = _sign_the_form(page, token, tmp_path)

    operator = open_page()
    log_in(operator, world.alpha.operator.user.username, OPERATOR_PASSWORD, path="/operatore/accesso/")
    reason = "Il ruolo indicato non corrisponde: richiedi un nuovo certificato allo sportello."
    _operator_rejects(operator, request, reason)
    request.refresh_from_db()
    assert request.state == RenewalState.REJECTED

    page.goto("/notifiche/")
    expect(page.locator("main")).to_contain_text(f"Richiesta di rinnovo {request.number} rifiutata")
    page.goto(f"/rinnovo/{request.pk}/esito/")
    expect(page.get_by_test_id("rejection-reason")).to_contain_text(reason)
    screenshot(page, "renewal-rejected.png")


# --- the operator's side (the console's approval queue) -------------------------------------------


def _open_from_the_queue(operator: Page, request: RenewalRequest) -> None:
    operator.goto("/operatore/")
    with operator.expect_navigation():
        operator.get_by_role("link", name="Rinnovi").first.click()
    row = operator.get_by_test_id(f"renewal-{request.pk}")
    expect(row).to_contain_text(request.holder.codice_fiscale)
    assert english_leftovers(operator) == []
    screenshot(operator, "renewal-console-queue.png")
    with operator.expect_navigation():
        row.get_by_test_id("renewal-number").click()
    assert path_of(operator) == f"/operatore/rinnovi/{request.pk}/"
    expect(operator.get_by_test_id("signature-verdict")).to_have_count(1)
    expect(operator.get_by_test_id("signature-signer")).to_contain_text(request.holder.codice_fiscale)
    assert english_leftovers(operator) == []


OPERATOR_USERNAME = "alpha.operatore"  # the world's operator of the university (tests/conftest.py)


def _operator_approves(operator: Page, request: RenewalRequest) -> None:
    _open_from_the_queue(operator, request)
    operator.locator("label[for=id_approve-confirm]").click()
    screenshot(operator, "renewal-console-request.png")
    with operator.expect_navigation():
        operator.get_by_test_id("renewal-approve").click()
    expect(operator.locator("main h1")).to_have_text("Conferma con il secondo fattore")
    confirm_with_code(operator, OPERATOR_USERNAME)
    expect(operator.get_by_test_id("renewal-new-iut")).to_be_visible()


def _operator_rejects(operator: Page, request: RenewalRequest, reason: str) -> None:
    _open_from_the_queue(operator, request)
    operator.fill("#id_reject-reason", reason)
    operator.locator("label[for=id_reject-confirm]").click()
    with operator.expect_navigation():
        operator.get_by_test_id("renewal-reject").click()
    confirm_with_code(operator, OPERATOR_USERNAME)
    expect(operator.get_by_test_id("renewal-reason")).to_contain_text(reason)
    screenshot(operator, "renewal-console-rejected.png")
