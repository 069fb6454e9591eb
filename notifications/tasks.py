"""The outbox's Celery tasks. Thin: the delivery state machine is in ``services_delivery.py``."""

from __future__ import annotations

from celery import Task, shared_task

from notifications.services_delivery import DeliveryPostponed, message_deliver, messages_sweep, retry_delay_seconds


# acks_late: a worker that dies mid-task leaves the message to the broker (and the row to the
# sweeper); delivering twice is harmless, the claim lets only one attempt send.
@shared_task(name="notifications.tasks.message_deliver", bind=True, acks_late=True, max_retries=None)
def message_deliver_task(self: Task, message_id: int) -> str:
    try:
        return message_deliver(message_id=message_id)
    except DeliveryPostponed as exc:  # nothing was sent yet: try again shortly
        raise self.retry(exc=exc, countdown=retry_delay_seconds(1) / 10) from exc


@shared_task(name="notifications.tasks.messages_sweep")
def messages_sweep_task() -> int:
    return messages_sweep()
