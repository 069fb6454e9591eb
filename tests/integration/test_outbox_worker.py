"""The outbox with a real worker process: never sent on rollback, exactly once on commit, even
when the worker is killed with SIGKILL while the message is in flight."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from notifications.models import Channel, Message, MessageStatus
from notifications.services import message_enqueue
from notifications.tasks import message_deliver_task, messages_sweep_task
from tests.integration.conftest import eventually

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sms_dir(tmp_path: Path, settings) -> Path:
    folder = tmp_path / "sms"
    settings.SMS_FILE_PATH = str(folder)
    return folder


def delivered(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.exists() else []


def enqueue_sms(holder, key: str) -> Message:
    return message_enqueue(
        message_type="security_notice",
        channel=Channel.SMS,
        recipient=holder.mobile,
        context={"holder_name": holder.full_name, "event_text": "Password changed.", "occurred_at": timezone.now()},
        idempotency_key=key,
        holder=holder,
    )


def test_a_message_of_a_rolled_back_change_is_never_sent(world, worker_process, sms_dir):
    worker_process.start(("SMS_FILE_PATH", str(sms_dir)))
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_sms(world.alpha.holder, "rolled-back")
        raise RuntimeError
    committed = None
    with transaction.atomic():
        committed = enqueue_sms(world.alpha.holder, "committed")
    # The committed message is the witness that the worker was up and draining the queue.
    assert eventually(lambda: Message.objects.get(pk=committed.pk).status == MessageStatus.SENT)
    assert not Message.objects.filter(idempotency_key="rolled-back").exists()
    assert [sms["to"] for sms in delivered(sms_dir)] == [world.alpha.holder.mobile]


def test_a_committed_message_is_sent_exactly_once_even_if_its_task_is_redelivered(world, worker_process, sms_dir):
    worker_process.start(("SMS_FILE_PATH", str(sms_dir)))
    with transaction.atomic():
        message = enqueue_sms(world.alpha.holder, "once")
    assert eventually(lambda: Message.objects.get(pk=message.pk).status == MessageStatus.SENT)
    message_deliver_task.delay(message.pk)  # a duplicate delivery of the same task
    with transaction.atomic():
        witness = enqueue_sms(world.alpha.holders[1], "witness")  # queued after the duplicate
    assert eventually(lambda: Message.objects.get(pk=witness.pk).status == MessageStatus.SENT)
    assert [sms["to"] for sms in delivered(sms_dir)].count(world.alpha.holder.mobile) == 1
    message.refresh_from_db()
    assert message.attempts == 1


def test_a_worker_killed_mid_send_loses_nothing_and_sends_once_after_restart_and_sweep(
    world, worker_process, sms_dir, settings
):
    slow = ("SMS_BACKEND", "tests.notifications.backends.SlowFileSmsBackend")
    worker_process.start(slow, ("SMS_FILE_PATH", str(sms_dir)))
    with transaction.atomic():
        message = enqueue_sms(world.alpha.holder, "in-flight")
    assert eventually(lambda: Message.objects.get(pk=message.pk).status == MessageStatus.SENDING)

    worker_process.kill()  # SIGKILL while the provider has not yet accepted the message
    assert Message.objects.get(pk=message.pk).status == MessageStatus.SENDING
    assert delivered(sms_dir) == []

    worker_process.start(("SMS_FILE_PATH", str(sms_dir)))
    settings.NOTIFICATIONS_STALE_SECONDS = 1
    time.sleep(1.5)
    assert messages_sweep_task() == 1
    assert eventually(lambda: Message.objects.get(pk=message.pk).status == MessageStatus.SENT)
    assert eventually(lambda: len(delivered(sms_dir)) == 1, timeout=5)
    time.sleep(2)  # a late redelivery of the killed task, if the broker makes one, must change nothing
    assert len(delivered(sms_dir)) == 1
    message.refresh_from_db()
    assert message.attempts == 2 and message.status == MessageStatus.SENT
