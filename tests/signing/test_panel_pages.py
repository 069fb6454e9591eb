"""The panel's "Firma" pages with the real engine: form checks and intake before PIN/OTP, download or
zip of PDFs that validate, engine refusals as form messages, history confined to the holder."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import translation

from certificates.services import certificate_revoke, certificate_suspend
from otp.models import DeviceKind, SmsCode
from otp.oath import hotp
from otp.services import device_create
from signing.models import SignatureActivation, SignatureRecord
from signing.services import pdf_validate
from tests.certificates.conftest import PIN, active, ca, ca_hierarchy  # noqa: F401  (fixtures)
from tests.conftest import HOLDER_PASSWORD, World, login
from tests.signing.pdfs import pdf_bytes, zip_bytes

SIGN_URL = reverse("panel:signing")
HISTORY_URL = reverse("panel:signing_history")
VALIDATION_URL = reverse("panel:signing_validation")
SEED = bytes.fromhex("3132333435363738393031323334353637383930")
GOOD_PIN = PIN
GOOD_CODE = hotp(SEED, 0)


@pytest.fixture(autouse=True)
def english_pages(settings):
    """The pages in English (the holder's chosen language), so messages can be compared with their msgids."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def signer(world: World, ca, holder_client: Client):  # noqa: F811
    """Alpha's first holder, logged in, with an active certificate and a hardware token."""
    holder = world.alpha.holder
    certificate = active(holder)
    device = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, holder=holder, serial="1234567890123")
    holder_client.cookies["django_language"] = "en"
    return holder, certificate, device


def pdf(name: str = "verbale.pdf", data: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, pdf_bytes() if data is None else data, content_type="application/pdf")


def form_data(device, **overrides):
    data = {
        "level": "B-T", "appearance": "invisible", "page": "1", "reason": "Approvazione verbale",
        "location": "Modena", "pin": GOOD_PIN, "device": str(device.public_id), "code": GOOD_CODE,
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def errors_of(response) -> str:
    return response.content.decode()


def test_the_pages_need_a_login(world: World, client: Client):
    for url in (SIGN_URL, HISTORY_URL, VALIDATION_URL):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))


# ----------------------------------------------------------------------------------- the form


def test_the_form_offers_the_levels_with_b_t_by_default_and_the_devices(signer, holder_client):
    page = holder_client.get(SIGN_URL).content.decode()
    assert 'enctype="multipart/form-data"' in page
    assert 'type="file" name="documents"' in page and "multiple" in page
    assert '<input type="radio" name="level" value="B-T" id="id_level_1" required checked>' in page
    for level in ("B-B", "B-LT", "B-LTA"):
        assert f'value="{level}"' in page
    assert str(signer[2].public_id) in page
    assert "Send me a code by SMS" not in page  # no SMS device


def test_no_file_is_refused_before_the_pin_and_otp(signer, holder_client):
    response = holder_client.post(SIGN_URL, form_data(signer[2]))
    assert response.status_code == 400
    assert "Choose at least one PDF file." in errors_of(response)
    assert not SignatureActivation.objects.exists()


@override_settings(SIGNING_MAX_BATCH_FILES=2, DATA_UPLOAD_MAX_NUMBER_FILES=3)
def test_too_many_files_are_refused(signer, holder_client):
    response = holder_client.post(SIGN_URL, {**form_data(signer[2]), "documents": [pdf(f"v{i}.pdf") for i in range(3)]})
    assert response.status_code == 400
    assert "You chose 3 files: at most 2 files can be signed at once." in errors_of(response)
    assert not SignatureActivation.objects.exists()


def test_a_bad_level_is_refused(signer, holder_client):
    response = holder_client.post(SIGN_URL, {**form_data(signer[2], level="B-X"), "documents": [pdf()]})
    assert response.status_code == 400
    assert "Select a valid choice. B-X is not one of the available choices." in errors_of(response)
    assert not SignatureActivation.objects.exists()


def test_a_missing_pin_and_code_are_refused(signer, holder_client):
    response = holder_client.post(SIGN_URL, {**form_data(signer[2], pin=None, code=None), "documents": [pdf()]})
    assert response.status_code == 400
    page = errors_of(response)
    assert 'id="id_pin_error"' in page and 'id="id_code_error"' in page
    assert not SignatureActivation.objects.exists()


def test_a_hostile_file_is_refused_with_its_name_and_nothing_is_authorized(signer, holder_client):
    response = holder_client.post(
        SIGN_URL, {**form_data(signer[2]), "documents": [pdf("buono.pdf"), pdf("../../verbali.pdf", zip_bytes())]}
    )
    assert response.status_code == 400
    assert "verbali.pdf is not a PDF file." in errors_of(response)
    assert not SignatureActivation.objects.exists()


def test_a_visible_signature_on_a_page_the_document_does_not_have_is_refused(signer, holder_client):
    response = holder_client.post(
        SIGN_URL, {**form_data(signer[2], appearance="visible", page="2"), "documents": [pdf("corto.pdf")]}
    )
    assert response.status_code == 400
    assert "corto.pdf has only 1 page." in errors_of(response)
    assert not SignatureActivation.objects.exists()


def test_a_wrong_pin_from_the_engine_is_shown_on_the_pin_field(signer, holder_client):
    response = holder_client.post(SIGN_URL, {**form_data(signer[2], pin="00000000"), "documents": [pdf()]})
    assert response.status_code == 400
    assert "Wrong PIN. 4 attempts left" in errors_of(response)
    assert 'id="id_pin_error"' in errors_of(response)
    assert not SignatureRecord.objects.exists()


def test_a_replayed_code_reads_already_used_on_the_code_field_not_wrong_code(signer, holder_client):
    assert holder_client.post(SIGN_URL, {**form_data(signer[2]), "documents": [pdf()]}).status_code == 200

    response = holder_client.post(SIGN_URL, {**form_data(signer[2]), "documents": [pdf()]})

    assert response.status_code == 400
    assert "This code has already been used. Use a new code." in errors_of(response)
    assert "Wrong OTP code" not in errors_of(response) and 'id="id_code_error"' in errors_of(response)
    signer[2].refresh_from_db()
    assert signer[2].failure_count == 0


def test_one_document_is_signed_and_downloaded_as_a_pdf(signer, holder_client):
    holder, certificate, device = signer
    original = pdf_bytes("Esame")
    response = holder_client.post(
        SIGN_URL,
        {
            **form_data(device, level="B-LT", appearance="visible", page="1"),
            "documents": [pdf("Verbale 7.PDF", original)],
        },
    )
    assert response.status_code == 200, errors_of(response)[:3000]
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="Verbale 7-firmato.pdf"'
    assert "no-store" in response["Cache-Control"]
    (signature,) = pdf_validate(data=response.content).signatures
    assert signature.intact and signature.valid and signature.trusted and signature.level == "B-LT"
    (record,) = SignatureRecord.objects.all()
    assert (record.holder, record.certificate, record.document_name, record.level, record.channel) == (
        holder, certificate, "Verbale 7.PDF", "B-LT", "panel",
    )


def test_many_documents_come_back_in_a_zip_with_distinct_names(signer, holder_client):
    files = [pdf("verbale.pdf"), pdf("verbale.pdf"), pdf("altro.pdf")]
    response = holder_client.post(SIGN_URL, {**form_data(signer[2]), "documents": files})
    assert response.status_code == 200, errors_of(response)[:3000]
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="documenti-firmati.zip"'
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == ["verbale-firmato.pdf", "verbale-firmato (2).pdf", "altro-firmato.pdf"]
        for name in archive.namelist():
            (signature,) = pdf_validate(data=archive.read(name)).signatures
            assert signature.valid and signature.level == "B-T", name
    assert SignatureRecord.objects.count() == 3 and SignatureActivation.objects.count() == 1


def test_without_an_active_certificate_the_page_says_so_and_signs_nothing(signer, holder_client):
    holder, certificate, _device = signer
    certificate_suspend(certificate=certificate, actor=holder.user)
    assert holder_client.get(SIGN_URL).status_code == 200
    response = holder_client.post(SIGN_URL, {**form_data(signer[2]), "documents": [pdf()]})
    assert response.status_code == 400
    assert 'data-testid="signing-certificate-unusable"' in response.content.decode()
    assert not SignatureActivation.objects.exists()


def test_a_holder_with_sms_codes_can_ask_for_a_signing_code(signer, holder_client, settings):
    settings.SMS_BACKEND = "tests.notifications.backends.ScriptedSmsBackend"
    holder = signer[0]
    device_create(kind=DeviceKind.SMS, holder=holder)
    page = holder_client.get(SIGN_URL).content.decode()
    assert "Send me a code by SMS" in page and 'value="sms"' in page
    response = holder_client.post(SIGN_URL, {"send_sms": "1"})
    assert response.status_code == 200
    assert "We sent a code by SMS" in response.content.decode()
    assert SmsCode.objects.filter(holder=holder, purpose="sign").count() == 1


# ------------------------------------------------------------------------------------ history


def test_each_holder_sees_only_their_own_signatures(signer, holder_client, world: World):
    mario, laura = world.alpha.holders
    response = holder_client.post(SIGN_URL, {**form_data(signer[2]), "documents": [pdf("verbale-mario.pdf")]})
    assert response.status_code == 200
    page = holder_client.get(HISTORY_URL).content.decode()
    assert "verbale-mario.pdf" in page
    client = Client()
    login(client, laura.user.username, HOLDER_PASSWORD)
    other = client.get(HISTORY_URL).content.decode()
    assert "verbale-mario.pdf" not in other and 'data-testid="signature-history-empty"' in other


def test_the_history_shows_the_signer_by_name_with_the_fiscal_code(signer, holder_client):
    _holder, certificate, device = signer
    response = holder_client.post(SIGN_URL, {**form_data(device), "documents": [pdf("verbale.pdf")]})
    assert response.status_code == 200
    page = holder_client.get(HISTORY_URL).content.decode()
    assert '<td data-testid="signature-signer">Mario Rossi<br>' in page
    assert certificate.subject_serial_number in page and "Common Name:" not in page


def test_an_empty_history_says_so(holder_client: Client):
    response = holder_client.get(HISTORY_URL)
    assert response.status_code == 200
    assert 'data-testid="signature-history-empty"' in response.content.decode()


# --------------------------------------------------------------------------------- validation


def test_a_signed_pdf_gets_a_report(signer, holder_client: Client):
    signed = holder_client.post(SIGN_URL, {**form_data(signer[2]), "documents": [pdf("firmato.pdf")]}).content
    response = holder_client.post(VALIDATION_URL, {"document": pdf("firmato.pdf", signed)})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="validation-report"' in page and "Mario Rossi" in page and "PAdES B-T" in page


def test_the_report_shows_the_signer_by_name_with_the_fiscal_code(signer, holder_client: Client):
    signed = holder_client.post(SIGN_URL, {**form_data(signer[2]), "documents": [pdf("firmato.pdf")]}).content
    page = holder_client.post(VALIDATION_URL, {"document": pdf("firmato.pdf", signed)}).content.decode()
    fiscal_code = signer[1].subject_serial_number
    assert f'data-testid="signature-signer">Mario Rossi <span class="text-muted">({fiscal_code})</span>' in page
    assert "Common Name:" not in page
    assert "Not revoked or suspended" in page and "Suspended (on hold)" not in page
    assert 'data-testid="signature-valid-at-timestamp"' not in page  # B-T: no revocation data embedded


def _signed_without_timestamp(signer, holder_client: Client) -> bytes:
    response = holder_client.post(SIGN_URL, {**form_data(signer[2], level="B-B"), "documents": [pdf("firmato.pdf")]})
    assert response.status_code == 200, errors_of(response)[:3000]
    return response.content


def _revocation_on_the_report(holder_client: Client, signed: bytes) -> str:
    response = holder_client.post(VALIDATION_URL, {"document": pdf("firmato.pdf", signed)})
    assert response.status_code == 200
    page = response.content.decode()
    assert '<span class="status-badge status-badge--danger" data-testid="signature-verdict">Not valid</span>' in page
    return page.split('data-testid="signature-revocation">', 1)[1].split("</dd>", 1)[0]


def test_the_report_says_suspended_not_revoked_for_a_certificate_on_hold(signer, holder_client: Client):
    holder, certificate, _device = signer
    signed = _signed_without_timestamp(signer, holder_client)
    certificate_suspend(certificate=certificate, actor=holder.user)

    status = _revocation_on_the_report(holder_client, signed)

    assert "<strong>Suspended (on hold)</strong>" in status and "Revoked" not in status
    assert "since " in status and "Reason:" not in status


def test_the_report_says_revoked_with_the_reason_for_a_revoked_certificate(signer, holder_client: Client):
    holder, certificate, _device = signer
    signed = _signed_without_timestamp(signer, holder_client)
    certificate_revoke(certificate=certificate, reason="key_compromise", actor=holder.user)

    status = _revocation_on_the_report(holder_client, signed)

    assert "<strong>Revoked</strong>" in status and "Suspended" not in status
    assert "since " in status and "Reason: key compromise" in status


def test_a_signature_timestamped_before_the_suspension_reads_valid_at_its_timestamp(signer, holder_client: Client):
    holder, certificate, device = signer
    response = holder_client.post(SIGN_URL, {**form_data(device, level="B-LTA"), "documents": [pdf("firmato.pdf")]})
    assert response.status_code == 200, errors_of(response)[:3000]
    certificate_suspend(certificate=certificate, actor=holder.user)

    page = holder_client.post(VALIDATION_URL, {"document": pdf("firmato.pdf", response.content)}).content.decode()

    assert "<strong>Suspended (on hold)</strong>" in page
    assert 'data-testid="signature-valid-at-timestamp">yes</dd>' in page


def test_an_unsigned_pdf_gets_a_report_saying_there_is_no_signature(holder_client: Client):
    response = holder_client.post(VALIDATION_URL, {"document": pdf()})
    assert response.status_code == 200
    assert 'data-testid="validation-no-signature"' in response.content.decode()


def test_validation_refuses_what_the_intake_refuses(holder_client: Client):
    holder_client.cookies["django_language"] = "en"
    response = holder_client.post(VALIDATION_URL, {"document": pdf("vuoto.pdf", b"")})
    assert response.status_code == 400 and "vuoto.pdf is empty." in response.content.decode()
    response = holder_client.post(VALIDATION_URL, {})
    assert response.status_code == 400 and "Choose the signed PDF file to verify." in response.content.decode()
