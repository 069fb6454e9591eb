"""OTP codes by SMS as a device: enrolment by the holder or resent by an operator, then step-up by SMS."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from notifications.models import Message
from notifications.tasks import message_deliver_task
from otp.models import DeviceKind, DeviceState, OtpDevice, SmsCode
from otp.services import device_create
from otp.stepup import STEPUP_SESSION_KEY
from tests.conftest import CODE_REPLAYED_IT, HOLDER_PASSWORD, OPERATOR_PASSWORD, login
from tests.notifications.backends import ScriptedSmsBackend

pytestmark = pytest.mark.django_db
SMS_URL = reverse("otp:sms_enrol")
STEPUP_URL = reverse("otp:stepup")


@pytest.fixture(autouse=True)
def scripted_sms(settings):
    settings.SMS_BACKEND = "tests.notifications.backends.ScriptedSmsBackend"
    ScriptedSmsBackend.script = []
    ScriptedSmsBackend.sent = []


def last_sms_code() -> str:
    message = Message.objects.filter(message_type="otp_sms_code").latest("pk")
    assert message_deliver_task(message.pk) == "sent"
    return re.search(r"\b(\d{6})\b", ScriptedSmsBackend.sent[-1].text).group(1)


def sms_device(holder) -> OtpDevice:
    return OtpDevice.objects.get(holder=holder, kind=DeviceKind.SMS)


def test_the_holder_turns_on_sms_codes_with_the_password_and_the_code_received(world, holder_client):
    holder = world.alpha.holder
    assert holder_client.post(SMS_URL, {"send": "1", "password": "wrong"}).status_code == 400
    assert not OtpDevice.objects.filter(holder=holder, kind=DeviceKind.SMS).exists()

    response = holder_client.post(SMS_URL, {"send": "1", "password": HOLDER_PASSWORD})
    assert response.status_code == 302 and sms_device(holder).state == DeviceState.PENDING
    code = last_sms_code()
    assert ScriptedSmsBackend.sent[-1].recipient == holder.mobile

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert holder_client.post(SMS_URL, {"confirm": "1", "code": wrong}).status_code == 400
    response = holder_client.post(SMS_URL, {"confirm": "1", "code": code})
    assert response.status_code == 302 and response["Location"] == reverse("panel:devices")
    assert sms_device(holder).state == DeviceState.ACTIVE
    assert Message.objects.filter(holder=holder, message_type="security_notice").exists()


def test_an_enrolment_code_already_used_reads_already_used(world, holder_client):
    holder = world.alpha.holder
    holder_client.post(SMS_URL, {"send": "1", "password": HOLDER_PASSWORD})
    code = last_sms_code()
    assert holder_client.post(SMS_URL, {"confirm": "1", "code": code}).status_code == 302
    OtpDevice.objects.filter(pk=sms_device(holder).pk).update(state=DeviceState.PENDING)  # to be confirmed again

    response = holder_client.post(SMS_URL, {"confirm": "1", "code": code})

    assert response.status_code == 400 and response.context["code_form"].errors["code"] == [CODE_REPLAYED_IT]


def test_an_operator_resends_the_sms_enrolment_and_it_is_audited(world):
    holder = world.alpha.holder
    operator = Client()
    login(operator, world.alpha.operator.user.username, OPERATOR_PASSWORD, portal="console")
    url = reverse("console:sms_enrolment_send", args=[holder.pk])
    detail = operator.get(reverse("console:holder_detail", args=[holder.pk])).content.decode()
    assert url in detail

    assert operator.post(url).status_code == 302
    first = last_sms_code()
    SmsCode.objects.update(created_at=SmsCode.objects.get().created_at.replace(year=2020))  # past the cooldown
    assert operator.post(url).status_code == 302
    second = last_sms_code()
    assert OtpDevice.objects.filter(holder=holder, kind=DeviceKind.SMS).count() == 1
    assert AuditEvent.objects.filter(event_type="otp.sms_enrolment_sent", actor_id=world.alpha.operator.user_id) \
        .count() == 2

    holder_client = Client()
    login(holder_client, holder.user.username, HOLDER_PASSWORD)
    assert holder_client.post(SMS_URL, {"confirm": "1", "code": first}).status_code == 400 or first == second
    assert holder_client.post(SMS_URL, {"confirm": "1", "code": second}).status_code == 302
    assert sms_device(holder).state == DeviceState.ACTIVE


def test_an_operator_of_another_organization_cannot_send_it(world):
    operator = Client()
    login(operator, world.beta.operator.user.username, OPERATOR_PASSWORD, portal="console")
    response = operator.post(reverse("console:sms_enrolment_send", args=[world.alpha.holder.pk]))
    assert response.status_code == 404
    assert not OtpDevice.objects.filter(kind=DeviceKind.SMS).exists()


def test_sms_enrolment_is_refused_where_the_organization_does_not_use_sms(world, holder_client):
    world.alpha.organization.otp_sms_allowed = False
    world.alpha.organization.save()
    holder_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = holder_client.get(SMS_URL).content.decode()
    assert "does not use OTP codes by SMS" in page
    assert holder_client.post(SMS_URL, {"send": "1", "password": HOLDER_PASSWORD}).status_code == 200
    assert not OtpDevice.objects.filter(kind=DeviceKind.SMS).exists()


@pytest.fixture
def sms_active(world):
    return device_create(kind=DeviceKind.SMS, holder=world.alpha.holder)


def test_step_up_by_sms_grants_only_the_operation_the_code_was_sent_for(world, holder_client, sms_active):
    page = holder_client.get(STEPUP_URL, {"operation": "change_email", "next": "/utenza/email/"}).content.decode()
    assert 'value="sms"' in page
    holder_client.post(STEPUP_URL, {"operation": "certificate_revoke", "next": "/", "send_sms": "1"})
    revoke_code = last_sms_code()
    # A code sent for "revoke" does not confirm "change e-mail".
    response = holder_client.post(STEPUP_URL, {"operation": "change_email", "next": "/utenza/email/",
                                               "device": "sms", "code": revoke_code})
    assert response.status_code == 400 and STEPUP_SESSION_KEY not in holder_client.session
    holder_client.post(STEPUP_URL, {"operation": "change_email", "next": "/utenza/email/", "send_sms": "1"})
    code = last_sms_code()
    response = holder_client.post(STEPUP_URL, {"operation": "change_email", "next": "/utenza/email/",
                                               "device": "sms", "code": code})
    assert response.status_code == 302 and set(holder_client.session[STEPUP_SESSION_KEY]) == {"change_email"}
    # Used once: the same code again reads "already used", like a device's.
    again = holder_client.post(STEPUP_URL, {"operation": "change_email", "next": "/utenza/email/",
                                            "device": "sms", "code": code})
    assert again.status_code == 400 and again.context["form"].errors["code"] == [CODE_REPLAYED_IT]


def test_step_up_does_not_offer_sms_before_it_is_confirmed(world, holder_client):
    device_create(kind=DeviceKind.SMS, holder=world.alpha.holder, state=DeviceState.PENDING)
    page = holder_client.get(STEPUP_URL, {"operation": "change_email"}).content.decode()
    assert 'value="sms"' not in page
    response = holder_client.post(STEPUP_URL, {"operation": "change_email", "send_sms": "1"})
    assert not SmsCode.objects.exists() and response.status_code == 400


def test_step_up_sms_cooldown_is_a_message_not_an_error_page(world, holder_client, sms_active):
    holder_client.post(STEPUP_URL, {"operation": "change_email", "send_sms": "1"})
    holder_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = holder_client.post(STEPUP_URL, {"operation": "change_email", "send_sms": "1"})
    assert response.status_code == 400 and "ask for another one" in response.content.decode()
    assert SmsCode.objects.count() == 1
