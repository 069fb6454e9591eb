"""Change e-mail / change phone from the panel: OTP, password, proof of the new contact."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from unittest import mock
from urllib.parse import urlsplit

import pytest
from django.core import mail, signing
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import ContactKind, ContactOwnership, Holder
from accounts.services.contacts import EMAIL_LINK_SALT
from audit.models import AuditEvent
from notifications.models import Channel, Message
from notifications.tasks import message_deliver_task
from otp.models import DeviceKind, SmsCode
from otp.oath import totp
from otp.services import device_create
from otp.stepup import STEPUP_SESSION_KEY
from tests.conftest import CODE_REPLAYED_IT, HOLDER_PASSWORD
from tests.notifications.backends import ScriptedSmsBackend

pytestmark = pytest.mark.django_db
SEED = b"12345678901234567890"
EMAIL_URL = reverse("panel:email")
PHONE_URL = reverse("panel:phone")
PHONE_CONFIRM_URL = reverse("panel:phone_confirm")
NEW_EMAIL = "mario.nuovo@example.org"
NEW_MOBILE = "+393479999999"


def grant(client, operation: str) -> None:
    session = client.session
    session[STEPUP_SESSION_KEY] = {**session.get(STEPUP_SESSION_KEY, {}), operation: int(time.time()) + 300}
    session.save()


@pytest.fixture
def english(holder_client):
    """The holder's pages in English (the language follows the session/account, not the test thread)."""
    holder_client.post(reverse("accounts:language"), {"language": "en", "next": "/"})
    with translation.override("en"):
        yield holder_client


@pytest.fixture
def scripted_sms(settings):
    settings.SMS_BACKEND = "tests.notifications.backends.ScriptedSmsBackend"
    ScriptedSmsBackend.script = []
    ScriptedSmsBackend.sent = []
    return ScriptedSmsBackend


def deliver_latest(**filters) -> Message:
    message = Message.objects.filter(**filters).latest("pk")
    assert message_deliver_task(message.pk) == "sent"
    return message


def confirmation_link() -> str:
    deliver_latest(message_type="email_change_confirm")
    body = mail.outbox[-1].body
    match = re.search(r"https?://\S+/utenza/email/conferma/\S+/", body)
    assert match, body
    return urlsplit(match.group(0)).path


def request_email_change(client, email=NEW_EMAIL, password=HOLDER_PASSWORD):
    grant(client, "change_email")
    return client.post(EMAIL_URL, {"current_password": password, "new_email": email})


def audit_types(holder) -> list[str]:
    return list(AuditEvent.objects.filter(organization_id=holder.organization_id).values_list("event_type", flat=True))


# ---------------------------------------------------------------------------------------- step-up


@pytest.mark.parametrize(("url", "operation"), [(EMAIL_URL, "change_email"), (PHONE_URL, "change_phone"),
                                                (PHONE_CONFIRM_URL, "change_phone")])
def test_the_pages_ask_for_an_otp_first(holder_client, url, operation):
    response = holder_client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("otp:stepup")) and f"operation={operation}" in response["Location"]


def test_a_real_otp_opens_the_email_form(world, holder_client):
    device = device_create(kind=DeviceKind.APP_TOTP, seed=SEED, holder=world.alpha.holder)
    response = holder_client.post(reverse("otp:stepup"), {
        "device": str(device.public_id), "code": totp(SEED, time.time()), "operation": "change_email",
        "next": EMAIL_URL,
    })
    assert response["Location"] == EMAIL_URL
    page = holder_client.get(EMAIL_URL)
    assert page.status_code == 200 and 'name="new_email"' in page.content.decode()
    # the grant is for the e-mail only
    assert holder_client.get(PHONE_URL).status_code == 302


def test_the_pages_need_a_holder_login(world, client):
    for url in (EMAIL_URL, PHONE_URL, PHONE_CONFIRM_URL, reverse("panel:email_confirm", args=["x"])):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))


# ----------------------------------------------------------------------------------------- refusals


def test_a_wrong_password_is_refused_and_audited(world, holder_client, english):
    response = request_email_change(holder_client, password="not-my-password")
    assert response.status_code == 400
    assert "The password is not correct." in response.context["form"].errors["current_password"]
    assert not Message.objects.filter(message_type="email_change_confirm").exists()
    assert "panel.password_reentry_failed" in audit_types(world.alpha.holder)

    grant(holder_client, "change_phone")
    response = holder_client.post(PHONE_URL, {"current_password": "nope", "new_mobile": NEW_MOBILE})
    assert response.status_code == 400
    assert not Message.objects.filter(message_type="otp_sms_code").exists()


def test_someone_elses_email_is_refused_with_the_uniqueness_message(world, holder_client, english):
    response = request_email_change(holder_client, email=world.beta.holder.email.upper())
    assert response.status_code == 400
    assert "already associated with another person" in " ".join(response.context["form"].errors["new_email"])
    assert not Message.objects.filter(message_type="email_change_confirm").exists()


def test_someone_elses_mobile_is_refused_with_the_uniqueness_message(world, holder_client, english):
    grant(holder_client, "change_phone")
    response = holder_client.post(PHONE_URL, {
        "current_password": HOLDER_PASSWORD, "new_mobile": world.alpha.holders[1].mobile,
    })
    assert response.status_code == 400
    assert "already associated with another person" in " ".join(response.context["form"].errors["new_mobile"])
    assert not Message.objects.filter(message_type="otp_sms_code").exists()


def test_the_up_front_check_keeps_no_claim(world, holder_client):
    request_email_change(holder_client)
    assert not ContactOwnership.objects.filter(kind=ContactKind.EMAIL, value=NEW_EMAIL).exists()


@pytest.mark.parametrize(("field", "url", "value"), [
    ("new_email", EMAIL_URL, "not-an-address"), ("new_mobile", PHONE_URL, "12"), ("new_mobile", PHONE_URL, "x" * 40),
])
def test_malformed_values_are_a_form_error(world, holder_client, field, url, value):
    grant(holder_client, "change_email" if url == EMAIL_URL else "change_phone")
    response = holder_client.post(url, {"current_password": HOLDER_PASSWORD, field: value})
    assert response.status_code == 400 and response.context["form"].errors[field]


# ------------------------------------------------------------------------------------------ e-mail


def test_email_change_end_to_end(world, holder_client, english):
    holder = world.alpha.holder
    old_email = holder.email
    response = request_email_change(holder_client, email="  Mario.Nuovo@Example.ORG ")
    assert response.status_code == 200 and NEW_EMAIL in response.content.decode()
    assert f"stays {old_email}." in response.content.decode()
    assert "change_email" not in holder_client.session.get(STEPUP_SESSION_KEY, {})  # one OTP, one request

    message = Message.objects.get(message_type="email_change_confirm")
    assert message.recipient == NEW_EMAIL and message.channel == Channel.EMAIL
    assert "/utenza/email/conferma/" not in message.body_text  # the link is sealed
    link = confirmation_link()
    assert mail.outbox[-1].to == [NEW_EMAIL]
    holder.refresh_from_db()  # nothing changed yet
    assert holder.email == old_email

    response = holder_client.get(link)
    assert response.status_code == 302 and response["Location"] == reverse("panel:profile")
    holder.refresh_from_db()
    assert holder.email == NEW_EMAIL
    notices = Message.objects.filter(message_type="security_notice")
    assert {m.recipient for m in notices} == {NEW_EMAIL, old_email}
    assert "holder.contacts_changed" in audit_types(holder)
    assert "holder.email_change_requested" in audit_types(holder)
    assert ContactOwnership.objects.filter(kind=ContactKind.EMAIL, value=NEW_EMAIL,
                                           codice_fiscale=holder.codice_fiscale).exists()
    assert not ContactOwnership.objects.filter(kind=ContactKind.EMAIL, value=old_email).exists()

    again = holder_client.get(link)
    assert again.status_code == 400
    assert "no longer valid" in again.content.decode()


def test_a_link_stops_working_once_a_later_one_is_used(world, holder_client):
    request_email_change(holder_client, email="primo@example.org")
    first = confirmation_link()
    request_email_change(holder_client, email="secondo@example.org")
    second = confirmation_link()
    assert holder_client.get(second).status_code == 302
    assert holder_client.get(first).status_code == 400
    holder = Holder.objects.get(pk=world.alpha.holder.pk)
    assert holder.email == "secondo@example.org"


@pytest.mark.parametrize("token", [
    "garbage", "a" * 300, "..", signing.dumps({"h": 1, "e": "x@example.org"}, salt="another-salt"),
])
def test_forged_or_malformed_links_are_a_400(world, holder_client, english, token):
    response = holder_client.get(reverse("panel:email_confirm", args=[token]))
    assert response.status_code == 400 and "not valid" in response.content.decode()
    assert Holder.objects.get(pk=world.alpha.holder.pk).email == world.alpha.holder.email


def test_a_tampered_payload_is_refused(world, holder_client):
    holder = world.alpha.holder
    token = signing.dumps({"h": holder.pk, "e": NEW_EMAIL, "o": holder.email,
                           "v": holder.updated_at.isoformat(), "n": "x"}, salt=EMAIL_LINK_SALT, compress=True)
    head, _, tail = token.rpartition(":")
    forged = f"{head}:{'A' if tail[0] != 'A' else 'B'}{tail[1:]}"
    assert holder_client.get(reverse("panel:email_confirm", args=[forged])).status_code == 400


def test_an_expired_link_is_a_400(world, holder_client, english):
    request_email_change(holder_client)
    link = confirmation_link()
    later = time.time() + 24 * 3600 + 5
    with mock.patch("django.core.signing.time.time", return_value=later), translation.override("en"):
        response = holder_client.get(link)
    assert response.status_code == 400 and "expired" in response.content.decode()
    assert Holder.objects.get(pk=world.alpha.holder.pk).email != NEW_EMAIL


def test_another_holders_link_does_not_work(world, holder_client, client):
    request_email_change(holder_client)
    link = confirmation_link()
    holder_client.logout()
    other = world.alpha.holders[1]
    client.post(reverse("accounts:login"), {"username": other.user.username, "password": HOLDER_PASSWORD})
    assert client.get(link).status_code == 400
    assert Holder.objects.get(pk=other.pk).email == other.email


def test_a_contact_taken_meanwhile_is_refused_at_the_link(world, holder_client, english):
    request_email_change(holder_client)
    link = confirmation_link()
    ContactOwnership.objects.create(kind=ContactKind.EMAIL, value=NEW_EMAIL, codice_fiscale="NRELCU82D52B819G")
    response = holder_client.get(link)
    assert response.status_code == 400 and "another person" in response.content.decode()


# ------------------------------------------------------------------------------------------- phone


def sms_code() -> str:
    deliver_latest(message_type="otp_sms_code")
    text = ScriptedSmsBackend.sent[-1].text
    return re.search(r"\b(\d{6})\b", text).group(1)


def test_phone_change_end_to_end(world, holder_client, scripted_sms):
    holder = world.alpha.holder
    old_mobile = holder.mobile
    grant(holder_client, "change_phone")
    response = holder_client.post(PHONE_URL, {"current_password": HOLDER_PASSWORD, "new_mobile": "+39 347 999 9999"})
    assert response.status_code == 302 and response["Location"] == PHONE_CONFIRM_URL
    code = sms_code()
    assert scripted_sms.sent[-1].recipient == NEW_MOBILE
    page = holder_client.get(PHONE_CONFIRM_URL)
    assert page.status_code == 200 and NEW_MOBILE in page.content.decode()

    response = holder_client.post(PHONE_CONFIRM_URL, {"code": code})
    assert response.status_code == 302 and response["Location"] == reverse("panel:profile")
    holder.refresh_from_db()
    assert holder.mobile == NEW_MOBILE
    assert "change_phone" not in holder_client.session.get(STEPUP_SESSION_KEY, {})
    notices = Message.objects.filter(message_type="security_notice")
    assert {(m.channel, m.recipient) for m in notices} == {(Channel.EMAIL, holder.email), (Channel.SMS, old_mobile)}
    types = audit_types(holder)
    assert "holder.contacts_changed" in types and "otp.sms_code_verified" in types
    # the flow is over: the confirm page needs a new OTP
    assert holder_client.get(PHONE_CONFIRM_URL).status_code == 302


def test_a_wrong_code_is_refused_and_may_be_retried(world, holder_client, english, scripted_sms):
    grant(holder_client, "change_phone")
    holder_client.post(PHONE_URL, {"current_password": HOLDER_PASSWORD, "new_mobile": NEW_MOBILE})
    code = sms_code()
    wrong = "000000" if code != "000000" else "111111"
    response = holder_client.post(PHONE_CONFIRM_URL, {"code": wrong})
    assert response.status_code == 400
    assert "not correct" in " ".join(response.context["form"].errors["code"])
    assert holder_client.post(PHONE_CONFIRM_URL, {"code": code}).status_code == 302
    assert Holder.objects.get(pk=world.alpha.holder.pk).mobile == NEW_MOBILE


def test_a_code_already_used_says_already_used_and_is_not_counted(world, holder_client, scripted_sms):
    grant(holder_client, "change_phone")
    holder_client.post(PHONE_URL, {"current_password": HOLDER_PASSWORD, "new_mobile": NEW_MOBILE})
    used = sms_code()
    assert holder_client.post(PHONE_CONFIRM_URL, {"code": used}).status_code == 302
    SmsCode.objects.update(created_at=timezone.now() - timedelta(minutes=1))  # past the resend cooldown
    grant(holder_client, "change_phone")
    holder_client.post(PHONE_URL, {"current_password": HOLDER_PASSWORD, "new_mobile": "+393478888888"})
    fresh = sms_code()
    if fresh == used:  # one chance in a million: the replay would be the live code
        return

    response = holder_client.post(PHONE_CONFIRM_URL, {"code": used})

    assert response.status_code == 400 and response.context["form"].errors["code"] == [CODE_REPLAYED_IT]
    assert SmsCode.objects.latest("created_at").attempts == 0
    assert holder_client.post(PHONE_CONFIRM_URL, {"code": fresh}).status_code == 302


def test_the_code_is_bound_to_the_new_number(world, holder_client, scripted_sms):
    grant(holder_client, "change_phone")
    holder_client.post(PHONE_URL, {"current_password": HOLDER_PASSWORD, "new_mobile": NEW_MOBILE})
    code = sms_code()
    session = holder_client.session  # the pending number swapped behind the code's back
    session["contacts_phone_pending"] = {**session["contacts_phone_pending"], "mobile": "+393478888888"}
    session.save()
    assert holder_client.post(PHONE_CONFIRM_URL, {"code": code}).status_code == 400
    assert Holder.objects.get(pk=world.alpha.holder.pk).mobile == world.alpha.holder.mobile


def test_asking_again_too_soon_shows_the_cooldown(world, holder_client, english, scripted_sms):
    grant(holder_client, "change_phone")
    holder_client.post(PHONE_URL, {"current_password": HOLDER_PASSWORD, "new_mobile": NEW_MOBILE})
    response = holder_client.post(PHONE_CONFIRM_URL, {"resend": "1"})
    assert response.status_code == 400
    assert "You can ask for another one in" in response.context["resend_error"]


def test_the_confirm_page_without_a_pending_number_goes_back(world, holder_client):
    grant(holder_client, "change_phone")
    response = holder_client.get(PHONE_CONFIRM_URL)
    assert response.status_code == 302 and response["Location"] == PHONE_URL


def test_an_expired_pending_number_goes_back(world, holder_client, scripted_sms):
    grant(holder_client, "change_phone")
    holder_client.post(PHONE_URL, {"current_password": HOLDER_PASSWORD, "new_mobile": NEW_MOBILE})
    session = holder_client.session
    session["contacts_phone_pending"] = {**session["contacts_phone_pending"], "until": int(time.time()) - 1}
    session.save()
    assert holder_client.post(PHONE_CONFIRM_URL, {"code": "123456"})["Location"] == PHONE_URL
