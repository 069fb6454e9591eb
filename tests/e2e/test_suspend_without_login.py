"""Journey: the phone is lost; from any browser, the holder suspends the certificate at once
with username, user code and a code from the hardware token, and a relying party sees the hold."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ReasonFlags, ocsp
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.services.people import holder_user_code_issue
from certificates.models import CertificateState
from certificates.services import certificate_suspend, ocsp_respond
from otp.models import DeviceKind
from otp.oath import hotp
from otp.services import device_create
from tests.certificates.conftest import active, ca, ca_hierarchy  # noqa: F401  (fixtures)
from tests.conftest import HOLDER_PASSWORD, World
from tests.e2e.conftest import english_leftovers, italian, log_in, path_of, screenshot

SEED = bytes.fromhex("3132333435363738393031323334353637383930")
SERIAL = "1234567890123"


def test_holder_suspends_the_certificate_without_logging_in(page: Page, world: World, ca):  # noqa: F811
    holder = world.alpha.holder
    certificate = active(holder)
    device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, holder=holder, serial=SERIAL)
    user_code = holder_user_code_issue(holder=holder)

    page.goto("/accesso/")
    with page.expect_navigation():
        page.get_by_role("link", name=italian("Suspend or revoke without logging in")).click()
    assert path_of(page) == "/sospensione/"
    assert english_leftovers(page) == []

    page.fill("#id_username", holder.user.username)
    page.fill("#id_user_code", user_code)
    page.fill("#id_otp_code", hotp(SEED, 0))
    expect(page.locator("#id_action_0")).to_be_checked()  # "suspend" is the default
    screenshot(page, "suspend-without-login.png")
    with page.expect_navigation():
        page.click("main button.btn-primary")
    expect(page.get_by_test_id("certificate-state")).to_contain_text(
        italian("Your certificate is suspended: it cannot sign until it is reactivated. "
                "Log in to the panel to reactivate it.")
    )
    screenshot(page, "suspend-without-login-done.png")

    certificate.refresh_from_db()
    assert certificate.state == CertificateState.SUSPENDED
    # What a relying party asking our OCSP responder now sees: revoked, reason certificateHold.
    cert = x509.load_der_x509_certificate(bytes(certificate.der))
    issuer = x509.load_der_x509_certificate(bytes(ca["issuing"].der))
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    answer = ocsp.load_der_ocsp_response(ocsp_respond(request_der=request.public_bytes(Encoding.DER)))
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == ReasonFlags.certificate_hold


@pytest.mark.clock
def test_holder_reactivates_the_suspended_certificate_from_the_panel_after_a_step_up(
    page: Page, world: World, ca  # noqa: F811
):
    holder = world.alpha.holder
    certificate = active(holder)
    device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, holder=holder, serial=SERIAL)


    certificate_suspend(certificate=certificate, actor=holder.user)
    log_in(page, holder.user.username, HOLDER_PASSWORD)
    with page.expect_navigation():
        page.click("a[href='/certificato/']")
    expect(page.get_by_test_id("certificate-state")).to_have_text(italian("Certificate suspended"))
    expect(page.get_by_test_id("certificate-iut")).to_have_text(certificate.iut)
    screenshot(page, "panel-certificate-suspended.png")
    assert english_leftovers(page) == []

    with page.expect_navigation():
        page.get_by_role("link", name=italian("Reactivate the certificate")).click()
    assert path_of(page) == "/dispositivi/verifica/"  # the step-up first
    page.fill("#id_code", hotp(SEED, 0))
    with page.expect_navigation():
        page.click("main form button.btn-primary")
    assert path_of(page) == "/certificato/riattiva/"
    with page.expect_navigation():
        page.click("main form button.btn-primary")
    expect(page.locator("main")).to_contain_text(italian("Your certificate is active again."))
    expect(page.get_by_test_id("certificate-state")).to_contain_text(
        italian("Certificate valid until %(date)s") % {"date": f"{timezone.localtime(certificate.not_after):%d/%m/%Y}"}
    )
    screenshot(page, "panel-certificate-active.png")
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ACTIVE
