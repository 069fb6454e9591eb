"""The profile page's cost per request: a bounded number of queries whatever the holder owns, and no
session write on a page view (the idle deadline is pushed at most once a minute)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.middleware import SESSION_REFRESH_INTERVAL
from certificates.services import certificate_revoke
from notifications.models import Channel
from notifications.services import message_enqueue
from otp.models import DeviceKind
from otp.services import device_create
from tests.certificates.conftest import PIN, active, ca, ca_hierarchy, pem  # noqa: F401  (fixtures)
from tests.signing.conftest import Signer, authorize, signer  # noqa: F401  (fixture)

# Session, user, holder (with its organization), latest messages, devices, current certificate,
# renewal request.
PROFILE_QUERIES = 7


def _profile_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("panel:profile"))
    assert response.status_code == 200
    return len(queries)


def test_the_profile_page_queries_do_not_grow_with_the_holders_certificates_devices_messages_and_signatures(
    signer: Signer, holder_client  # noqa: F811  (the fixture imported above)
):
    holder = signer.holder
    assert holder_client.get(reverse("panel:profile")).status_code == 200  # the first view after login
    before = _profile_queries(holder_client)
    assert before <= PROFILE_QUERIES

    for _ in range(3):
        authorize(signer)
    certificate_revoke(certificate=signer.certificate, reason="affiliation_changed")
    active(holder)
    for number in range(3):
        device_create(kind=DeviceKind.HARDWARE_HOTP, seed=b"12345678901234567890", holder=holder,
                      serial=f"400000000000{number + 2}")
    device_create(kind=DeviceKind.APP_TOTP, seed=b"another-app-seed-2026", holder=holder)
    for number in range(6):
        message_enqueue(message_type="test", channel=Channel.EMAIL, recipient=holder.email, context={},
                        idempotency_key=f"profile-load-{number}", organization=holder.organization, holder=holder)

    assert _profile_queries(holder_client) == before


def test_a_page_view_within_the_refresh_interval_does_not_write_the_session(holder_client):
    key = holder_client.session.session_key
    expires = Session.objects.get(session_key=key).expire_date
    with CaptureQueriesContext(connection) as queries:
        assert holder_client.get(reverse("panel:profile")).status_code == 200
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(("UPDATE", "INSERT"))]
    assert writes == []
    assert Session.objects.get(session_key=key).expire_date == expires


def test_a_page_view_after_the_refresh_interval_pushes_the_idle_deadline(holder_client, settings):
    key = holder_client.session.session_key
    stale = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE) - SESSION_REFRESH_INTERVAL
    Session.objects.filter(session_key=key).update(expire_date=stale)
    assert holder_client.get(reverse("panel:profile")).status_code == 200
    remaining = (Session.objects.get(session_key=key).expire_date - timezone.now()).total_seconds()
    assert settings.SESSION_COOKIE_AGE - 5 < remaining <= settings.SESSION_COOKIE_AGE


def test_the_idle_timeout_still_logs_out_on_time_without_session_writes(holder_client):
    """Views within the refresh interval write nothing; the deadline of the last write still ends it."""
    key = holder_client.session.session_key
    assert holder_client.get(reverse("panel:profile")).status_code == 200
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = holder_client.get(reverse("panel:profile"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
