"""Operator console: a holder's devices, assigning a token from stock by serial, unlocking a device."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.oath import hotp
from otp.services import device_create, device_verify
from tests.conftest import confirmed

pytestmark = pytest.mark.django_db
SEED = b"12345678901234567890"
SERIAL = "4000000000017"


@pytest.fixture
def stock_token(db):
    return device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, serial=SERIAL, state=DeviceState.AVAILABLE)


def assign(client, holder, serial):
    return client.post(reverse("console:token_assign", args=[holder.pk]), confirmed(client, {"serial": serial}),
                       follow=True)


def test_operator_assigns_a_token_by_serial_and_the_holder_can_use_it(world, operator_client, stock_token):
    holder = world.alpha.holder
    response = assign(operator_client, holder, "4000 0000 00017")
    assert SERIAL in response.content.decode()
    token = OtpDevice.objects.get(pk=stock_token.pk)
    assert token.holder == holder and token.state == DeviceState.ACTIVE
    assert device_verify(device=token, code=hotp(SEED, 0), purpose="test").ok
    assert AuditEvent.objects.filter(event_type="operator.otp_token_assigned").exists()
    assert holder.messages.filter(message_type="security_notice").exists()


@pytest.mark.parametrize("serial", ["123", "abcdefghijklm", "9999999999999", "", "4" * 50])
def test_bad_or_unknown_serials_are_explained_and_nothing_changes(world, operator_client, stock_token, serial):
    response = assign(operator_client, world.alpha.holder, serial)
    assert response.status_code == 200
    assert OtpDevice.objects.get(pk=stock_token.pk).state == DeviceState.AVAILABLE
    assert b"alert-danger" in response.content


def test_a_serial_already_assigned_is_refused(world, operator_client, stock_token):
    assign(operator_client, world.alpha.holder, SERIAL)
    response = assign(operator_client, world.alpha.holders[1], SERIAL)
    assert OtpDevice.objects.get(pk=stock_token.pk).holder == world.alpha.holder
    assert b"alert-danger" in response.content


def test_operator_cannot_assign_to_or_see_a_holder_of_another_organization(world, operator_client, stock_token):
    assert operator_client.post(reverse("console:token_assign", args=[world.beta.holder.pk]),
                                confirmed(operator_client, {"serial": SERIAL})).status_code == 404
    assert OtpDevice.objects.get(pk=stock_token.pk).holder is None


def test_operator_sees_the_devices_and_unlocks_a_locked_one(world, operator_client):
    device = device_create(kind=DeviceKind.APP_TOTP, seed=SEED, holder=world.alpha.holder)
    for _ in range(10):
        device_verify(device=device, code="000000", purpose="test")
    page = operator_client.get(reverse("console:holder_detail", args=[world.alpha.holder.pk]))
    assert page.context["devices"][0].is_locked
    url = reverse("console:device_unlock", args=[world.alpha.holder.pk, device.public_id])
    assert operator_client.post(url, confirmed(operator_client)).status_code == 302
    assert not OtpDevice.objects.get(pk=device.pk).is_locked


def test_foreign_and_malformed_device_ids_are_404(world, operator_client):
    foreign = device_create(kind=DeviceKind.APP_TOTP, seed=SEED, holder=world.beta.holder)
    for holder_id, device_id in [(world.alpha.holder.pk, foreign.public_id), (world.beta.holder.pk, foreign.public_id),
                                 (world.alpha.holder.pk, "not-a-uuid")]:
        url = reverse("console:device_unlock", args=[holder_id, device_id])
        assert operator_client.post(url, confirmed(operator_client)).status_code == 404


def test_organizations_without_hardware_tokens_cannot_assign_them(world, operator_client, stock_token):
    org = world.alpha.organization
    org.otp_hardware_allowed = False
    org.save()
    assign(operator_client, world.alpha.holder, SERIAL)
    assert OtpDevice.objects.get(pk=stock_token.pk).holder is None
