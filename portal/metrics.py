"""The figures a scrape reads at the time: the outbox, the certificates, renewals, the Celery queues,
the CRL and the TSA certificate.

They are platform-wide counts and dates (no person, organization or serial in a label), read with a
few indexed queries and one look at the broker, and kept in Django's cache for
``METRICS_CACHE_SECONDS``: however many Prometheus servers scrape however many gunicorn workers, the
database sees this work at most once per period. A source that cannot be read (database, broker) is
reported by ``firma_metrics_source_up`` and leaves its own figures out, never the whole scrape.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from certificates.models import AuthorityRole, CertificateState
from certificates.selectors import (
    authority_not_after,
    certificate_counts_by_state,
    certificate_expiring_count,
    crl_next_update,
)
from notifications.selectors import OUTSTANDING_STATUSES, message_counts_outstanding, message_oldest_queued_at
from renewal.selectors import renewal_pending_count

logger = logging.getLogger(__name__)

CACHE_KEY = "metrics:snapshot"
EXPIRING_WITHIN = timedelta(days=30)
CRL_AUTHORITIES = (AuthorityRole.ISSUING, AuthorityRole.ROOT)


def _timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def celery_queue_names() -> list[str]:
    """The queues the workers serve (``CELERY_QUEUES_BY_URGENCY``, with this installation's prefix)."""
    return [f"{settings.CELERY_QUEUE_PREFIX}{lane}" for lane in settings.CELERY_QUEUES_BY_URGENCY]


def celery_queue_depths(names: list[str]) -> dict[str, int]:
    """Messages waiting in each queue of the broker.

    On the filesystem broker, the message files of each queue (kombu names them
    ``<time>_<uuid>.<queue>.msg``); elsewhere a passive declaration, which answers the queue's length
    (on Redis, ``LLEN`` of the queue's list and of its priority lists). A queue never declared holds
    nothing.
    """
    depths = dict.fromkeys(names, 0)
    if settings.CELERY_BROKER_URL == "filesystem://":
        folder = str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.name.endswith(".msg"):
                    continue
                queue = entry.name.partition(".")[2].removesuffix(".msg")
                if queue in depths:
                    depths[queue] += 1
        return depths
    with current_app.connection_for_read(connect_timeout=2) as connection:
        connection.ensure_connection(max_retries=1)
        for name in names:
            # A channel per queue: a failed passive declaration closes its channel on AMQP.
            channel = connection.channel()
            try:
                depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
            except connection.channel_errors:
                depths[name] = 0
            finally:
                channel.close()
    return depths


def _database_figures(now: datetime) -> dict[str, Any]:
    return {
        "messages": message_counts_outstanding(),
        "oldest_queued_at": _timestamp(message_oldest_queued_at()),
        "certificates": certificate_counts_by_state(),
        "expiring": certificate_expiring_count(within=EXPIRING_WITHIN, now=now),
        "renewal_pending": renewal_pending_count(),
        "crl_next_update": {str(role): _timestamp(crl_next_update(role=role)) for role in CRL_AUTHORITIES},
        "tsa_not_after": _timestamp(authority_not_after(role=AuthorityRole.TSA)),
    }


def snapshot() -> dict[str, Any]:
    """The figures, from the cache if they were read in the last ``METRICS_CACHE_SECONDS``.

    A plain dict of numbers, so any process (and any version of this code) can read it back.
    """
    seconds = settings.METRICS_CACHE_SECONDS
    if seconds:
        try:
            cached = cache.get(CACHE_KEY)
        except Exception as exc:  # noqa: BLE001  (a cache that is down costs a fresh read, not the scrape)
            logger.warning("metrics: the cache could not be read: %s", type(exc).__name__)
            cached, seconds = None, 0
        if isinstance(cached, dict):
            return cached
    figures: dict[str, Any] = {"database": None, "queues": None}
    try:
        figures["database"] = _database_figures(timezone.now())
    except Exception as exc:  # noqa: BLE001  (any failure: reported as the source being down)
        logger.warning("metrics: the database figures could not be read: %s", type(exc).__name__)
    try:
        figures["queues"] = celery_queue_depths(celery_queue_names())
    except Exception as exc:  # noqa: BLE001  (idem)
        logger.warning("metrics: the Celery queues could not be read: %s", type(exc).__name__)
    if seconds:
        cache.set(CACHE_KEY, figures, seconds)
    return figures


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class ScrapeTimeCollector:
    """The figures of :func:`snapshot` as gauges (registered per scrape, not in a registry)."""

    def collect(self) -> Iterator[Metric]:
        figures = snapshot()
        database, queues = figures.get("database"), figures.get("queues")
        up = GaugeMetricFamily(
            "firma_metrics_source_up",
            "Whether the scrape could read a source of its figures (database, broker): 1 yes, 0 no.",
            labels=["source"],
        )
        up.add_metric(["database"], 1 if database is not None else 0)
        up.add_metric(["broker"], 1 if queues is not None else 0)
        yield up
        if queues is not None:
            depth = GaugeMetricFamily(
                "firma_celery_queue_messages", "Messages waiting in each Celery queue of the broker.", labels=["queue"]
            )
            for queue, count in sorted(queues.items()):
                depth.add_metric([queue], count)
            yield depth
        if database is None:
            return
        yield from self._database(database)

    def _database(self, database: dict[str, Any]) -> Iterator[Metric]:
        messages = GaugeMetricFamily(
            "firma_messages", "Outbox messages in each status but sent (queued, sending, failed, dead).",
            labels=["status"],
        )
        for status in OUTSTANDING_STATUSES:
            messages.add_metric([str(status)], database["messages"].get(str(status), 0))
        yield messages
        oldest = database["oldest_queued_at"]
        yield _gauge(
            "firma_messages_oldest_queued_age_seconds",
            "Age of the oldest message still queued for its first delivery attempt (0: none queued).",
            max(0.0, time.time() - oldest) if oldest is not None else 0.0,
        )
        certificates = GaugeMetricFamily("firma_certificates", "Certificates in each state.", labels=["state"])
        for state in CertificateState.values:
            certificates.add_metric([state], database["certificates"].get(state, 0))
        yield certificates
        expiring = GaugeMetricFamily(
            "firma_certificates_expiring", "Active certificates whose validity ends within the period.",
            labels=["within"],
        )
        expiring.add_metric(["30d"], database["expiring"])
        yield expiring
        yield _gauge(
            "firma_renewal_requests_pending", "Renewal requests waiting for an operator's decision.",
            database["renewal_pending"],
        )
        crl = GaugeMetricFamily(
            "firma_crl_next_update_timestamp_seconds",
            "nextUpdate of the latest CRL published by the current authority (Unix time).",
            labels=["authority"],
        )
        for authority, next_update in sorted(database["crl_next_update"].items()):
            if next_update is not None:
                crl.add_metric([authority], next_update)
        yield crl
        tsa = GaugeMetricFamily(
            "firma_tsa_certificate_not_after_timestamp_seconds",
            "notAfter of the internal time-stamping authority's current certificate (Unix time).",
        )
        if database["tsa_not_after"] is not None:
            tsa.add_metric([], database["tsa_not_after"])
        yield tsa
