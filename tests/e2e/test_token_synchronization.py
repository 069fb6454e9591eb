"""Journey: a holder's hardware token has drifted and got locked; the holder synchronizes it from the panel."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from otp import services
from otp.models import DeviceKind, OtpDevice
from otp.oath import hotp
from otp.services import VerifyOutcome
from tests.conftest import HOLDER_PASSWORD, World
from tests.e2e.conftest import english_leftovers, italian, log_in, path_of, screenshot

SEED = bytes.fromhex("3132333435363738393031323334353637383930")  # the RFC 4226 test seed
SERIAL = "1234567890123"
DRIFT = 300  # button presses the server never saw: far beyond its look-ahead window
NOT_CONSECUTIVE = (
    "The two codes were not recognized as consecutive codes of this token. Generate two new codes, "
    "one after the other, and enter them in the order they appeared."
)


def _submit(page: Page, selector: str) -> int:
    with page.expect_navigation() as navigation:
        page.click(selector)
    response = navigation.value
    assert response is not None
    return response.status


def test_holder_synchronizes_a_drifted_locked_hardware_token_and_uses_it_again(page: Page, world: World):
    holder = world.alpha.holder
    device = services.device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, holder=holder, serial=SERIAL)

    # The holder kept pressing the button away from the portal: the codes the token shows now
    # (counters 290..299) are out of the server's window, and ten of them lock the device.
    outcomes = [
        services.device_verify(device=device, code=hotp(SEED, counter), purpose="login").outcome
        for counter in range(DRIFT - 10, DRIFT)
    ]
    assert outcomes == [VerifyOutcome.INVALID] * 9 + [VerifyOutcome.LOCKED], outcomes
    device.refresh_from_db()
    assert device.is_locked and device.counter == 0

    log_in(page, holder.user.username, HOLDER_PASSWORD)
    assert path_of(page) == "/"

    # "Gestione dispositivi": the token is shown locked; it cannot be tested, only synchronized.
    with page.expect_navigation():
        page.click("a[href='/dispositivi/']")
    expect(page.locator("main h1")).to_have_text(italian("OTP devices"))
    row = page.get_by_test_id(f"device-{device.public_id}")
    expect(row).to_contain_text(f"{italian('Physical device - serial')}: {SERIAL}")
    expect(row.get_by_test_id("device-state")).to_have_text(italian("Locked"))
    expect(row.locator(f"a[href='/dispositivi/{device.public_id}/prova/']")).to_have_count(0)
    with page.expect_navigation():
        row.get_by_role("link", name=italian("Synchronize")).click()
    assert path_of(page) == "/dispositivi/sincronizza/"

    # The account password first; it brings the holder back to the same page, token preselected.
    expect(page.locator("main h1")).to_have_text(italian("Synchronize OTP device"))
    expect(page.locator("#id_first_code")).to_have_count(0)
    page.fill("#id_password", HOLDER_PASSWORD)
    assert _submit(page, "main button.btn-primary") == 200
    assert path_of(page) == "/dispositivi/sincronizza/"
    expect(page.locator("#id_password")).to_have_count(0)
    expect(page.locator("#id_device")).to_have_value(str(device.public_id))
    expect(page.locator("#id_device option:checked")).to_have_text(
        f"{italian('Physical device - serial')}: {SERIAL}"
    )

    # Two codes that are not consecutive (a press was skipped): refused, in Italian, device still locked.
    page.select_option("#id_device", label=f"{italian('Physical device - serial')}: {SERIAL}")
    page.fill("#id_first_code", hotp(SEED, DRIFT))
    page.fill("#id_second_code", hotp(SEED, DRIFT + 2))
    assert _submit(page, "main form button.btn-primary") == 400
    assert path_of(page) == "/dispositivi/sincronizza/"
    expect(page.locator("main .alert-danger")).to_have_text(italian(NOT_CONSECUTIVE))
    expect(page.locator("#id_first_code")).to_be_visible()  # still on the codes step, no new password asked
    device.refresh_from_db()
    assert device.is_locked and device.counter == 0
    screenshot(page, "token-sync.png")
    leftovers = english_leftovers(page)

    # Two consecutive codes: the token is found 300 presses ahead, realigned and unlocked.
    page.fill("#id_first_code", hotp(SEED, DRIFT))
    page.fill("#id_second_code", hotp(SEED, DRIFT + 1))
    assert _submit(page, "main form button.btn-primary") == 200
    assert path_of(page) == "/dispositivi/"
    expect(page.locator("main .alert-success, .app-messages .alert-success")).to_have_text(
        italian("Device synchronized: it can be used again.")
    )
    row = page.get_by_test_id(f"device-{device.public_id}")
    expect(row.get_by_test_id("device-state")).to_have_text(italian("Active"))
    screenshot(page, "token-sync-done.png")
    leftovers += english_leftovers(page)
    device.refresh_from_db()
    assert not device.is_locked and device.failure_count == 0 and device.counter == DRIFT + 2

    # The next code the token shows now passes the device test.
    with page.expect_navigation():
        row.get_by_role("link", name=italian("Test")).click()
    assert path_of(page) == f"/dispositivi/{device.public_id}/prova/"
    expect(page.get_by_test_id("device-locked")).to_have_count(0)
    page.fill("#id_code", hotp(SEED, DRIFT + 2))
    assert _submit(page, "main form button.btn-primary") == 200
    assert path_of(page) == "/dispositivi/"
    expect(page.locator("main .alert-success, .app-messages .alert-success")).to_have_text(
        italian("Test passed: the code is correct and the device works.")
    )
    expect(page.get_by_test_id(f"device-{device.public_id}").get_by_test_id("device-state")).to_have_text(
        italian("Active")
    )
    assert OtpDevice.objects.get(pk=device.pk).counter == DRIFT + 3

    # Reported, not asserted (as in the enrolment journey).
    print("English on the Italian synchronization pages:", leftovers)
