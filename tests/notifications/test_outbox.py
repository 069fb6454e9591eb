"""The outbox: one row per message, idempotent, rendered per language; the delivery state machine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from notifications import tasks
from notifications.models import Channel, Message, MessageStatus
from notifications.services import message_enqueue, security_notice_send
from notifications.services_delivery import retry_delay_seconds
from notifications.tasks import message_deliver_task, messages_sweep_task
from tests.conftest import HOLDER_PASSWORD
from tests.notifications.backends import ScriptedSmsBackend

pytestmark = pytest.mark.django_db


@pytest.fixture
def scheduled(monkeypatch) -> list[tuple[int, float]]:
    """Retries handed to the broker (message id, countdown), captured instead of queued."""
    calls: list[tuple[int, float]] = []
    monkeypatch.setattr(
        message_deliver_task, "apply_async", lambda args, countdown=0, **kw: calls.append((args[0], countdown))
    )
    return calls


@pytest.fixture
def scripted_sms(settings):
    settings.SMS_BACKEND = "tests.notifications.backends.ScriptedSmsBackend"
    ScriptedSmsBackend.script = []
    ScriptedSmsBackend.sent = []
    return ScriptedSmsBackend


def notice(holder, *, channel=Channel.EMAIL, key="k1", recipient=None) -> Message:
    return message_enqueue(
        message_type="security_notice",
        channel=channel,
        recipient=recipient or (holder.email if channel == Channel.EMAIL else holder.mobile),
        context={"holder_name": holder.full_name, "event_text": "Password changed.", "occurred_at": timezone.now()},
        idempotency_key=key,
        holder=holder,
        language=holder.user.preferred_language,
    )


def test_the_same_idempotency_key_never_makes_a_second_message(world):
    first = notice(world.alpha.holder)
    second = notice(world.alpha.holder)
    assert first.pk == second.pk
    assert Message.objects.count() == 1


def test_dispatch_happens_only_when_the_transaction_commits(world, django_capture_on_commit_callbacks, monkeypatch):
    dispatched: list[int] = []
    monkeypatch.setattr(message_deliver_task, "apply_async", lambda args, **kw: dispatched.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = notice(world.alpha.holder)
    assert len(callbacks) == 1 and dispatched == [message.pk]


def test_a_rolled_back_change_leaves_no_message(world):
    with pytest.raises(RuntimeError), transaction.atomic():
        notice(world.alpha.holder)
        raise RuntimeError("the change that caused the message failed")
    assert not Message.objects.exists()


def test_security_notice_is_rendered_in_italian_with_the_organization(world):
    holder = world.alpha.holder
    [message] = security_notice_send(holder=holder, event="password_changed", reference="r1")
    assert message.language == "it" and message.channel == Channel.EMAIL and message.recipient == holder.email
    assert message.subject.startswith("Avviso di sicurezza")
    assert "password" in message.body_text.lower() and holder.full_name in message.body_text
    assert world.alpha.organization.support_email in message.body_text
    assert world.alpha.organization.name in message.body_html
    assert "{{" not in message.body_text + message.body_html + message.subject


def test_security_notice_is_rendered_in_english_for_an_english_holder(world):
    holder = world.alpha.holder
    holder.user.preferred_language = "en"
    holder.user.save()
    [message] = security_notice_send(holder=holder, event="certificate_revoked", reference="r2")
    assert message.language == "en"
    assert "Security notice" in message.subject
    assert "Your signature certificate was revoked." in message.body_text


def test_a_changed_contact_is_told_at_the_previous_address_and_number_too(world):
    holder = world.alpha.holder
    messages = security_notice_send(
        holder=holder, event="email_changed", reference="r3", previous_email="old@alpha.example.org",
        previous_mobile="+393470000999",
    )
    assert {(m.channel, m.recipient) for m in messages} == {
        (Channel.EMAIL, holder.email), (Channel.EMAIL, "old@alpha.example.org"), (Channel.SMS, "+393470000999"),
    }
    sms = next(m for m in messages if m.channel == Channel.SMS)
    assert len(sms.body_text) <= 160 and sms.subject == ""


def test_changing_the_password_queues_a_security_notice(world, holder_client):
    holder_client.post(
        reverse("panel:password_change"),
        {"current_password": HOLDER_PASSWORD, "new_password": "Nuova-Chiave-Del-Portone-8",
         "new_password_confirm": "Nuova-Chiave-Del-Portone-8"},
    )
    message = Message.objects.get(holder=world.alpha.holder)
    assert message.message_type == "security_notice" and message.status == MessageStatus.QUEUED
    assert "Nuova-Chiave" not in message.body_text


def test_a_message_missing_a_template_variable_is_recorded_dead_and_never_dispatched(world, monkeypatch):
    monkeypatch.setattr(message_deliver_task, "apply_async", lambda *_, **__: pytest.fail("must not be dispatched"))
    message = message_enqueue(
        message_type="security_notice", channel=Channel.EMAIL, recipient="x@example.org",
        context={"holder_name": "X"}, idempotency_key="broken", holder=world.alpha.holder,
    )
    assert message.status == MessageStatus.DEAD
    assert "event_text" in message.last_error and "occurred_at" in message.last_error
    assert AuditEvent.objects.filter(event_type="notification.not_queued").exists()


def test_an_unknown_message_type_is_recorded_dead(world):
    message = message_enqueue(
        message_type="nope", channel=Channel.SMS, recipient="+393471234567", context={}, idempotency_key="nope"
    )
    assert message.status == MessageStatus.DEAD and "unknown message type" in message.last_error


def test_unknown_security_event_is_a_programming_error(world):
    with pytest.raises(ValueError):
        security_notice_send(holder=world.alpha.holder, event="coffee_spilled", reference="x")


def test_delivery_sends_an_email_once_and_records_it(world):
    message = notice(world.alpha.holder)
    assert message_deliver_task(message.pk) == "sent"
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.attempts == 1 and message.sent_at
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == [world.alpha.holder.email] and sent.subject == message.subject
    assert sent.extra_headers["Message-ID"] == message.provider_message_id
    assert sent.alternatives[0][1] == "text/html"
    # A redelivered task (broker redelivery, sweeper race) does nothing.
    assert message_deliver_task(message.pk) == "skipped"
    assert len(mail.outbox) == 1


def test_transient_errors_retry_with_growing_delays_then_succeed(world, scripted_sms, scheduled):
    scripted_sms.script = ["transient", "transient", "ok"]
    message = notice(world.alpha.holder, channel=Channel.SMS)
    assert message_deliver_task(message.pk) == "retry"
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and "503" in message.last_error and message.next_attempt_at
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())  # the countdown elapsed
    assert message_deliver_task(message.pk) == "retry"
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert message_deliver_task(message.pk) == "sent"
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.attempts == 3 and message.last_error == ""
    assert len(scripted_sms.sent) == 1
    assert [m for m, _ in scheduled] == [message.pk, message.pk]


def test_an_early_duplicate_of_a_scheduled_retry_does_nothing(world, scripted_sms, scheduled):
    scripted_sms.script = ["transient"]
    message = notice(world.alpha.holder, channel=Channel.SMS)
    message_deliver_task(message.pk)
    assert message_deliver_task(message.pk) == "skipped"  # next_attempt_at is still in the future
    assert Message.objects.get(pk=message.pk).attempts == 1


def test_a_permanent_error_makes_the_message_dead_without_retry(world, scripted_sms, scheduled):
    scripted_sms.script = ["permanent"]
    message = notice(world.alpha.holder, channel=Channel.SMS)
    assert message_deliver_task(message.pk) == "dead"
    message.refresh_from_db()
    assert message.status == MessageStatus.DEAD and "21211" in message.last_error
    assert scheduled == [] and scripted_sms.sent == []


def test_the_retry_budget_ends_in_a_dead_message(world, scripted_sms, scheduled, settings):
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 3
    scripted_sms.script = ["transient"] * 5
    message = notice(world.alpha.holder, channel=Channel.SMS)
    outcomes = []
    for _ in range(3):
        outcomes.append(message_deliver_task(message.pk))
        Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert outcomes == ["retry", "retry", "dead"]
    message.refresh_from_db()
    assert message.status == MessageStatus.DEAD and "gave up after 3 attempts" in message.last_error


def test_smtp_down_is_a_transient_error(world, settings, scheduled):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    message = notice(world.alpha.holder)
    assert message_deliver_task(message.pk) == "retry"
    assert Message.objects.get(pk=message.pk).status == MessageStatus.FAILED


def test_a_bug_in_a_backend_does_not_leave_the_message_sending(world, settings, scheduled):
    settings.SMS_BACKEND = "notifications.backends.sms.DoesNotExist"
    message = notice(world.alpha.holder, channel=Channel.SMS)
    assert message_deliver_task(message.pk) == "retry"
    assert Message.objects.get(pk=message.pk).status == MessageStatus.FAILED


def test_back_off_grows_exponentially_with_jitter_and_a_ceiling(settings):
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS, settings.NOTIFICATIONS_RETRY_MAX_SECONDS = 30, 600
    for attempt, ceiling in [(1, 30), (2, 60), (3, 120), (6, 600), (12, 600)]:
        delays = {retry_delay_seconds(attempt) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


def test_sweeper_requeues_what_a_dead_worker_left_sending(world, monkeypatch, settings):
    settings.NOTIFICATIONS_STALE_SECONDS = 60
    dispatched: list[int] = []
    monkeypatch.setattr(message_deliver_task, "apply_async", lambda args, **kw: dispatched.append(args[0]))
    stuck = notice(world.alpha.holder, key="stuck")
    fresh = notice(world.alpha.holder, key="fresh")
    lost = notice(world.alpha.holder, key="lost")
    long_ago = timezone.now() - timedelta(minutes=10)
    Message.objects.filter(pk=stuck.pk).update(status=MessageStatus.SENDING, updated_at=long_ago, attempts=1)
    Message.objects.filter(pk=lost.pk).update(updated_at=long_ago)  # its task never reached a worker
    assert messages_sweep_task() == 2
    assert sorted(dispatched) == sorted([stuck.pk, lost.pk])
    assert Message.objects.get(pk=stuck.pk).status == MessageStatus.QUEUED
    assert Message.objects.get(pk=fresh.pk).status == MessageStatus.QUEUED
    # The re-queued message is then delivered once.
    assert message_deliver_task(stuck.pk) == "sent" and len(mail.outbox) == 1


def test_sweeper_leaves_sent_and_dead_messages_alone(world, monkeypatch, settings):
    settings.NOTIFICATIONS_STALE_SECONDS = 1
    monkeypatch.setattr(message_deliver_task, "apply_async", lambda *_, **__: pytest.fail("nothing to dispatch"))
    message = notice(world.alpha.holder)
    message_deliver_task(message.pk)
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert messages_sweep_task() == 0


def test_delivery_of_a_missing_message_is_a_no_op(db):
    assert tasks.message_deliver_task(999_999) == "skipped"


def test_a_secret_is_sent_but_never_stored_readable(world, scripted_sms):
    holder = world.alpha.holder
    message = message_enqueue(
        message_type="security_notice", channel=Channel.SMS, recipient=holder.mobile,
        context={"holder_name": holder.full_name, "occurred_at": timezone.now()},
        secrets={"event_text": "Codice 493817"}, idempotency_key="secret", holder=holder,
    )
    stored = Message.objects.filter(pk=message.pk).values().get()
    assert "493817" not in str(stored)
    assert "••••••" in message.body_text and stored["body_sealed"]
    assert message_deliver_task(message.pk) == "sent"
    assert "Codice 493817" in scripted_sms.sent[0].text
    after = Message.objects.filter(pk=message.pk).values().get()
    assert after["body_sealed"] == "" and "493817" not in str(after)


def test_a_sealed_message_unreadable_after_a_key_change_goes_dead_with_the_reason(world, scripted_sms, settings):
    holder = world.alpha.holder
    message = message_enqueue(
        message_type="security_notice", channel=Channel.SMS, recipient=holder.mobile,
        context={"holder_name": holder.full_name, "occurred_at": timezone.now()},
        secrets={"event_text": "Codice 111222"}, idempotency_key="rotated", holder=holder,
    )
    settings.NOTIFICATIONS_SEAL_KEY = "rotated-key"
    assert message_deliver_task(message.pk) == "dead"
    message.refresh_from_db()
    assert "key changed" in message.last_error and message.body_sealed == "" and scripted_sms.sent == []
