"""Activation by the holder: link → temporary password → new password → OTP device → PIN.

Driven through the pages with Django's test client (the session binds the steps to the link), with
the secrets read from the sealed copies of the messages the issuance queued.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Holder
from accounts.services.authentication import LoginOutcome, Portal, login_attempt
from certificates.models import Activation, ActivationState, Certificate, CertificateState
from certificates.services import certificate_key_unlock
from certificates.services.issuance import activation_resend
from notifications.models import Channel, Message
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.oath import hotp, totp
from otp.services import device_create, device_verify
from tests.certificates.test_issuance import SERIAL, TEMPORARY, register, sealed_text
from tests.conftest import CODE_REPLAYED_IT

pytestmark = pytest.mark.both_vaults

NEW_PASSWORD = "Nuova-Chiave-Del-Portone-58"
PIN = "Ponte-Vecchio-1934"
TOKEN_SEED = b"12345678901234567890"


def secrets_of(certificate: Certificate) -> tuple[str, str, str]:
    """(link path, temporary password, user code) of the latest activation messages."""
    email = Message.objects.filter(holder_id=certificate.holder_id, message_type="certificate_activation").latest("pk")
    sms = Message.objects.filter(
        holder_id=certificate.holder_id, message_type="certificate_activation_password"
    ).latest("pk")
    mail = sealed_text(email)
    link = re.search(r"https?://[^/\s]+(/attivazione/link/[\w-]+/)", mail).group(1)
    user_code = re.search(r"\b(\d{10})\b", mail).group(1)
    temporary = TEMPORARY.search(sealed_text(sms)).group(1)
    return link, temporary, user_code


def latest_sms_code(holder_id: int) -> str:
    message = Message.objects.filter(holder_id=holder_id, message_type="otp_sms_code", channel=Channel.SMS).latest("pk")
    return re.search(r"\b(\d{6})\b", sealed_text(message)).group(1)


def through_password(client: Client, link: str, temporary: str) -> None:
    assert client.get(link)["Location"] == reverse("activation:step")
    response = client.post(reverse("activation:step"), {"temporary_password": temporary})
    assert response.status_code == 302, response.content.decode()[:3000]
    response = client.post(reverse("activation:step"),
                           {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD})
    assert response.status_code == 302, response.content.decode()[:3000]


@pytest.mark.clock
def test_a_holder_activates_with_sms_and_the_pin_opens_the_key(client, world, ca):
    certificate = register(world, otp_choice="sms")
    link, temporary, user_code = secrets_of(certificate)
    through_password(client, link, temporary)
    step = reverse("activation:step")
    page = client.get(step)
    assert page.status_code == 200 and b'data-testid="sms-send"' in page.content
    assert client.post(step, {"send": "1"}).status_code == 302
    response = client.post(step, {"confirm": "1", "code": latest_sms_code(certificate.holder_id)})
    assert response.status_code == 302
    assert OtpDevice.objects.get(holder_id=certificate.holder_id, kind=DeviceKind.SMS).state == DeviceState.ACTIVE

    # Nothing is active before the PIN step, and the account has no password yet.
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ISSUED
    holder = Holder.objects.select_related("user").get(pk=certificate.holder_id)
    assert not holder.user.has_usable_password()

    pin_page = client.get(step)
    assert user_code.encode() not in pin_page.content
    response = client.post(step, {"pin": PIN, "pin_confirm": PIN})
    assert response.status_code == 302 and response["Location"] == reverse("panel:profile")
    profile = client.get(reverse("panel:profile"))
    assert profile.status_code == 200  # logged in
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ACTIVE
    assert f"{timezone.localtime(certificate.not_after):%d/%m/%Y}".encode() in profile.content
    assert user_code.encode() not in profile.content
    assert certificate_key_unlock(certificate=certificate, pin=PIN) is not None
    assert login_attempt(username=holder.user.username, password=NEW_PASSWORD, portal=Portal.PANEL).outcome \
        is LoginOutcome.SUCCESS
    assert Activation.objects.get(certificate=certificate).state == ActivationState.COMPLETED

    # The link is single-use.
    reused = Client().get(link)
    assert reused.status_code == 400
    assert b'data-testid="activation-error"' in reused.content


def test_a_hardware_token_is_proved_with_one_code(client, world, ca):
    token = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=TOKEN_SEED, serial=SERIAL, state=DeviceState.AVAILABLE)
    certificate = register(world, otp_choice="hardware", token_serial=SERIAL)
    link, temporary, _code = secrets_of(certificate)
    through_password(client, link, temporary)
    step = reverse("activation:step")
    assert SERIAL.encode() in client.get(step).content
    wrong = client.post(step, {"code": "000000" if hotp(TOKEN_SEED, 0) != "000000" else "111111"})
    assert wrong.status_code == 400
    assert client.post(step, {"code": hotp(TOKEN_SEED, 0)}).status_code == 302
    assert client.post(step, {"pin": PIN, "pin_confirm": PIN}).status_code == 302
    certificate.refresh_from_db()
    token.refresh_from_db()
    assert certificate.state == CertificateState.ACTIVE and token.counter == 1


def test_a_token_code_already_used_says_already_used_and_does_not_count(client, world, ca):
    token = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=TOKEN_SEED, serial=SERIAL, state=DeviceState.AVAILABLE)
    certificate = register(world, otp_choice="hardware", token_serial=SERIAL)
    assert device_verify(device=token, code=hotp(TOKEN_SEED, 0), purpose="test").ok  # seen at the counter
    link, temporary, _code = secrets_of(certificate)
    through_password(client, link, temporary)
    step = reverse("activation:step")

    replayed = client.post(step, {"code": hotp(TOKEN_SEED, 0)})

    assert replayed.status_code == 400 and CODE_REPLAYED_IT in replayed.content.decode()
    token.refresh_from_db()
    assert token.failure_count == 0
    assert client.post(step, {"code": hotp(TOKEN_SEED, 1)}).status_code == 302


def test_the_app_is_enrolled_by_qr_code(client, world, ca):
    import base64

    certificate = register(world, otp_choice="app")
    link, temporary, _code = secrets_of(certificate)
    through_password(client, link, temporary)
    step = reverse("activation:step")
    page = client.get(step)
    secret = page.context["enrolment"].secret
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    assert client.post(step, {"code": totp(seed, time.time())}).status_code == 302
    assert client.post(step, {"pin": PIN, "pin_confirm": PIN}).status_code == 302
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ACTIVE
    assert OtpDevice.objects.get(holder_id=certificate.holder_id, kind=DeviceKind.APP_TOTP).state == DeviceState.ACTIVE


def _to_pin_step(client: Client, certificate: Certificate) -> None:
    link, temporary, _code = secrets_of(certificate)
    through_password(client, link, temporary)
    step = reverse("activation:step")
    client.post(step, {"send": "1"})
    assert client.post(step, {"confirm": "1", "code": latest_sms_code(certificate.holder_id)}).status_code == 302


@pytest.mark.parametrize(
    ("pin", "confirm"),
    [("12345678", "12345678"), ("aaaaaaaa", "aaaaaaaa"), ("short", "short"), (PIN, PIN + "x"),
     ("VRDGLI85C41F257N", "VRDGLI85C41F257N"), ("x01031985", "x01031985")],
)
def test_a_weak_or_mismatched_pin_activates_nothing(client, world, ca, pin, confirm):
    certificate = register(world)
    _to_pin_step(client, certificate)
    response = client.post(reverse("activation:step"), {"pin": pin, "pin_confirm": confirm})
    assert response.status_code == 400
    assert response.context["form"].errors
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ISSUED
    assert not Holder.objects.get(pk=certificate.holder_id).user.has_usable_password()
    assert Activation.objects.get(certificate=certificate).state == ActivationState.DEVICE_READY
    # … and the holder can still finish.
    assert client.post(reverse("activation:step"), {"pin": PIN, "pin_confirm": PIN}).status_code == 302


def test_a_wrong_temporary_password_is_refused_and_five_kill_the_link(client, world, ca):
    certificate = register(world)
    link, temporary, _code = secrets_of(certificate)
    client.get(link)
    step = reverse("activation:step")
    response = client.post(step, {"temporary_password": "Non-E-Questa-1234"})
    assert response.status_code == 400 and "4" in str(response.context["form"].errors["temporary_password"])
    for _attempt in range(4):
        response = client.post(step, {"temporary_password": "Non-E-Questa-1234"})
    assert response.status_code == 400 and b'data-testid="activation-error"' in response.content
    assert Activation.objects.get(certificate=certificate).state == ActivationState.SPENT
    # Even the right password no longer helps, from the link or the session.
    assert Client().get(link).status_code == 400
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ISSUED


def test_a_weak_new_password_is_refused(client, world, ca):
    certificate = register(world)
    link, temporary, _code = secrets_of(certificate)
    client.get(link)
    step = reverse("activation:step")
    client.post(step, {"temporary_password": temporary})
    response = client.post(step, {"new_password": "password", "new_password_confirm": "password"})
    assert response.status_code == 400 and response.context["form"].errors["new_password"]
    response = client.post(step, {"new_password": temporary, "new_password_confirm": temporary})
    assert response.status_code == 400
    assert Activation.objects.get(certificate=certificate).state == ActivationState.PASSWORD_CHECKED


def test_an_expired_link_is_refused(client, world, ca):
    certificate = register(world)
    link, _temporary, _code = secrets_of(certificate)
    Activation.objects.filter(certificate=certificate).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(link)
    assert response.status_code == 400 and b'data-testid="activation-error"' in response.content
    assert reverse("activation:step") not in response.get("Location", "")


def test_a_resent_activation_kills_the_old_link_mid_way(client, world, ca):
    certificate = register(world)
    link, temporary, _code = secrets_of(certificate)
    client.get(link)
    activation_resend(certificate=certificate, actor=world.alpha.operator.user)
    response = client.post(reverse("activation:step"), {"temporary_password": temporary})
    assert response.status_code == 400 and b'data-testid="activation-error"' in response.content
    assert Client().get(link).status_code == 400
    new_link, new_temporary, _code = secrets_of(certificate)
    assert new_link != link
    other = Client()
    other.get(new_link)
    assert other.post(reverse("activation:step"), {"temporary_password": temporary}).status_code == 400
    assert other.post(reverse("activation:step"), {"temporary_password": new_temporary}).status_code == 302


def test_the_steps_cannot_be_skipped(client, world, ca):
    certificate = register(world)
    link, _temporary, _code = secrets_of(certificate)
    client.get(link)
    step = reverse("activation:step")
    # A PIN posted at the temporary-password step is just a wrong form for that step.
    assert client.post(step, {"pin": PIN, "pin_confirm": PIN}).status_code == 400
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ISSUED
    assert Client().get(step).status_code == 400  # no session bound to a link


def test_a_certificate_expired_at_its_deadline_says_so(client, world, ca):
    from certificates.services import certificate_expire
    from certificates.services.activation import _refused

    certificate = register(world)
    link, _temporary, _code = secrets_of(certificate)
    later = certificate.activation_deadline + timedelta(seconds=1)
    certificate_expire(certificate=certificate, now=later)
    response = client.get(link)
    assert response.status_code == 400
    assert response.context["error"] == _refused("expired").message
