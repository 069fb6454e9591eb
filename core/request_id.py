"""One id per request, carried into the log lines, the Celery tasks and the audit rows it causes.

A request gets the id its proxy set in ``X-Request-ID`` (when it looks like an id) or a new one, and
answers with it; every log line written while it is handled carries it (``RequestIdLogFilter``), a
task enqueued meanwhile carries it in its message headers and the worker takes it up for the task's
own lines, and each audit row records it. Following one id from the proxy's access log through the
web and worker logs to the audit trail is how an operator reconstructs what happened.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse
from django.utils.log import log_response

HEADER = "X-Request-ID"
TASK_HEADER = "firma_request_id"
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{8,64}")  # a proxy's id; anything else (or hostile) is replaced

_current: ContextVar[str] = ContextVar("request_id", default="")


def request_id_current() -> str:
    return _current.get()


def request_id_set(value: str) -> object:
    """Make ``value`` the current id; returns a token for :func:`request_id_reset`."""
    return _current.set(value)


def request_id_reset(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]  # the token request_id_set returned


def request_id_new() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in the chain: every later layer, and what it enqueues or records, sees the id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get(HEADER, "")
        value = offered if _ACCEPTED.fullmatch(offered) else request_id_new()
        token = request_id_set(value)
        try:
            response = self.get_response(request)
            if response.status_code >= 400:
                # Django writes its "Bad Request: /path" line after the whole middleware chain has
                # returned, when the id is no longer current; written here instead, with the id.
                # log_response marks the response as logged, so Django does not write it twice.
                log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        finally:
            request_id_reset(token)
        response[HEADER] = value
        return response


class RequestIdLogFilter(logging.Filter):
    """Adds ``request_id`` to every record (empty outside a request or a task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get()
        return True
