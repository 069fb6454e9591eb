"""The public RFC 3161 endpoint of the internal TSA (``/tsa/``).

Like OCSP, it answers anyone and must never fail loudly: a body that is too large, empty or not a
``TimeStampReq`` gets a TSA ``rejection``, never a 500, and the body is read only up to
``SIGNING_TSA_MAX_REQUEST_BYTES``.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from signing.tsa import TIMESTAMP_REPLY_TYPE, tsa_rejection, tsa_respond


@csrf_exempt  # a protocol endpoint for machines; there is no session to ride on
@require_POST
def tsa_view(request: HttpRequest) -> HttpResponse:
    limit = settings.SIGNING_TSA_MAX_REQUEST_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = limit + 1
    body = b""
    if 0 < declared <= limit:
        # Read the stream, not request.body: never buffer more than the limit.
        data = request.read(limit + 1)
        body = data if len(data) <= limit else b""
    if body:
        der = tsa_respond(request_der=body)
    else:
        der = tsa_rejection("bad_request", "empty or oversized request").dump()
    return HttpResponse(der, content_type=TIMESTAMP_REPLY_TYPE)
