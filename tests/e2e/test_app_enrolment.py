"""Journey: a holder enrols the smartphone app by reading the secret from the page, as a phone would."""

from __future__ import annotations

import base64
import re
import time

from playwright.sync_api import Page, expect

from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.oath import totp
from tests.conftest import HOLDER_PASSWORD, World
from tests.e2e.conftest import english_leftovers, log_in, path_of, screenshot


def _code_for(secret: str) -> str:
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return totp(seed, time.time())


def test_holder_enrols_the_smartphone_app_and_sees_it_active(page: Page, world: World):
    holder = world.alpha.holder
    log_in(page, holder.user.username, HOLDER_PASSWORD)
    assert path_of(page) == "/"

    page.goto("/dispositivi/")
    expect(page.locator("main h1")).to_have_text("Dispositivi OTP")
    with page.expect_navigation():
        page.click("main a[href='/dispositivi/smartphone/']")

    # First device: the account password again, then the QR code and the secret.
    page.fill("#id_password", HOLDER_PASSWORD)
    with page.expect_navigation():
        page.click("main button.btn-primary")
    qr = page.get_by_test_id("enrolment-qr").locator("svg")
    expect(qr).to_be_visible()
    assert qr.get_attribute("style") is None
    assert page.locator("[data-testid=enrolment-qr] [style]").count() == 0
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 150 and box["height"] >= 150, box
    secret = re.sub(r"\s", "", page.get_by_test_id("enrolment-secret").inner_text())
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    screenshot(page, "app-enrolment.png")
    leftovers = english_leftovers(page)

    page.fill("#id_code", _code_for(secret))
    with page.expect_navigation():
        page.click("main form button.btn-primary")
    assert path_of(page) == "/dispositivi/"
    expect(page.locator("main .alert-success, .app-messages .alert-success")).to_have_count(1)
    expect(page.get_by_test_id("device-state")).to_have_text("Attivo")
    screenshot(page, "app-enrolment-done.png")

    device = OtpDevice.objects.get(holder=holder, kind=DeviceKind.APP_TOTP)
    assert device.state == DeviceState.ACTIVE and device.confirmed_at is not None

    page.goto("/")
    expect(page.get_by_test_id("otp-state")).to_have_text("Attivo")
    expect(page.get_by_test_id("associated-devices")).to_contain_text("App per smartphone")

    # Reported, not asserted: the Italian catalogue has no entries yet for the new device pages.
    print("English on the Italian enrolment page:", leftovers)
