"""Journey: the operator registers a person at the counter and issues the certificate; the holder
activates it from the activation e-mail and SMS, read in the developer mailbox.

Everything is real: a Celery worker process delivers the e-mail and the SMS messages (file
backends, shown by /sviluppo/posta/), the CA signs the certificate, the PIN wraps the key.
New strings are not in the Italian catalogue yet, so pages are checked through stable selectors.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Holder
from certificates.models import Certificate, CertificateState
from certificates.services import certificate_key_unlock
from tests.certificates.conftest import ca_hierarchy, load_hierarchy  # noqa: F401  (fixture)
from tests.conftest import OPERATOR_PASSWORD, World
from tests.e2e.conftest import confirm_with_code, english_leftovers, log_in, path_of, screenshot
from tests.integration.conftest import Worker, eventually, worker_env, worker_process  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration
NEW_PASSWORD = "Il-Portico-Di-San-Luca-1674"
PIN = "Torre-Ghirlandina-1319"
TEMPORARY = re.compile(r"\b([A-Za-z2-9]{4}(?:-[A-Za-z2-9]{4}){3,})\b")


def _mailbox(page: Page) -> tuple[list[str], str]:
    """(SMS texts newest first, the e-mail files' text) as the developer mailbox shows them."""
    page.goto("/sviluppo/posta/")
    sms = page.locator("section[aria-labelledby=sms-heading] tbody tr td:nth-child(3)").all_text_contents()
    mails = "\n".join(page.locator("section[aria-labelledby=email-heading] pre").all_text_contents())
    return sms, mails


def _choose_sms(page: Page) -> None:
    """Bootstrap Italia draws the radio on its label: click the label, as a person does."""
    radio = page.locator("input[name=otp_choice][value=sms]")
    page.locator(f"label[for={radio.get_attribute('id')}]").click()
    expect(radio).to_be_checked()


@pytest.mark.clock
def test_operator_issues_and_holder_activates_from_the_mailbox(
    page: Page, open_page, world: World, worker_process: Worker, ca_hierarchy, settings,  # noqa: F811
    tmp_path: Path,
):
    load_hierarchy(ca_hierarchy)
    sms_folder, mail_folder = tmp_path / "sms", tmp_path / "mail"
    settings.SMS_BACKEND = "notifications.backends.sms.FileSmsBackend"
    settings.SMS_FILE_PATH = str(sms_folder)
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(mail_folder)
    worker_process.start(
        ("SMS_BACKEND", settings.SMS_BACKEND), ("SMS_FILE_PATH", str(sms_folder)),
        ("EMAIL_BACKEND", settings.EMAIL_BACKEND), ("EMAIL_FILE_PATH", str(mail_folder)),
    )

    # --- At the counter: the operator fills in the request form (sections A and B) and chooses SMS.
    log_in(page, world.alpha.operator.user.username, OPERATOR_PASSWORD, path="/operatore/accesso/")
    with page.expect_navigation():
        page.click("a[href='/operatore/titolari/nuovo/']")
    form = page.get_by_test_id("holder-new-form")
    fields = {
        "given_name": "Giulia", "surname": "Verdi", "codice_fiscale": "VRDGLI85C41F257N",
        "birth_date": "1985-03-01", "birth_place": "Modena", "id_document_number": "CA12345AB",
        "id_document_issuer": "Comune di Modena",
        "id_document_expiry": (timezone.localdate() + timedelta(days=700)).isoformat(),
        "residence_address": "Via Giardini 10", "residence_postal_code": "41124", "residence_city": "Modena",
        "residence_province": "MO", "mobile": "+39 347 200 0001", "email": "giulia.verdi@alpha.example.org",
        "role_title": "Ricercatrice",
    }
    # An expired identity document first: refused with a message, nothing created.
    for name, value in {**fields, "id_document_expiry": "2020-01-01"}.items():
        form.locator(f"#id_{name}").fill(value)
    form.locator("#id_id_document_type").select_option("identity_card")
    _choose_sms(page)
    with page.expect_navigation():
        form.locator("button.btn-primary").click()
    # Issuing asks for the operator's second factor first; the form's fields travel with it.
    expect(page.locator("main h1")).to_have_text("Conferma con il secondo fattore")
    confirm_with_code(page, world.alpha.operator.user.username)
    expect(page.locator("#id_id_document_expiry_error")).to_be_visible()
    assert not Holder.objects.filter(codice_fiscale="VRDGLI85C41F257N").exists()

    page.locator("#id_id_document_expiry").fill(fields["id_document_expiry"])
    _choose_sms(page)
    screenshot(page, "issuance-form.png")
    with page.expect_navigation():
        page.get_by_test_id("holder-new-form").locator("button.btn-primary").click()
    holder = Holder.objects.select_related("user").get(codice_fiscale="VRDGLI85C41F257N")
    assert path_of(page) == f"/operatore/titolari/{holder.pk}/"
    expect(page.locator(".app-messages .alert-success")).to_be_visible()
    history = page.get_by_test_id("certificate-history")
    certificate = Certificate.objects.get(holder=holder)
    expect(history).to_contain_text(certificate.iut)
    assert english_leftovers(page) == []
    screenshot(page, "issuance-holder-detail.png")

    # --- The holder, on another computer: the e-mail (username, user code, link) and the SMS.
    holder_page = open_page()
    assert eventually(lambda: any(mail_folder.glob("*.log")) and any(sms_folder.glob("*.json")), timeout=60), \
        worker_process.log()[-3000:]
    sms_texts, mail_text = _mailbox(holder_page)
    screenshot(holder_page, "activation-mailbox.png")
    link = re.search(r"https?://\S+?(/attivazione/link/[\w-]+/)", mail_text)
    assert link, mail_text[-3000:]
    assert holder.user.username in mail_text and re.search(r"\b\d{10}\b", mail_text)
    temporary = next((m.group(1) for text in sms_texts if (m := TEMPORARY.search(text))), None)
    assert temporary, sms_texts

    holder_page.goto(link.group(1))
    assert path_of(holder_page) == "/attivazione/"
    expect(holder_page.get_by_test_id("activation-step")).to_contain_text("1")
    holder_page.fill("#id_temporary_password", "Sbagliata-0000")
    with holder_page.expect_navigation():
        holder_page.click("main button.btn-primary")
    expect(holder_page.locator("#id_temporary_password_error")).to_be_visible()
    holder_page.fill("#id_temporary_password", temporary)
    screenshot(holder_page, "activation-1-temporary-password.png")
    with holder_page.expect_navigation():
        holder_page.click("main button.btn-primary")

    # New password, the policy shown.
    expect(holder_page.get_by_test_id("password-policy")).to_contain_text("12")
    holder_page.fill("#id_new_password", NEW_PASSWORD)
    holder_page.fill("#id_new_password_confirm", NEW_PASSWORD)
    screenshot(holder_page, "activation-2-new-password.png")
    with holder_page.expect_navigation():
        holder_page.click("main button.btn-primary")

    # The OTP device: codes by SMS, confirmed with one.
    sms_before = len(list(sms_folder.glob("*.json")))
    with holder_page.expect_navigation():
        holder_page.get_by_test_id("sms-send").click()
    assert eventually(lambda: len(list(sms_folder.glob("*.json"))) > sms_before, timeout=60), \
        worker_process.log()[-3000:]
    device_step = holder_page.url
    sms_texts, _mails = _mailbox(holder_page)
    code = re.search(r"\b(\d{6})\b", sms_texts[0])
    assert code, sms_texts
    holder_page.goto(device_step)
    holder_page.fill("#id_code", code.group(1))
    screenshot(holder_page, "activation-3-device.png")
    with holder_page.expect_navigation():
        holder_page.click("main button[name=confirm]")

    # The signing PIN, twice; a trivial one first.
    holder_page.fill("#id_pin", "12345678")
    holder_page.fill("#id_pin_confirm", "12345678")
    with holder_page.expect_navigation():
        holder_page.click("main button.btn-primary")
    expect(holder_page.locator("#id_pin_error")).to_be_visible()
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ISSUED
    holder_page.fill("#id_pin", PIN)
    holder_page.fill("#id_pin_confirm", PIN)
    screenshot(holder_page, "activation-4-pin.png")
    with holder_page.expect_navigation():
        holder_page.click("main button.btn-primary")

    # Active, logged in, on the profile: "Certificato valido fino al …".
    assert path_of(holder_page) == "/"
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ACTIVE
    expect(holder_page.get_by_test_id("certificate-state")).to_contain_text(
        f"{timezone.localtime(certificate.not_after):%d/%m/%Y}"
    )
    expect(holder_page.get_by_test_id("associated-devices")).to_be_visible()
    assert english_leftovers(holder_page) == []
    screenshot(holder_page, "activation-5-profile.png")
    assert certificate_key_unlock(certificate=certificate, pin=PIN) is not None

    # The operator sees it active: it can now be suspended.
    page.reload()
    expect(page.get_by_test_id("certificate-suspend")).to_be_visible()
    screenshot(page, "issuance-holder-detail-active.png")
