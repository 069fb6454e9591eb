"""SMS through Twilio: the real ``twilio`` client against a local stub of the Messages API, and the
signed status callback that reports delivery."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from audit.models import AuditEvent
from notifications.backends import Outgoing, PermanentDeliveryError, TransientDeliveryError
from notifications.backends import twilio as twilio_backend
from notifications.backends.twilio import TwilioSmsBackend
from notifications.models import Channel, DeliveryStatus, Message, MessageStatus
from notifications.services import message_enqueue
from notifications.tasks import message_deliver_task
from tests.stubs import Reply, TwilioStub

pytestmark = pytest.mark.django_db

CALLBACK_URL = "https://firma.example.org/notifiche/twilio/stato/"


def outgoing(to: str = "+393471000001", text: str = "Firma remota: la password è stata cambiata.") -> Outgoing:
    return Outgoing(public_id=str(uuid.uuid4()), recipient=to, subject="", text=text, html="")


# --- the backend ----------------------------------------------------------------------------------


def test_a_sent_sms_returns_twilios_sid_and_twilio_saw_to_body_from_and_the_callback(twilio_stub):
    sid = TwilioSmsBackend().send(outgoing(), status_callback=CALLBACK_URL)

    assert sid.startswith("SM") and len(sid) == 34
    [request] = twilio_stub.accepted
    assert request.sid == sid
    assert request.path == f"/2010-04-01/Accounts/{twilio_stub.account_sid}/Messages.json"
    assert request.authorized
    assert request.form == {
        "To": "+393471000001",
        "Body": "Firma remota: la password è stata cambiata.",
        "From": twilio_stub.sender,
        "StatusCallback": CALLBACK_URL,
    }


def test_without_a_callback_url_none_is_sent(twilio_stub):
    TwilioSmsBackend().send(outgoing(), status_callback=None)
    assert "StatusCallback" not in twilio_stub.accepted[0].form


def test_a_messaging_service_sid_is_sent_as_such_rather_than_as_a_sender_number(twilio_stub, settings):
    settings.TWILIO_FROM = "MG" + "a" * 32
    TwilioSmsBackend().send(outgoing(), status_callback=None)
    form = twilio_stub.accepted[0].form
    assert form["MessagingServiceSid"] == "MG" + "a" * 32
    assert "From" not in form


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (429, "Twilio error 20429 (HTTP 429)"),
        (503, "Twilio error 20503 (HTTP 503)"),
        (500, "Twilio error 20500 (HTTP 500)"),
        (502, "(HTTP 502)"),  # an HTML page from a gateway, not Twilio's JSON
    ],
)
def test_rate_limits_and_server_errors_are_transient(twilio_stub, answer, expected):
    twilio_stub.script([answer])
    with pytest.raises(TransientDeliveryError) as caught:
        TwilioSmsBackend().send(outgoing(), status_callback=None)
    assert expected in caught.value.message
    assert twilio_stub.auth_token not in caught.value.message
    assert twilio_stub.accepted == []


def test_an_invalid_number_is_permanent_and_the_error_names_twilios_code_and_message(twilio_stub):
    twilio_stub.script([21211])
    with pytest.raises(PermanentDeliveryError) as caught:
        TwilioSmsBackend().send(outgoing(to="+3900"), status_callback=None)
    message = caught.value.message
    assert "21211" in message and "HTTP 400" in message
    assert "The 'To' number +3900 is not a valid phone number." in message
    assert twilio_stub.auth_token not in message


@pytest.mark.parametrize("code", [21610, 21614])
def test_an_unsubscribed_or_landline_recipient_is_permanent(twilio_stub, code):
    twilio_stub.script([code])
    with pytest.raises(PermanentDeliveryError, match=str(code)):
        TwilioSmsBackend().send(outgoing(), status_callback=None)


def test_other_client_errors_are_permanent(twilio_stub):
    twilio_stub.script([Reply(400, code=21620, message="Invalid media URL(s)")])
    with pytest.raises(PermanentDeliveryError, match="21620"):
        TwilioSmsBackend().send(outgoing(), status_callback=None)


def test_a_wrong_auth_token_is_permanent_and_never_recorded(twilio_stub, settings):
    settings.TWILIO_AUTH_TOKEN = "wrong-" + uuid.uuid4().hex
    with pytest.raises(PermanentDeliveryError) as caught:
        TwilioSmsBackend().send(outgoing(), status_callback=None)
    assert "20003" in caught.value.message and "HTTP 401" in caught.value.message
    assert settings.TWILIO_AUTH_TOKEN not in caught.value.message
    assert twilio_stub.requests[0].authorized is False


def test_a_provider_slower_than_the_timeout_is_transient(twilio_stub, monkeypatch):
    monkeypatch.setattr(twilio_backend, "HTTP_TIMEOUT_SECONDS", 0.5)
    twilio_stub.script([Reply(201, delay=3)])
    with pytest.raises(TransientDeliveryError, match="no answer within 0.5 s"):
        TwilioSmsBackend().send(outgoing(), status_callback=None)


def test_an_unreachable_provider_is_transient(settings):
    stopped = TwilioStub().start()
    stopped.stop()  # nothing listens on its port any more
    for name, value in stopped.settings().items():
        setattr(settings, name, value)
    with pytest.raises(TransientDeliveryError, match="Twilio unreachable: ConnectionError"):
        TwilioSmsBackend().send(outgoing(), status_callback=None)
    assert stopped.auth_token not in str(stopped.requests)


def test_missing_configuration_is_permanent(settings):
    settings.TWILIO_ACCOUNT_SID = ""
    with pytest.raises(PermanentDeliveryError, match="not configured"):
        TwilioSmsBackend().send(outgoing(), status_callback=None)


# --- the status callback --------------------------------------------------------------------------


@pytest.fixture
def site(settings):
    """The public address Twilio calls back, different from the test client's host on purpose."""
    settings.SITE_URL = "https://firma.example.org"
    settings.TWILIO_AUTH_TOKEN = uuid.uuid4().hex
    return settings


def sent_sms(holder, sid: str | None = None) -> Message:
    return Message.objects.create(
        idempotency_key=f"test:{uuid.uuid4()}", organization=holder.organization, holder=holder,
        channel=Channel.SMS, recipient=holder.mobile, message_type="security_notice", language="it",
        body_text="Firma remota: la password è stata cambiata.", status=MessageStatus.SENT, attempts=1,
        provider_message_id=sid or "SM" + uuid.uuid4().hex, sent_at=timezone.now(),
    )


def callback(client, params: dict[str, str], *, token: str | None = None, url: str | None = None,
             signature: str | None = None):
    """POST ``params`` to the callback, signed like Twilio signs (unless told otherwise)."""
    from django.conf import settings

    path = reverse("notifications:twilio_status")
    if signature is None:
        signed_url = url or settings.SITE_URL + path
        signature = RequestValidator(token or settings.TWILIO_AUTH_TOKEN).compute_signature(signed_url, params)
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature} if signature else {}
    return client.post(path, params, **headers)


def report(message: Message, status: str, **extra: str) -> dict[str, str]:
    return {"MessageSid": message.provider_message_id, "SmsSid": message.provider_message_id,
            "AccountSid": "AC" + "0" * 32, "MessageStatus": status, "SmsStatus": status,
            "To": message.recipient, "From": "+15005550006", "ApiVersion": "2010-04-01", **extra}


def test_the_callback_is_at_its_public_path():
    assert reverse("notifications:twilio_status") == "/notifiche/twilio/stato/"


def test_a_signed_delivered_report_marks_the_sms_delivered_without_an_audit_row(client, world, site):
    message = sent_sms(world.alpha.holder)
    response = callback(client, report(message, "delivered"))
    assert response.status_code == 204
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DELIVERED
    assert message.status == MessageStatus.SENT and message.last_error == ""
    assert not AuditEvent.objects.filter(event_type__startswith="notification.").exists()


@pytest.mark.parametrize(("status", "expected"), [("undelivered", DeliveryStatus.UNDELIVERED),
                                                  ("failed", DeliveryStatus.FAILED)])
def test_an_undelivered_or_failed_report_keeps_the_error_code_and_is_audited_once(
    client, world, site, status, expected
):
    message = sent_sms(world.alpha.holder)
    for _ in range(2):  # Twilio may report the same status twice
        response = callback(client, report(message, status, ErrorCode="30003"))
        assert response.status_code == 204
    message.refresh_from_db()
    assert message.delivery_status == expected
    assert "30003" in message.last_error and status in message.last_error
    [event] = AuditEvent.objects.filter(event_type=f"notification.{status}")
    assert event.outcome == "failure" and event.subject_id == str(message.pk)
    assert event.organization_id == world.alpha.organization.pk
    assert event.details["provider_error"] == "30003"


@pytest.mark.parametrize("status", ["queued", "sending", "sent", "accepted"])
def test_intermediate_statuses_are_acknowledged_and_ignored(client, world, site, status):
    message = sent_sms(world.alpha.holder)
    response = callback(client, report(message, status))
    assert response.status_code == 204
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.UNKNOWN


@pytest.mark.parametrize(
    "forge",
    [
        {"signature": ""},  # no X-Twilio-Signature at all
        {"signature": "bm90IGEgc2lnbmF0dXJl"},
        {"token": "not-the-auth-token"},
        {"url": "http://testserver/notifiche/twilio/stato/"},  # signed for another address than SITE_URL
    ],
    ids=["missing", "garbage", "wrong-token", "wrong-url"],
)
def test_a_missing_or_invalid_signature_is_refused_and_changes_nothing(client, world, site, forge):
    message = sent_sms(world.alpha.holder)
    response = callback(client, report(message, "failed", ErrorCode="30003"), **forge)
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/plain")
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.UNKNOWN and message.last_error == ""
    assert not AuditEvent.objects.filter(event_type__startswith="notification.").exists()


def test_a_tampered_parameter_breaks_the_signature(client, world, site):
    message = sent_sms(world.alpha.holder)
    params = report(message, "delivered")
    signature = RequestValidator(site.TWILIO_AUTH_TOKEN).compute_signature(
        site.SITE_URL + reverse("notifications:twilio_status"), params
    )
    response = callback(client, {**params, "MessageStatus": "failed"}, signature=signature)
    assert response.status_code == 403


def test_without_an_auth_token_configured_every_callback_is_refused(client, world, site):
    message = sent_sms(world.alpha.holder)
    params = report(message, "delivered")
    signature = RequestValidator("").compute_signature(site.SITE_URL + reverse("notifications:twilio_status"), params)
    site.TWILIO_AUTH_TOKEN = ""
    assert callback(client, params, signature=signature).status_code == 403


def test_an_unknown_message_sid_is_404_in_plain_text(client, world, site):
    ghost = Message(provider_message_id="SM" + uuid.uuid4().hex, recipient="+393471000001")
    response = callback(client, report(ghost, "delivered"))
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/plain")
    assert not response.content.lstrip().startswith((b"{", b"<"))


def test_an_email_is_never_touched_by_an_sms_report(client, world, site):
    message = sent_sms(world.alpha.holder)
    Message.objects.filter(pk=message.pk).update(channel=Channel.EMAIL)
    assert callback(client, report(message, "delivered")).status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"MessageSid": "garbage", "MessageStatus": "delivered"},
        {"MessageSid": "SM" + "0" * 32},
        {"MessageSid": "SM" + "0" * 32, "MessageStatus": "DELIVERED<script>"},
        {"MessageSid": "SM" + "0" * 32, "MessageStatus": "failed", "ErrorCode": "thirty"},
        {"MessageSid": "SM" + "0" * 32 + "\x00", "MessageStatus": "delivered"},
    ],
    ids=["empty", "bad-sid", "no-status", "bad-status", "bad-error-code", "nul"],
)
def test_signed_garbage_is_400(client, world, site, params):
    message = sent_sms(world.alpha.holder, sid="SM" + "0" * 32)
    response = callback(client, params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.UNKNOWN


def test_a_body_that_cannot_be_parsed_is_400(client, site):
    response = client.post(
        reverse("notifications:twilio_status"), b"MessageSid=SM1&MessageStatus=delivered",
        content_type="multipart/form-data; boundary=\x7f", HTTP_X_TWILIO_SIGNATURE="x",
    )
    assert response.status_code == 400


def test_only_post_is_allowed(client, site):
    assert client.get(reverse("notifications:twilio_status")).status_code == 405


def test_the_callback_needs_no_csrf_token(world, site):
    from django.test import Client

    message = sent_sms(world.alpha.holder)
    strict = Client(enforce_csrf_checks=True)
    assert callback(strict, report(message, "delivered")).status_code == 204


# --- end to end in one process: task → stub → callback ------------------------------------------


def test_a_delivered_sms_goes_through_the_stub_and_its_report_comes_back(client, world, site, twilio_stub):
    for name, value in twilio_stub.settings().items():  # `site` changed the token: use the stub's again
        setattr(site, name, value)
    site.SMS_STATUS_CALLBACK = True
    holder = world.alpha.holder
    message = message_enqueue(
        message_type="security_notice", channel=Channel.SMS, recipient=holder.mobile, holder=holder,
        context={"holder_name": holder.full_name, "event_text": "Password changed.", "occurred_at": timezone.now()},
        idempotency_key="twilio-roundtrip",
    )
    assert message_deliver_task(message.pk) == "sent"
    message.refresh_from_db()
    [request] = twilio_stub.accepted
    assert message.provider_message_id == request.sid
    assert request.form["StatusCallback"] == "https://firma.example.org/notifiche/twilio/stato/"
    assert request.form["To"] == holder.mobile

    assert callback(client, report(message, "delivered")).status_code == 204
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DELIVERED
