"""SMS through Twilio's Messages API, with the official ``twilio`` client.

Configured by ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN`` and ``TWILIO_FROM`` (a sender number, or a
Messaging Service SID starting with ``MG``). ``TWILIO_API_BASE_URL`` is ``https://api.twilio.com``
in production; the tests point it at a local stub of the Messages API.

Errors are sorted for the delivery task: HTTP 429, 408 and 5xx, timeouts and connection errors are
transient (retried with back-off); every other 4xx (invalid number 21211, unsubscribed 21610, not a
mobile 21614, bad credentials…) is permanent. Recorded errors name Twilio's code and message and
never carry the auth token.
"""

from __future__ import annotations

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from notifications.backends import DeliveryError, Outgoing, PermanentDeliveryError, TransientDeliveryError

HTTP_TIMEOUT_SECONDS = 10.0
DEFAULT_API_BASE_URL = "https://api.twilio.com"

# Twilio error codes seen when the recipient itself is the problem: never worth a retry.
RECIPIENT_ERRORS = {
    21211: "invalid 'To' number",
    21408: "region not enabled for this number",
    21610: "recipient unsubscribed (replied STOP)",
    21612: "'To' number not reachable from this sender",
    21614: "'To' number is not a mobile number",
}

_TRANSIENT_STATUSES = {408, 429}


class TwilioSmsBackend:
    def __init__(self) -> None:
        self.account_sid = settings.TWILIO_ACCOUNT_SID
        self.auth_token = settings.TWILIO_AUTH_TOKEN
        self.sender = settings.TWILIO_FROM
        self.api_base_url = (settings.TWILIO_API_BASE_URL or DEFAULT_API_BASE_URL).rstrip("/")

    def _client(self) -> Client:
        client = Client(
            self.account_sid,
            self.auth_token,
            http_client=TwilioHttpClient(timeout=HTTP_TIMEOUT_SECONDS, pool_connections=False),
        )
        # The "api" domain (api.twilio.com, Messages API 2010-04-01) keeps its base URL as an attribute.
        client.api.base_url = self.api_base_url
        if self.api_base_url != DEFAULT_API_BASE_URL:
            # TWILIO_EDGE / TWILIO_REGION in the environment rewrite *.twilio.com host names only.
            client.edge = None
            client.region = None
        return client

    def _redact(self, text: str) -> str:
        if self.auth_token:
            text = text.replace(self.auth_token, "[redacted]")
        return text

    def send(self, message: Outgoing, *, status_callback: str | None) -> str:
        if not (self.account_sid and self.auth_token and self.sender):
            raise PermanentDeliveryError("Twilio is not configured: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM")
        params: dict[str, str] = {"to": message.recipient, "body": message.text}
        if self.sender.startswith("MG"):
            params["messaging_service_sid"] = self.sender
        else:
            params["from_"] = self.sender
        if status_callback:
            params["status_callback"] = status_callback
        try:
            created = self._client().messages.create(**params)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise self._classify(exc) from None
        except requests.Timeout as exc:
            raise TransientDeliveryError(f"Twilio: no answer within {HTTP_TIMEOUT_SECONDS:g} s "
                                         f"({type(exc).__name__})") from None
        except requests.RequestException as exc:
            raise TransientDeliveryError(self._redact(f"Twilio unreachable: {type(exc).__name__}: {exc}")) from None
        except (TwilioException, ValueError) as exc:  # e.g. a 2xx answer that is not JSON
            raise TransientDeliveryError(self._redact(f"Twilio: unreadable answer: {type(exc).__name__}")) from None
        sid = getattr(created, "sid", None)
        if not sid:
            raise TransientDeliveryError("Twilio accepted the request but returned no message SID")
        return str(sid)

    def _classify(self, exc: TwilioRestException | TwilioServiceException) -> DeliveryError:
        status = int(exc.status or 0)
        code = exc.code
        if isinstance(exc, TwilioServiceException):
            text = exc.detail or exc.title or ""
        else:
            text = exc.msg or ""
        text = text.removeprefix("Unable to create record: ")
        hint = RECIPIENT_ERRORS.get(code) if isinstance(code, int) else None
        described = f"Twilio error {code} (HTTP {status})" if code else f"Twilio error (HTTP {status})"
        if hint:
            described += f", {hint}"
        described = self._redact(f"{described}: {text}" if text else described)
        if status in _TRANSIENT_STATUSES or status >= 500 or status == 0:
            return TransientDeliveryError(described)
        return PermanentDeliveryError(described)
