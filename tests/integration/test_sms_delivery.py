"""SMS through Twilio with a real worker process: the worker runs the real ``twilio`` client against the
local stub of the Messages API (this process serves it), with back-off shortened to 1–2 seconds."""

from __future__ import annotations

import time

import pytest
from django.db import transaction
from django.utils import timezone

from notifications.catalog import SECURITY_EVENTS
from notifications.models import Channel, Message, MessageStatus
from notifications.services import message_enqueue
from tests.integration.conftest import eventually

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def enqueue_security_sms(holder, key: str) -> Message:
    """What a security notice to a (previous) mobile number queues, committed so the worker gets it."""
    with transaction.atomic():
        return message_enqueue(
            message_type="security_notice",
            channel=Channel.SMS,
            recipient=holder.mobile,
            context={"holder_name": holder.full_name, "event_text": SECURITY_EVENTS["phone_changed"],
                     "occurred_at": timezone.localtime()},
            language=holder.user.preferred_language,
            holder=holder,
            idempotency_key=key,
        )


def test_twice_503_then_accepted_gives_one_sms_sent_after_back_off(world, worker_process, twilio_stub):
    twilio_stub.script([503, 503, 201])
    worker_process.start(*twilio_stub.worker_env())
    holder = world.alpha.holder

    message = enqueue_security_sms(holder, "sms-503-503-201")

    sent = eventually(lambda: Message.objects.get(pk=message.pk).status == MessageStatus.SENT, timeout=30)
    message.refresh_from_db()
    # A retry is queued by the worker itself: it must come back to this test's queue.
    assert sent, (message.status, message.attempts, message.last_error, [r.status for r in twilio_stub.requests])
    assert message.attempts == 3
    assert message.last_error == ""
    assert [request.status for request in twilio_stub.requests] == [503, 503, 201]
    [accepted] = twilio_stub.accepted
    assert message.provider_message_id == accepted.sid
    assert accepted.form["To"] == holder.mobile
    assert accepted.form["From"] == twilio_stub.sender
    assert accepted.form["Body"] == message.body_text
    time.sleep(2)  # a late duplicate of a retry, if any, would reach the stub within the back-off ceiling
    assert len(twilio_stub.requests) == 3


def test_an_invalid_number_gives_a_dead_message_with_the_error_and_no_retry(
    world, worker_process, twilio_stub
):
    twilio_stub.script([21211])
    worker_process.start(*twilio_stub.worker_env())

    message = enqueue_security_sms(world.alpha.holder, "sms-21211")

    assert eventually(lambda: Message.objects.get(pk=message.pk).status == MessageStatus.DEAD, timeout=30)
    message.refresh_from_db()
    assert message.attempts == 1
    assert "21211" in message.last_error and "is not a valid phone number" in message.last_error
    assert twilio_stub.auth_token not in message.last_error
    assert message.provider_message_id == "" and message.sent_at is None
    time.sleep(3)  # longer than the longest back-off (2 s): no retry is coming
    assert len(twilio_stub.requests) == 1
    assert twilio_stub.accepted == []
