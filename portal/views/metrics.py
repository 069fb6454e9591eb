"""``/metrics`` for Prometheus: reachable from ``METRICS_ALLOWED_IPS`` or with the bearer
``METRICS_TOKEN``, a plain 404 for everyone else (docs/metrics.md).

Whoever may not scrape learns nothing, not even that the address exists: the answer is the site's
ordinary 404, before any method or CSRF check could tell the endpoint apart from a missing page. The
view reads no session and sets no cookie, and costs a few cached queries (portal/metrics.py).
"""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from core.metrics import exposition
from core.ratelimit import client_ip
from portal.metrics import ScrapeTimeCollector

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Headers a reverse proxy adds: a request carrying one came through a proxy, and its REMOTE_ADDR is
# the proxy's own (often 127.0.0.1), which says nothing about who is asking.
_FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


@lru_cache(maxsize=8)
def _networks(allowed: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in allowed)


def _address_allowed(request: HttpRequest) -> bool:
    if any(header in request.META for header in _FORWARDED_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(tuple(settings.METRICS_ALLOWED_IPS)))


def metrics_access_allowed(request: HttpRequest) -> bool:
    """A bearer token, when one is configured and presented, decides alone; otherwise the address."""
    token = settings.METRICS_TOKEN
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and presented.strip():
        return hmac.compare_digest(presented.strip().encode(), token.encode())
    return _address_allowed(request)


@csrf_exempt  # read-only; a CSRF refusal would tell an outsider the address exists
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_access_allowed(request):
        raise Http404
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    body, content_type = exposition(ScrapeTimeCollector())
    return HttpResponse(body, content_type=content_type)
