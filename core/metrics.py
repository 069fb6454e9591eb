"""The process's Prometheus metrics: the counters and the request histogram, and their exposition.

Everything is named ``firma_…`` and lives in prometheus-client's default registry, so in one process
(runserver, the tests) the values are simply in memory. With ``PROMETHEUS_MULTIPROC_DIR`` set in the
environment *before the process starts* (gunicorn's workers, Celery's worker processes) the library
writes each value to a file of that directory instead, and :func:`exposition` adds up the files of
every process — a scrape reaches one gunicorn worker, but sees the whole host.

Labels carry only values from small, known sets (a URL pattern's name, a signature level, an error
code): never a raw path, a username, an address, a serial or anything an outsider chooses. Values
from elsewhere go through :func:`bounded_label`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

# --- What is counted -------------------------------------------------------------------------------

# Signing a batch of large PDFs at B-LTA takes tens of seconds: the top buckets keep those apart.
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUEST_LATENCY = Histogram(
    "firma_http_request_duration_seconds",
    "Time to answer an HTTP request, by URL pattern (never the raw path), method and status class.",
    ["view", "method", "status"],
    buckets=_LATENCY_BUCKETS,
)
SIGNATURES = Counter(
    "firma_signatures",
    "Signatures made, by level (B-B, B-T, B-LT, B-LTA, hash for raw hashes, mixed) and channel (panel, csc, api).",
    ["level", "channel"],
)
SIGNATURE_REFUSALS = Counter(
    "firma_signature_refusals",
    "Signature authorizations and signing attempts refused, by step (authorize, sign, extend) and error code.",
    ["step", "reason"],
)
OTP_FAILURES = Counter(
    "firma_otp_failures",
    "OTP codes refused, by factor (device: app or hardware token; sms) and purpose.",
    ["factor", "purpose"],
)
OTP_DEVICE_LOCKS = Counter("firma_otp_device_locks", "OTP devices locked after too many wrong codes.")
LOGIN_FAILURES = Counter(
    "firma_login_failures",
    "Logins refused, by portal (panel, console, admin) and reason (invalid: wrong credentials; locked: "
    "refused because the username is locked out).",
    ["portal", "reason"],
)
LOGIN_LOCKOUTS = Counter("firma_login_lockouts", "Usernames locked out after too many failed logins.", ["portal"])
MESSAGES_SENT = Counter(
    "firma_messages_sent", "Outbox messages handed to the provider (SMTP, the SMS gateway), by channel.", ["channel"]
)

# --- Label values ----------------------------------------------------------------------------------

OTHER = "other"
_LABEL_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}")


def bounded_label(value: object, allowed: Iterable[str] | None = None) -> str:
    """``value`` as a label if it is one of ``allowed`` (or, without a list, a short identifier);
    ``other`` otherwise, so an unexpected value never opens a new series per request."""
    text = value if isinstance(value, str) else ""
    if allowed is not None:
        return text if text in allowed else OTHER
    return text if _LABEL_SHAPE.fullmatch(text) else OTHER


# --- The request histogram -------------------------------------------------------------------------

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_view_label(request: HttpRequest) -> str:
    """The URL pattern that answered: its name (``panel:profile``), or its route for an unnamed one
    (``api/v1/jobs/<uuid:job_id>``) — the pattern, never the path with its ids and tokens."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        if match.url_name:
            return str(match.view_name)
        route = str(match.route or "")
        if route.startswith(settings.ADMIN_URL):  # the admin's address may be deliberately obscure
            route = "admin/" + route[len(settings.ADMIN_URL):]
        return route[:100] or OTHER
    if settings.STATIC_URL and request.path.startswith(str(settings.STATIC_URL)):
        return "static"
    return "unmatched"


class RequestMetricsMiddleware:
    """Times every request, first in MIDDLEWARE so the time includes every other middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        REQUEST_LATENCY.labels(
            view=request_view_label(request),
            method=request.method if request.method in _METHODS else OTHER,
            status=f"{response.status_code // 100}xx",
        ).observe(time.perf_counter() - started)
        return response


# --- Exposition ------------------------------------------------------------------------------------

# The classic text format: every Prometheus version reads it, and every name here fits it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Chain:
    def __init__(self, collectors: list[Collector]) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def exposition(*extra: Collector) -> tuple[bytes, str]:
    """The text a scrape gets (and its content type): this process's metrics — or, in multiprocess
    mode, every process's, from the files of ``PROMETHEUS_MULTIPROC_DIR`` — and then ``extra``'s."""
    collectors: list[Collector]
    if settings.METRICS_MULTIPROCESS_DIR:
        files = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(files, path=settings.METRICS_MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
        collectors = [files]
    else:
        collectors = [REGISTRY]
    return generate_latest(_Chain([*collectors, *extra])), CONTENT_TYPE
