"""A local HTTP server that speaks enough of Twilio's Messages API for the real ``twilio`` client.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with form fields (``To``, ``Body``, ``From`` or
``MessagingServiceSid``, ``StatusCallback``) and HTTP basic auth (account SID, auth token), answered
like Twilio does: 201 with a message resource, or an error document ``{"code", "message",
"more_info", "status"}``. Runs in a background thread of the test process on a free port, so a
Celery worker in another process reaches it too, and records every request it received.

Per test, answers are scripted (a queue; once it is empty every request succeeds)::

    stub.script([503, 503, 201])          # HTTP statuses: 201 succeeds, others are canned errors
    stub.script([21211])                  # a Twilio error code: its usual HTTP status and message
    stub.script([Reply(429, retry_after=1), Reply(201, delay=3)])

Credentials and form validation come first, as at Twilio: a request with a wrong token or no ``To``
is answered 401/400 without consuming the script.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

API_VERSION = "2010-04-01"
DEFAULT_FROM = "+15005550006"  # Twilio's magic "valid sender" test number

# Twilio error codes the stub knows: HTTP status and message (``{to}`` is the requested number).
ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource {path} was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "An internal server error has occurred"),
    20503: (503, "Service Unavailable"),
    21211: (400, "The 'To' number {to} is not a valid phone number."),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21614: (400, "'To' number {to} is not a valid mobile number"),
}
# The code Twilio puts on an error answered with a given HTTP status, when a test scripts only the status.
_STATUS_CODES = {400: 21211, 401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}

_MESSAGES_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json$")
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``code`` is a Twilio error code (defaults from the status)."""

    status: int = 201
    code: int | None = None
    message: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    raw: str | None = None  # a body sent as is (e.g. an HTML page from a gateway)

    @classmethod
    def of(cls, item: int | Reply) -> Reply:
        if isinstance(item, Reply):
            return item
        if item in ERRORS:  # a Twilio error code
            return cls(status=ERRORS[item][0], code=item)
        if item == 429:
            return cls(status=429, retry_after=1)
        if item in (502, 504):  # what a gateway in front of an API answers: HTML, not JSON
            return cls(status=item, raw=f"<html><body><h1>{item} Gateway error</h1></body></html>")
        return cls(status=item)


@dataclass
class Received:
    """A request as the stub saw it, and what it answered."""

    method: str
    path: str
    form: dict[str, str]
    authorized: bool
    status: int = 0
    sid: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _segments(body: str) -> int:
    if all(char in _GSM7 for char in body):
        single, multi = 160, 153
    else:
        single, multi = 70, 67
    return 1 if len(body) <= single else -(-len(body) // multi)


class TwilioStub:
    def __init__(self, *, account_sid: str | None = None, auth_token: str | None = None,
                 sender: str = DEFAULT_FROM) -> None:
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.sender = sender
        self.delay = 0.0  # seconds before every answer (a slow provider); Reply.delay adds per answer
        self._script: deque[Reply] = deque()
        self._received: list[Received] = []
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> TwilioStub:
        stub = self

        class Handler(_Handler):
            owner = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="twilio-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes up answers still waiting out a delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> TwilioStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the stub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def messages_path(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    # --- scripting and inspection -------------------------------------------------------------

    def script(self, items: Iterable[int | Reply]) -> None:
        """Queue the next answers (HTTP statuses, Twilio error codes or :class:`Reply`)."""
        with self._lock:
            self._script.extend(Reply.of(item) for item in items)

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def accepted(self) -> list[Received]:
        """The SMS Twilio would have sent: requests answered 201."""
        return [request for request in self.requests if request.status == 201]

    def wait_for_requests(self, count: int, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    # --- configuration of the code under test ---------------------------------------------------

    def settings(self) -> dict[str, Any]:
        return {
            "SMS_BACKEND": "notifications.backends.twilio.TwilioSmsBackend",
            "TWILIO_ACCOUNT_SID": self.account_sid,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "TWILIO_FROM": self.sender,
            "TWILIO_API_BASE_URL": self.base_url,
        }

    def worker_env(self, *, status_callback: bool = False, **extra: str) -> list[tuple[str, str]]:
        """Environment of a worker process using the stub, with back-off shortened to 1–2 s.

        Pass it on: ``worker_process.start(*twilio_stub.worker_env())``.
        """
        env = {
            **{name: str(value) for name, value in self.settings().items()},
            "SMS_STATUS_CALLBACK": "true" if status_callback else "false",
            "NOTIFICATIONS_RETRY_BASE_SECONDS": "1",
            "NOTIFICATIONS_RETRY_MAX_SECONDS": "2",
            **extra,
        }
        return list(env.items())

    # --- what the handler calls -----------------------------------------------------------------

    def _record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)
            self._lock.notify_all()

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else Reply()

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _message_resource(self, form: dict[str, str], sid: str) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC))
        service = form.get("MessagingServiceSid")
        body = form.get("Body", "")
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service and not form.get("From") else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": form.get("To"),
            "uri": f"{uri}.json",
        }


def _error_document(code: int, status: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


class _Handler(BaseHTTPRequestHandler):
    owner: TwilioStub
    protocol_version = "HTTP/1.1"
    server_version = "TwilioStub/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return secrets.compare_digest(username, self.owner.account_sid) and secrets.compare_digest(
            password, self.owner.auth_token
        )

    def _send(self, status: int, document: dict[str, Any] | None = None, *, raw: str | None = None,
              headers: dict[str, str] | None = None) -> None:
        if raw is not None:
            payload, content_type = raw.encode(), "text/html; charset=utf-8"
        else:
            payload, content_type = json.dumps(document or {}).encode(), "application/json; charset=utf-8"
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Twilio-Request-Id", "RQ" + secrets.token_hex(16))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a timeout test)
            self.close_connection = True

    def _error(self, code: int, *, status: int | None = None, message: str | None = None,
               form: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> int:
        default_status, template = ERRORS.get(code, (status or 400, "Error"))
        status = status or default_status
        text = message or template.format(to=(form or {}).get("To", ""), path=self.path)
        self._send(status, _error_document(code, status, text), headers=headers)
        return status

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._error(20404, status=404)

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        form = {name: values[-1] for name, values in parse_qs(raw_body, keep_blank_values=True).items()}
        received = Received(method="POST", path=self.path, form=form, authorized=self._authorized(),
                            headers={name: value for name, value in self.headers.items()
                                     if name.lower() != "authorization"})
        match = _MESSAGES_PATH.match(self.path)
        self.owner._record(received)
        if match is None:
            received.status = self._error(20404, form=form)
            return
        if not received.authorized or match["account"] != self.owner.account_sid:
            received.status = self._error(20003, message="Authenticate")
            return
        for missing, code in (("To", 21604), ("Body", 21602)):
            if not form.get(missing):
                received.status = self._error(code)
                return
        if not (form.get("From") or form.get("MessagingServiceSid")):
            received.status = self._error(21603)
            return
        reply = self.owner._next_reply()
        # Decided (and recorded) before any delay: like Twilio, the stub may accept an SMS whose
        # answer the client never reads because it timed out.
        received.status = reply.status
        if reply.status in (200, 201):
            received.sid = "SM" + secrets.token_hex(16)
        self.owner._pause(self.owner.delay + reply.delay)
        if received.sid is not None:
            self._send(reply.status, self.owner._message_resource(form, received.sid))
        elif reply.raw is not None:
            self._send(reply.status, raw=reply.raw)
        else:
            headers = {"Retry-After": str(reply.retry_after)} if reply.retry_after is not None else None
            code = reply.code or _STATUS_CODES.get(reply.status, reply.status)
            self._error(code, status=reply.status, message=reply.message, form=form, headers=headers)
