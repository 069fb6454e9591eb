"""The broker is down: the web still answers, the message waits in the outbox, and goes out once the
broker is back (the sweeper hands it over, as beat does every minute) — with a real worker."""

from __future__ import annotations

import os

import pytest
from django.core import mail
from django.urls import reverse
from kombu import pools

from config.celery import app
from notifications.models import Message, MessageStatus
from notifications.tasks import messages_sweep_task
from tests.accounts.test_password_change import NEW_PASSWORD, change
from tests.conftest import HOLDER_PASSWORD
from tests.integration.conftest import eventually

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _broker(url: str, options: dict) -> None:
    """Point this process's Celery app at ``url``, dropping the connections it pooled."""
    if "CELERY_BROKER_URL" in os.environ:  # Celery reads it before its settings (CI sets it)
        os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url
    app.conf.broker_transport_options = options
    pools.reset()  # kombu's process-wide pools, keyed by broker: closed and forgotten
    app._pool = None  # noqa: SLF001  (Celery keeps the pool of the first broker otherwise)
    app.amqp._producer_pool = None  # noqa: SLF001


def test_with_the_broker_down_the_page_answers_and_the_notice_goes_out_when_it_is_back(
    world, holder_client, worker, settings,
):
    settings.NOTIFICATIONS_STALE_SECONDS = 0  # the sweeper takes what is waiting now, not after a minute
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    working = (app.conf.broker_url, app.conf.broker_transport_options)
    _broker("redis://127.0.0.1:9/0", {})  # nothing listens on port 9
    try:
        response = change(holder_client, HOLDER_PASSWORD, NEW_PASSWORD)

        assert app.connection_for_write().port == 9  # really the unreachable broker
        assert response.status_code == 302 and response["Location"] == reverse("panel:profile")
        notice = Message.objects.get(holder=world.alpha.holder, message_type="security_notice")
        assert notice.status == MessageStatus.QUEUED  # committed with the change, waiting for the broker
    finally:
        _broker(*working)

    messages_sweep_task()  # what beat runs every minute

    assert eventually(lambda: Message.objects.get(pk=notice.pk).status == MessageStatus.SENT, timeout=60)
    assert Message.objects.filter(holder=world.alpha.holder, message_type="security_notice").count() == 1
    assert mail.outbox == []  # sent by the worker, not by this process
