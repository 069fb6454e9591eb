""""Gestione dispositivi": the holder tests a device, synchronizes a token, enrols the smartphone app."""

from __future__ import annotations

import base64
import re
import time
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from notifications.models import Message
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.oath import hotp, totp
from otp.services import device_create
from otp.stepup import STEPUP_SESSION_KEY
from tests.conftest import CODE_REPLAYED_IT, HOLDER_PASSWORD

pytestmark = pytest.mark.django_db
SEED = b"12345678901234567890"
OTHER_SEED = b"abcdefghijabcdefghij"
SERIAL = "1234567890123"
DEVICES = reverse("panel:devices")
RESYNC = reverse("otp:device_resync")
ENROL = reverse("otp:app_enrol")


def device_test_url(device) -> str:
    return reverse("otp:device_test", args=[device.public_id])


@pytest.fixture
def app_device(world):
    return device_create(kind=DeviceKind.APP_TOTP, seed=SEED, holder=world.alpha.holder)


@pytest.fixture
def token(world):
    return device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, holder=world.alpha.holder, serial=SERIAL)


def _secret_on(response) -> str:
    match = re.search(rb'data-testid="enrolment-secret">(.*?)</p>', response.content, re.S)
    assert match, "the secret is not on the page"
    return re.sub(r"<[^>]+>|\s", "", match.group(1).decode())


def _seed_of(secret: str) -> bytes:
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


# ------------------------------------------------------------------------------------ the list


def test_the_list_shows_only_the_holders_own_devices(world, holder_client, app_device, token):
    foreign = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, holder=world.beta.holder, serial="9876543210987")
    response = holder_client.get(DEVICES)
    assert response.status_code == 200
    assert [d.pk for d in response.context["devices"]] == [app_device.pk, token.pk]
    page = response.content.decode()
    assert SERIAL in page and str(app_device.public_id) in page
    assert foreign.serial not in page and str(foreign.public_id) not in page


def test_the_list_says_when_a_device_is_locked(holder_client, token):
    OtpDevice.objects.filter(pk=token.pk).update(locked_at=timezone.now(), failure_count=10)
    response = holder_client.get(DEVICES, HTTP_ACCEPT_LANGUAGE="en")
    assert response.context["otp_state"] == "locked"
    assert b"status-badge--danger" in response.content


# ------------------------------------------------------------------------------------------ test


def test_a_right_code_passes_the_test_and_is_recorded(holder_client, app_device):
    response = holder_client.post(device_test_url(app_device), {"code": totp(SEED, time.time())})
    assert response.status_code == 302 and response["Location"] == DEVICES
    app_device.refresh_from_db()
    assert app_device.last_used_at is not None
    event = AuditEvent.objects.filter(event_type="otp.verify_succeeded").latest("seq")
    assert event.details["purpose"] == "test"
    shown = holder_client.get(DEVICES)
    assert any(m.level_tag == "success" for m in shown.context["messages"])


def test_a_wrong_code_fails_the_test_counts_and_says_the_attempts_left(holder_client, app_device):
    wrong = "000000" if totp(SEED, time.time()) != "000000" else "111111"
    response = holder_client.post(device_test_url(app_device), {"code": wrong})
    assert response.status_code == 400
    assert "9" in " ".join(response.context["form"].errors["code"])
    app_device.refresh_from_db()
    assert app_device.failure_count == 1


def test_a_replayed_code_fails_the_test_says_already_used_and_does_not_count(holder_client, token):
    assert holder_client.post(device_test_url(token), {"code": hotp(SEED, 0)}).status_code == 302

    response = holder_client.post(device_test_url(token), {"code": hotp(SEED, 0)})

    assert response.status_code == 400
    assert response.context["form"].errors["code"] == [CODE_REPLAYED_IT]
    token.refresh_from_db()
    assert token.failure_count == 0


@pytest.mark.parametrize("garbage", ["", "abcdef", "12 34", "1234567", "9" * 40, "١٢٣٤٥٦"])
def test_malformed_codes_are_a_400_and_do_not_count(holder_client, app_device, garbage):
    response = holder_client.post(device_test_url(app_device), {"code": garbage})
    assert response.status_code == 400
    app_device.refresh_from_db()
    assert app_device.failure_count == 0


def test_a_locked_device_says_so_and_refuses_even_a_right_code(holder_client, app_device):
    OtpDevice.objects.filter(pk=app_device.pk).update(locked_at=timezone.now(), failure_count=10)
    assert b'data-testid="device-locked"' in holder_client.get(device_test_url(app_device)).content
    response = holder_client.post(device_test_url(app_device), {"code": totp(SEED, time.time())})
    assert response.status_code == 400 and response.context["form"].errors["code"]
    assert AuditEvent.objects.filter(event_type="otp.verify_refused_locked").exists()
    app_device.refresh_from_db()
    assert app_device.last_used_at is None


@pytest.mark.parametrize("device_id", ["not-a-uuid", "1", str(uuid.uuid4()), "%00"])
def test_unknown_or_malformed_device_ids_are_a_404(holder_client, device_id):
    assert holder_client.get(f"/dispositivi/{device_id}/prova/").status_code == 404
    assert holder_client.post(f"/dispositivi/smartphone/{device_id}/conferma/", {"code": "123456"}).status_code == 404


def test_another_holders_device_is_a_404(world, holder_client):
    foreign = device_create(kind=DeviceKind.APP_TOTP, seed=SEED, holder=world.beta.holder)
    assert holder_client.get(device_test_url(foreign)).status_code == 404
    assert holder_client.post(device_test_url(foreign), {"code": totp(SEED, time.time())}).status_code == 404
    confirm = reverse("otp:app_confirm", args=[foreign.public_id])
    assert holder_client.post(confirm, {"code": totp(SEED, time.time())}).status_code == 404
    foreign.refresh_from_db()
    assert foreign.last_used_at is None


def test_the_pages_need_a_holder_login(client, world, app_device):
    for url in (device_test_url(app_device), RESYNC, ENROL):
        assert client.get(url).status_code == 302


# ----------------------------------------------------------------------------------- synchronize


def _unlock_resync(client):
    response = client.post(RESYNC, {"password": HOLDER_PASSWORD})
    assert response.status_code == 302, response.content[:300]


def test_synchronizing_asks_for_the_password_first(holder_client, token):
    response = holder_client.get(RESYNC)
    assert response.status_code == 200 and "password_form" in response.context
    assert b'name="first_code"' not in response.content
    codes = {"device": str(token.public_id), "first_code": hotp(SEED, 50), "second_code": hotp(SEED, 51)}
    assert holder_client.post(RESYNC, codes).status_code == 400  # taken as a password form: refused
    assert holder_client.post(RESYNC, {"password": "Not-The-Password-1"}).status_code == 400
    token.refresh_from_db()
    assert token.counter == 0


def test_two_consecutive_codes_synchronize_a_drifted_token(holder_client, token):
    _unlock_resync(holder_client)
    page = holder_client.get(RESYNC, {"dispositivo": str(token.public_id)})
    assert page.context["form"]["device"].value() == str(token.public_id)
    assert SERIAL in page.content.decode()
    response = holder_client.post(
        RESYNC, {"device": str(token.public_id), "first_code": hotp(SEED, 50), "second_code": hotp(SEED, 51)}
    )
    assert response.status_code == 302 and response["Location"] == DEVICES
    token.refresh_from_db()
    assert token.counter == 52


def test_two_codes_that_are_not_consecutive_are_refused(holder_client, token):
    _unlock_resync(holder_client)
    response = holder_client.post(
        RESYNC, {"device": str(token.public_id), "first_code": hotp(SEED, 50), "second_code": hotp(SEED, 52)}
    )
    assert response.status_code == 400
    assert response.context["form"].non_field_errors()  # "not recognized as consecutive codes"
    token.refresh_from_db()
    assert token.counter == 0 and token.failure_count == 1


def test_synchronizing_again_with_the_same_codes_says_already_used_and_does_not_count(holder_client, token):
    _unlock_resync(holder_client)
    codes = {"device": str(token.public_id), "first_code": hotp(SEED, 50), "second_code": hotp(SEED, 51)}
    assert holder_client.post(RESYNC, codes).status_code == 302
    _unlock_resync(holder_client)

    response = holder_client.post(RESYNC, codes)

    assert response.status_code == 400 and response.context["form"].non_field_errors() == [CODE_REPLAYED_IT]
    token.refresh_from_db()
    assert token.counter == 52 and token.failure_count == 0


def test_synchronizing_lifts_a_lock(holder_client, token):
    OtpDevice.objects.filter(pk=token.pk).update(locked_at=timezone.now(), failure_count=10)
    _unlock_resync(holder_client)
    response = holder_client.post(
        RESYNC, {"device": str(token.public_id), "first_code": hotp(SEED, 3), "second_code": hotp(SEED, 4)}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.locked_at is None and token.failure_count == 0


def test_another_holders_token_cannot_be_chosen(world, holder_client, token):
    foreign = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, holder=world.beta.holder, serial="9876543210987")
    _unlock_resync(holder_client)
    response = holder_client.post(
        RESYNC, {"device": str(foreign.public_id), "first_code": hotp(SEED, 0), "second_code": hotp(SEED, 1)}
    )
    assert response.status_code == 400
    foreign.refresh_from_db()
    assert foreign.counter == 0


def test_a_holder_without_tokens_is_told_so(holder_client, app_device):
    response = holder_client.get(RESYNC)
    assert response.status_code == 200 and response.context["tokens"] == [] and b"<form method=\"post\"" not in (
        response.content.split(b"<main", 1)[-1].split(b"</main>", 1)[0]
    )


# ----------------------------------------------------------------------------------- enrolment


def _start_first_enrolment(client):
    page = client.get(ENROL)
    assert page.status_code == 200 and "password_form" in page.context and b"enrolment-qr" not in page.content
    assert client.post(ENROL, {"password": "wrong-password-123"}).status_code == 400
    response = client.post(ENROL, {"password": HOLDER_PASSWORD})
    assert response.status_code == 302 and response["Location"] == ENROL
    return client.get(ENROL)


def test_a_first_app_is_enrolled_after_the_password_and_confirmed_by_its_first_code(world, holder_client):
    holder = world.alpha.holder
    page = _start_first_enrolment(holder_client)
    assert page.status_code == 200
    assert page["Cache-Control"].count("no-store") == 1
    svg = re.search(rb'data-testid="enrolment-qr">(<svg.*?</svg>)', page.content, re.S)
    assert svg is not None and b"style=" not in svg.group(1) and b"<path" in svg.group(1)
    secret = _secret_on(page)
    assert len(secret) == 32 and re.fullmatch(r"[A-Z2-7]{32}", secret)
    device = OtpDevice.objects.get(holder=holder, kind=DeviceKind.APP_TOTP)
    assert device.state == DeviceState.PENDING
    assert secret not in page.content.decode().replace(" ", "").split("enrolment-secret")[0]  # only in its place
    confirm = reverse("otp:app_confirm", args=[device.public_id])

    wrong = holder_client.post(confirm, {"code": "12x456"})
    assert wrong.status_code == 400 and secret not in re.sub(r"<[^>]+>|\s", "", wrong.content.decode())

    response = holder_client.post(confirm, {"code": totp(_seed_of(secret), time.time())})
    assert response.status_code == 302 and response["Location"] == DEVICES
    device.refresh_from_db()
    assert device.state == DeviceState.ACTIVE and device.confirmed_at is not None
    assert Message.objects.filter(holder=holder, message_type="security_notice").exists()
    profile = holder_client.get(reverse("panel:profile"))
    assert profile.context["otp_state"] == "active" and "Attivo" in profile.content.decode()


def test_the_secret_is_shown_once_coming_back_starts_a_new_device(world, holder_client):
    first_page = _start_first_enrolment(holder_client)
    first_secret = _secret_on(first_page)
    first = OtpDevice.objects.get(holder=world.alpha.holder, state=DeviceState.PENDING)
    second_page = holder_client.get(ENROL)
    second_secret = _secret_on(second_page)
    assert second_secret != first_secret and first_secret not in second_page.content.decode()
    first.refresh_from_db()
    assert first.state == DeviceState.RETIRED
    assert OtpDevice.objects.filter(holder=world.alpha.holder, state=DeviceState.PENDING).count() == 1
    # The retired enrolment cannot be confirmed any more, even with a right code.
    stale = holder_client.post(reverse("otp:app_confirm", args=[first.public_id]),
                               {"code": totp(_seed_of(first_secret), time.time())})
    assert stale.status_code == 404
    first.refresh_from_db()
    assert first.state == DeviceState.RETIRED


def test_an_enrolment_of_another_session_cannot_be_confirmed(world, holder_client):
    pending = device_create(kind=DeviceKind.APP_TOTP, seed=OTHER_SEED, holder=world.alpha.holder,
                            state=DeviceState.PENDING)
    response = holder_client.post(reverse("otp:app_confirm", args=[pending.public_id]),
                                  {"code": totp(OTHER_SEED, time.time())})
    assert response.status_code == 302 and response["Location"] == ENROL
    pending.refresh_from_db()
    assert pending.state == DeviceState.PENDING


def test_changing_the_app_needs_a_step_up_and_retires_the_old_app(world, holder_client, app_device):
    response = holder_client.get(ENROL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("otp:stepup")) and "operation=device_change" in response["Location"]
    assert not OtpDevice.objects.filter(state=DeviceState.PENDING).exists()

    stepup = holder_client.post(reverse("otp:stepup"), {
        "device": str(app_device.public_id), "code": totp(SEED, time.time()), "operation": "device_change",
        "next": ENROL,
    })
    assert stepup.status_code == 302 and stepup["Location"] == ENROL
    page = holder_client.get(ENROL)
    assert page.status_code == 200 and page.context["replacing"]
    new = OtpDevice.objects.get(holder=world.alpha.holder, state=DeviceState.PENDING)
    response = holder_client.post(reverse("otp:app_confirm", args=[new.public_id]),
                                  {"code": totp(_seed_of(_secret_on(page)), time.time())})
    assert response.status_code == 302
    new.refresh_from_db()
    app_device.refresh_from_db()
    assert new.state == DeviceState.ACTIVE and app_device.state == DeviceState.RETIRED
    assert "device_change" not in holder_client.session.get(STEPUP_SESSION_KEY, {})
    assert Message.objects.filter(holder=world.alpha.holder, message_type="security_notice").exists()


def test_a_hardware_token_is_kept_when_an_app_is_added(world, holder_client, token):
    grant = holder_client.post(reverse("otp:stepup"), {
        "device": str(token.public_id), "code": hotp(SEED, 0), "operation": "device_change", "next": ENROL,
    })
    assert grant.status_code == 302
    page = holder_client.get(ENROL)
    new = OtpDevice.objects.get(holder=world.alpha.holder, state=DeviceState.PENDING)
    holder_client.post(reverse("otp:app_confirm", args=[new.public_id]),
                       {"code": totp(_seed_of(_secret_on(page)), time.time())})
    token.refresh_from_db()
    new.refresh_from_db()
    assert token.state == DeviceState.ACTIVE and new.state == DeviceState.ACTIVE


def test_an_organization_without_the_app_offers_no_enrolment(world, holder_client):
    organization = world.alpha.organization
    organization.otp_app_allowed = False
    organization.save(update_fields=["otp_app_allowed"])
    holder_client.post(ENROL, {"password": HOLDER_PASSWORD})
    response = holder_client.get(ENROL)
    assert response.status_code == 200 and b"enrolment-qr" not in response.content
    assert not OtpDevice.objects.filter(holder=world.alpha.holder).exists()
