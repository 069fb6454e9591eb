"""The holder's side of the certificate: status and downloads, PIN change, suspend,
reactivate and revoke after a step-up, and suspension without login (username + user code + OTP)."""

from __future__ import annotations

import time

import pytest
from cryptography import x509
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.services.people import holder_user_code_issue
from audit.models import AuditEvent
from certificates.models import Certificate, CertificateState
from certificates.services import certificate_key_unlock, certificate_reactivate
from core.errors import ApplicationError
from otp.models import DeviceKind, OtpDevice
from otp.oath import totp
from otp.services import device_create
from otp.stepup import STEPUP_SESSION_KEY
from tests.certificates.conftest import OTHER_PIN, PIN, active
from tests.conftest import HOLDER_PASSWORD, login

SEED = b"12345678901234567890"
WITHOUT_LOGIN_URL = reverse("accounts:certificate_without_login")


@pytest.fixture
def certificate(world, ca) -> Certificate:
    return active(world.alpha.holder)


def grant(client: Client, operation: str) -> None:
    session = client.session
    session[STEPUP_SESSION_KEY] = {**session.get(STEPUP_SESSION_KEY, {}), operation: int(time.time()) + 300}
    session.save()


def english(client: Client) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.mark.clock
def test_the_profile_and_the_certificate_page_show_validity_serial_and_iut(holder_client, certificate):
    english(holder_client)
    profile = holder_client.get(reverse("panel:profile")).content.decode()
    assert f"Certificate valid until {timezone.localtime(certificate.not_after):%d/%m/%Y}" in profile
    page = holder_client.get(reverse("panel:certificate")).content.decode()
    assert certificate.serial in page and certificate.iut in page


def test_the_holder_downloads_the_certificate_and_its_chain(holder_client, certificate, ca):
    pem = holder_client.get(reverse("panel:certificate_download", args=["pem"]))
    assert pem["Content-Type"] == "application/x-pem-file"
    assert x509.load_pem_x509_certificate(pem.content).serial_number == int(certificate.serial)
    der = holder_client.get(reverse("panel:certificate_download", args=["der"]))
    assert x509.load_der_x509_certificate(der.content).serial_number == int(certificate.serial)
    chain = x509.load_pem_x509_certificates(holder_client.get(reverse("panel:certificate_download", args=["catena"]))
                                             .content)
    assert [c.subject for c in chain[1:]] == [x509.load_der_x509_certificate(bytes(ca[r].der)).subject
                                               for r in ("issuing", "root")]
    assert holder_client.get(reverse("panel:certificate_download", args=["zip"])).status_code == 404


def test_another_holder_sees_no_certificate_and_downloads_nothing(world, certificate):
    other = Client()
    login(other, world.beta.holder.user.username, HOLDER_PASSWORD)
    assert other.get(reverse("panel:certificate_download", args=["pem"])).status_code == 404
    assert certificate.serial not in other.get(reverse("panel:certificate")).content.decode()


def test_changing_the_pin_asks_for_a_step_up_then_rewraps_the_key(holder_client, certificate):
    url = reverse("panel:pin_change")
    assert holder_client.get(url)["Location"].startswith(reverse("otp:stepup"))
    grant(holder_client, "pin_change")
    english(holder_client)
    weak = holder_client.post(url, {"current_pin": PIN, "new_pin": "12345678", "new_pin_confirm": "12345678"})
    assert weak.status_code == 400 and "consecutive" in weak.content.decode()
    wrong = holder_client.post(url, {"current_pin": "99999999x", "new_pin": OTHER_PIN, "new_pin_confirm": OTHER_PIN})
    assert wrong.status_code == 400 and "attempts left" in wrong.content.decode()
    certificate.refresh_from_db()
    assert certificate.pin_failures == 1
    done = holder_client.post(url, {"current_pin": PIN, "new_pin": OTHER_PIN, "new_pin_confirm": OTHER_PIN})
    assert done.status_code == 302
    assert certificate_key_unlock(certificate=certificate, pin=OTHER_PIN) is not None
    with pytest.raises(ApplicationError):
        certificate_key_unlock(certificate=certificate, pin=PIN)
    assert "pin_change" not in holder_client.session[STEPUP_SESSION_KEY]


def test_suspend_and_reactivate_each_need_their_own_step_up(holder_client, certificate):
    grant(holder_client, "certificate_suspend")
    assert holder_client.get(reverse("panel:certificate_revoke"))["Location"].startswith(reverse("otp:stepup"))
    assert holder_client.post(reverse("panel:certificate_suspend")).status_code == 302
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.SUSPENDED
    assert holder_client.get(reverse("panel:certificate_reactivate"))["Location"].startswith(reverse("otp:stepup"))
    grant(holder_client, "certificate_reactivate")
    holder_client.post(reverse("panel:certificate_reactivate"))
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ACTIVE


def test_revocation_asks_for_a_reason_and_an_explicit_confirmation(holder_client, certificate):
    grant(holder_client, "certificate_revoke")
    english(holder_client)
    response = holder_client.post(reverse("panel:certificate_revoke"), {"reason": "key_compromise"})
    assert response.status_code == 400 and "Tick the box" in response.content.decode()
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ACTIVE
    bad = holder_client.post(reverse("panel:certificate_revoke"), {"reason": "certificate_hold", "confirm": "on"})
    assert bad.status_code == 400
    holder_client.post(reverse("panel:certificate_revoke"), {"reason": "key_compromise", "confirm": "on"})
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.REVOKED and certificate.revocation_reason == "key_compromise"
    # A revoked certificate offers nothing more.
    grant(holder_client, "certificate_reactivate")
    assert holder_client.post(reverse("panel:certificate_reactivate")).status_code == 404


# ------------------------------------------------------------------------------------ without login


@pytest.fixture
def device(world) -> OtpDevice:
    return device_create(kind=DeviceKind.APP_TOTP, seed=SEED, holder=world.alpha.holder)


def without_login(username, user_code, code, action="suspend", reason=""):
    client = english(Client())
    return client.post(WITHOUT_LOGIN_URL, {"username": username, "user_code": user_code, "otp_code": code,
                                           "action": action, "reason": reason})


def test_the_holder_suspends_without_login_with_user_code_and_otp(world, certificate, device):
    user_code = holder_user_code_issue(holder=world.alpha.holder)
    response = without_login(world.alpha.holder.user.username, user_code, totp(SEED, time.time()))
    assert response.status_code == 200 and "suspended" in response.content.decode()
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.SUSPENDED
    assert AuditEvent.objects.filter(event_type__contains="suspend", actor_id=world.alpha.holder.user_id).exists()


def test_without_login_every_wrong_combination_gets_the_same_answer(world, certificate, device):
    user_code = holder_user_code_issue(holder=world.alpha.holder)
    username = world.alpha.holder.user.username
    code = totp(SEED, time.time())
    answers = [
        without_login("nobody.here", user_code, code),
        without_login(username, "0000000000", code),
        without_login(username, user_code, "000000"),
    ]
    texts = {a.content.decode().split('role="alert"')[1].split("</div>")[0] for a in answers}
    assert [a.status_code for a in answers] == [400, 400, 400] and len(texts) == 1
    certificate.refresh_from_db()
    device.refresh_from_db()
    assert certificate.state == CertificateState.ACTIVE
    assert device.failure_count == 1  # only the attempt with the right user code reached the device


def test_without_login_a_replayed_otp_says_already_used_and_does_not_count(world, certificate, device):
    user_code = holder_user_code_issue(holder=world.alpha.holder)
    username, code = world.alpha.holder.user.username, totp(SEED, time.time())
    assert without_login(username, user_code, code).status_code == 200
    certificate_reactivate(certificate=certificate)

    response = without_login(username, user_code, code)

    assert response.status_code == 400
    assert "This code has already been used. Use a new code." in response.content.decode()
    certificate.refresh_from_db()
    device.refresh_from_db()
    assert certificate.state == CertificateState.ACTIVE and device.failure_count == 0


def test_without_login_revocation_needs_a_reason(world, certificate, device):
    user_code = holder_user_code_issue(holder=world.alpha.holder)
    response = without_login(world.alpha.holder.user.username, user_code, totp(SEED, time.time()), action="revoke")
    assert response.status_code == 400
    response = without_login(world.alpha.holder.user.username, user_code, totp(SEED, time.time()),
                             action="revoke", reason="key_compromise")
    certificate.refresh_from_db()
    assert response.status_code == 200 and certificate.state == CertificateState.REVOKED


def test_without_login_is_rate_limited_per_account(world, certificate, device):
    username = world.alpha.holder.user.username
    statuses = [without_login(username, "1", "123456").status_code for _ in range(6)]
    assert statuses[:5] == [400] * 5 and statuses[5] == 429
