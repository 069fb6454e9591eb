"""Provider callbacks: Twilio's message status callback (``StatusCallback`` of each SMS we send).

Twilio signs every callback with the account's auth token over the full URL it called and the POST
parameters (``X-Twilio-Signature``); anything not signed that way is refused with 403 before the
body is looked at. Answers are short plain text, never HTML or JSON, and never a 500.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from notifications.services_delivery import ReportOutcome, message_delivery_report

logger = logging.getLogger(__name__)

_MESSAGE_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}\Z")
_STATUS = re.compile(r"^[a-z_]{1,32}\Z")
_ERROR_CODE = re.compile(r"^[0-9]{1,10}\Z")


def _text(status: int, text: str = "") -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


def _signature_valid(request: HttpRequest) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    token = settings.TWILIO_AUTH_TOKEN
    if not signature or not token:
        return False
    url = settings.SITE_URL.rstrip("/") + request.get_full_path()
    return bool(RequestValidator(token).validate(url, request.POST, signature))


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    try:
        params = request.POST
    except (MultiPartParserError, SuspiciousOperation, BadRequest, ValueError):
        return _text(400, "Malformed request.")
    try:
        signed = _signature_valid(request)
    except (ValueError, TypeError, UnicodeError):
        signed = False
    if not signed:
        logger.warning("Twilio status callback refused: missing or invalid signature")
        return _text(403, "Invalid signature.")
    message_sid = params.get("MessageSid", "")
    provider_status = params.get("MessageStatus", "") or params.get("SmsStatus", "")
    error_code = params.get("ErrorCode", "")
    if not (_MESSAGE_SID.match(message_sid) and _STATUS.match(provider_status)):
        return _text(400, "MessageSid and MessageStatus are required.")
    if error_code and not _ERROR_CODE.match(error_code):
        return _text(400, "ErrorCode must be a number.")
    outcome = message_delivery_report(
        provider_message_id=message_sid, provider_status=provider_status, error_code=error_code
    )
    if outcome is ReportOutcome.UNKNOWN_MESSAGE:
        return _text(404, "Unknown message.")
    return HttpResponse(status=204)


app_name = "notifications"
urlpatterns = [
    path("notifiche/twilio/stato/", twilio_status, name="twilio_status"),
]
