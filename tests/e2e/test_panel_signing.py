"""Journey: the professor signs three exam records in the panel with one PIN and
one code from the hardware token, downloads the zip, and every signed file validates; the history
lists the three signatures.
"""

from __future__ import annotations

import io
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from playwright.sync_api import Page, expect

from otp.models import DeviceKind
from otp.oath import hotp
from otp.services import device_create
from signing.exam_records import exam_records_write
from signing.services import pdf_validate
from tests.certificates.conftest import PIN, active, ca, ca_hierarchy  # noqa: F401  (fixtures)
from tests.conftest import HOLDER_PASSWORD, World
from tests.e2e.conftest import english_leftovers, log_in, path_of, screenshot


def off_the_event_loop(function, **kwargs):
    """Playwright's sync API keeps an asyncio loop running in this thread, and pyHanko's validator
    runs its own loop: call it from a thread of its own, as the server does."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, **kwargs).result()


SEED = bytes.fromhex("3132333435363738393031323334353637383930")
SERIAL = "1234567890123"


def test_holder_signs_three_exam_records_and_downloads_the_zip(page: Page, world: World, ca, tmp_path: Path):  # noqa: F811
    holder = world.alpha.holder
    active(holder)
    device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, holder=holder, serial=SERIAL)
    paths, _seconds = exam_records_write(count=3, directory=tmp_path / "verbali")

    log_in(page, holder.user.username, HOLDER_PASSWORD)
    with page.expect_navigation():
        page.click("a[href='/firma/']")
    assert path_of(page) == "/firma/"
    assert english_leftovers(page) == []
    page.set_input_files("#id_documents", [str(path) for path in paths])
    page.click("label[for=id_level_1]")  # B-T
    page.click("label[for=id_appearance_1]")  # visible, page 1, default box
    page.fill("#id_reason", "Approvazione verbale d'esame")
    page.fill("#id_location", "Modena")
    page.fill("#id_pin", PIN)
    page.fill("#id_code", hotp(SEED, 0))
    screenshot(page, "panel-signing-journey.png")
    with page.expect_download() as download_info:
        page.click("main form[data-testid=signing-form] button.btn-primary")
    download = download_info.value
    assert download.suggested_filename == "documenti-firmati.zip"
    archive_path = tmp_path / "documenti-firmati.zip"
    download.save_as(archive_path)

    with zipfile.ZipFile(io.BytesIO(archive_path.read_bytes())) as archive:
        assert sorted(archive.namelist()) == [
            "verbale-00001-firmato.pdf", "verbale-00002-firmato.pdf", "verbale-00003-firmato.pdf",
        ]
        for name in archive.namelist():
            report = off_the_event_loop(pdf_validate, data=archive.read(name))
            (signature,) = report.signatures
            assert signature.intact and signature.valid and signature.trusted, name
            assert not signature.revoked and not signature.modified_after, name
            assert signature.level == "B-T" and signature.timestamp_time is not None, name

    page.goto("/firma/storico/")
    rows = page.get_by_test_id("signature-history").locator("tbody tr")
    expect(rows).to_have_count(3)
    for path in paths:
        expect(page.get_by_test_id("signature-history")).to_contain_text(path.name)
    screenshot(page, "panel-signing-history-journey.png")

    # The validation page reads one of the signed files back.
    signed = tmp_path / "verbale-00001-firmato.pdf"
    with zipfile.ZipFile(archive_path) as archive:
        signed.write_bytes(archive.read(signed.name))
    page.goto("/firma/verifica/")
    page.set_input_files("#id_document", str(signed))
    with page.expect_navigation():
        page.click("main form button.btn-primary")
    expect(page.get_by_test_id("validation-report")).to_be_visible()
    expect(page.get_by_test_id("signature-verdict")).to_have_count(1)
    screenshot(page, "panel-validation.png")
