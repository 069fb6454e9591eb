"""The panel's "Firma" and "Verifica" pages in a real browser: the form with three files chosen, an
engine refusal shown on the form, the validation report. The engine, the selector and the validator
are the interface stand-ins of tests/signing/conftest.py (the live server runs in this process); the
full journey against the real engine is tests/e2e/test_panel_signing.py."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from otp.models import DeviceKind
from otp.services import device_create
from signing.exam_records import exam_records_write
from signing.models import SignatureActivation, SignatureRecord
from tests.certificates.conftest import PIN, active, ca, ca_hierarchy  # noqa: F401  (fixtures)
from tests.conftest import HOLDER_PASSWORD, World
from tests.e2e.conftest import log_in, screenshot

SEED = bytes.fromhex("3132333435363738393031323334353637383930")


def test_the_signing_page_with_three_files_chosen_and_a_refused_code(
    page: Page, world: World, ca, tmp_path: Path  # noqa: F811
):
    holder = world.alpha.holder
    active(holder)
    device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, holder=holder, serial="1234567890123")
    paths, _seconds = exam_records_write(count=3, directory=tmp_path)

    log_in(page, holder.user.username, HOLDER_PASSWORD)
    with page.expect_navigation():
        page.click("a[href='/firma/']")
    expect(page.locator("nav.app-side-menu a[aria-current=page]")).to_have_attribute("href", "/firma/")
    page.set_input_files("#id_documents", [str(path) for path in paths])
    expect(page.locator("#id_level_1")).to_be_checked()  # B-T by default
    page.click("label[for=id_appearance_1]")
    expect(page.locator("#id_appearance_1")).to_be_checked()
    page.fill("#id_reason", "Approvazione verbale d'esame")
    page.fill("#id_location", "Modena")
    page.fill("#id_pin", PIN)
    page.fill("#id_code", "000000")
    assert page.evaluate("document.querySelector('#id_documents').files.length") == 3
    screenshot(page, "panel-signing.png")

    with page.expect_navigation():
        page.click("main form[data-testid=signing-form] button.btn-primary")
    expect(page.locator("#id_code_error")).to_be_visible()
    screenshot(page, "panel-signing-refused.png")
    assert not SignatureActivation.objects.exists() and not SignatureRecord.objects.exists()


def test_the_report_on_a_suspended_signer_says_suspended_not_revoked(
    page: Page, world: World, ca, tmp_path: Path  # noqa: F811
):
    from certificates.services import certificate_key_unlock, certificate_suspend
    from signing.pades import documents_sign

    holder = world.alpha.holder
    certificate = active(holder)
    (path,), _seconds = exam_records_write(count=1, directory=tmp_path)
    key = certificate_key_unlock(certificate=certificate, pin=PIN)
    signed = tmp_path / "verbale-firmato.pdf"
    signed.write_bytes(documents_sign(private_key=key, certificate=certificate, documents=[path.read_bytes()])[0])
    certificate_suspend(certificate=certificate, actor=holder.user)

    log_in(page, holder.user.username, HOLDER_PASSWORD)
    page.goto("/firma/verifica/")
    page.set_input_files("#id_document", str(signed))
    with page.expect_navigation():
        page.click("main form[data-testid=validation-form] button.btn-primary")

    report = page.locator("[data-testid=validation-report]")
    expect(report.locator("[data-testid=signature-verdict]")).to_have_text("Non valida")
    expect(report.locator("[data-testid=signature-revocation]")).to_contain_text("Sospeso (in attesa di riattivazione)")
    expect(report.locator("[data-testid=signature-signer]")).not_to_contain_text("Common Name")
    screenshot(page, "panel-verification-suspended.png")
