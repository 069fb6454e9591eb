"""Expiry reminders: one e-mail per certificate and threshold, the smallest one reached,
never twice, never for a certificate that is not active; each organization's own reminder days."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from django.db import connection
from django.utils import timezone, translation
from django.utils.formats import date_format

from accounts.models import Holder, KeyAlgorithm, Organization
from certificates.models import Certificate, CertificateState
from certificates.services import (
    certificate_block,
    certificate_revoke,
    certificate_suspend,
    certificates_expire_past_validity,
    expiry_reminders_send,
)
from certificates.services.reminders import reminder_bands, reminders_due
from certificates.tasks import expiry_reminders_send_task
from config.celery import app
from notifications.models import Message
from tests.certificates.conftest import active, issued

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def today() -> date:
    """Today in Rome, read when a test runs: a run that crosses midnight must not use the collection day."""
    return timezone.localdate()


def _fast_keys(*organizations: Organization) -> None:
    # ECDSA keys: the reminders do not care, and RSA key generation is the slow part of issuance.
    for organization in organizations:
        organization.key_algorithm = KeyAlgorithm.ECDSA_P256
        organization.max_active_certificates = 10
        organization.save(update_fields=["key_algorithm", "max_active_certificates"])


@pytest.fixture
def orgs(world, ca):
    _fast_keys(world.alpha.organization, world.beta.organization)
    return world


def expiring(holder: Holder, days: int, *, hour: int = 10) -> Certificate:
    """An active certificate whose not_after is ``days`` local days after today (dates moved by update)."""
    certificate = active(holder)
    not_after = timezone.make_aware(datetime.combine(today() + timedelta(days=days), time(hour)))
    Certificate.objects.filter(pk=certificate.pk).update(not_after=not_after)
    certificate.refresh_from_db()
    return certificate


def reminders(certificate: Certificate | None = None) -> list[Message]:
    messages = Message.objects.filter(message_type="certificate_expiry_reminder").order_by("pk")
    if certificate is not None:
        messages = messages.filter(idempotency_key__startswith=f"expiry-reminder:{certificate.pk}:")
    return list(messages)


def keys(certificate: Certificate) -> list[str]:
    return [m.idempotency_key for m in reminders(certificate)]


def formatted(day: date, language: str) -> str:
    with translation.override(language):
        return date_format(day, "DATE_FORMAT")


def on(day: date) -> int:
    return expiry_reminders_send(today=day)


def test_each_threshold_is_reminded_once_on_the_day_it_is_reached(orgs):
    certificate = expiring(orgs.alpha.holder, 70)
    seen = []
    for offset in range(71):  # every day from today to the expiry date
        if on(today() + timedelta(days=offset)):
            seen.append(70 - offset)
    assert seen == [60, 30, 7]
    pk = certificate.pk
    assert keys(certificate) == [f"expiry-reminder:{pk}:60", f"expiry-reminder:{pk}:30", f"expiry-reminder:{pk}:7"]
    certificate.refresh_from_db()
    assert certificate.expiry_reminded_days == 7


def test_only_certificates_within_a_threshold_get_a_reminder(orgs):
    due = expiring(orgs.alpha.holders[0], 60, hour=23)  # 23:00 local on the 60th day: still 60 days
    not_yet = expiring(orgs.alpha.holders[1], 61, hour=0)  # 00:00 local on the 61st day
    assert on(today()) == 1
    assert keys(due) == [f"expiry-reminder:{due.pk}:60"]
    assert keys(not_yet) == []


def test_running_the_job_twice_sends_nothing_new(orgs):
    expiring(orgs.alpha.holders[0], 30)
    expiring(orgs.beta.holders[0], 5)
    assert expiry_reminders_send() == 2
    assert expiry_reminders_send() == 0
    assert on(today() + timedelta(days=1)) == 0
    assert len(reminders()) == 2


def test_a_missed_day_still_sends_the_threshold_crossed_meanwhile_once(orgs):
    certificate = expiring(orgs.alpha.holder, 62)
    assert on(today()) == 0
    # The job did not run on days 1–4: on day 5 the certificate is at 57 days.
    assert on(today() + timedelta(days=5)) == 1
    assert on(today() + timedelta(days=6)) == 0
    assert keys(certificate) == [f"expiry-reminder:{certificate.pk}:60"]


def test_a_certificate_found_close_to_expiry_gets_only_the_smallest_threshold_reached(orgs):
    six = expiring(orgs.alpha.holders[0], 6)
    twenty = expiring(orgs.alpha.holders[1], 20)
    assert on(today()) == 2
    assert keys(six) == [f"expiry-reminder:{six.pk}:7"]
    assert keys(twenty) == [f"expiry-reminder:{twenty.pk}:30"]
    # Later days owe twenty the 7-day reminder only; six is done.
    for offset in range(1, 21):
        on(today() + timedelta(days=offset))
    assert keys(six) == [f"expiry-reminder:{six.pk}:7"]
    assert keys(twenty) == [f"expiry-reminder:{twenty.pk}:30", f"expiry-reminder:{twenty.pk}:7"]


def test_the_reminder_goes_by_email_to_the_holder_in_their_language_with_the_renewal_link(orgs, settings):
    settings.SITE_URL = "https://firma.example.org"
    holder = orgs.alpha.holder
    holder.user.preferred_language = "en"
    holder.user.save(update_fields=["preferred_language"])
    certificate = expiring(holder, 30)
    on(today())
    [message] = reminders(certificate)
    assert (message.channel, message.recipient, message.language) == ("email", holder.email, "en")
    assert (message.holder_id, message.organization_id) == (holder.pk, orgs.alpha.organization.pk)
    assert message.status == "queued"
    assert "Your remote signature certificate expires on" in message.subject
    assert "30 days left." in message.body_text
    assert certificate.iut in message.body_text
    assert "https://firma.example.org/rinnovo/" in message.body_text
    assert 'href="https://firma.example.org/rinnovo/"' in message.body_html
    assert "request a new remote signature certificate" not in message.body_text
    assert formatted(today() + timedelta(days=30), "en") in message.subject


def test_an_organization_that_does_not_renew_tells_to_request_a_new_certificate(orgs):
    chamber = orgs.beta.organization
    chamber.renewable = False
    chamber.save(update_fields=["renewable"])
    holder = orgs.beta.holder
    holder.user.preferred_language = "en"
    holder.user.save(update_fields=["preferred_language"])
    certificate = expiring(holder, 7)
    on(today())
    [message] = reminders(certificate)
    assert "request a new remote signature certificate from your registration office" in message.body_text
    assert "/rinnovo/" not in message.body_text and "/rinnovo/" not in message.body_html
    assert chamber.support_email in message.body_text


def test_italian_holders_get_the_reminder_in_italian_rendering(orgs, settings):
    settings.SITE_URL = "https://firma.example.org"
    certificate = expiring(orgs.alpha.holder, 7)  # preferred language: it (the default)
    on(today())
    [message] = reminders(certificate)
    assert message.language == "it"
    assert "https://firma.example.org/rinnovo/" in message.body_text
    assert formatted(today() + timedelta(days=7), "it") in message.body_text  # "30 novembre 2026"


def test_certificates_that_are_not_active_get_no_reminder(orgs):
    alpha, beta = orgs.alpha.holders, orgs.beta.holders
    suspended = certificate_suspend(certificate=expiring(alpha[0], 20))
    revoked = certificate_revoke(certificate=expiring(alpha[1], 20), reason="unspecified")
    blocked = certificate_block(certificate=expiring(beta[0], 20))
    not_activated = issued(beta[1])
    Certificate.objects.filter(pk=not_activated.pk).update(not_after=timezone.now() + timedelta(days=20))
    past = expiring(alpha[0], 3)
    Certificate.objects.filter(pk=past.pk).update(not_after=timezone.now() - timedelta(hours=1))
    certificates_expire_past_validity()
    assert Certificate.objects.get(pk=past.pk).state == CertificateState.EXPIRED
    assert on(today()) == 0
    assert reminders() == []
    assert {suspended.state, revoked.state, blocked.state} == {"suspended", "revoked", "blocked"}


def test_an_active_certificate_already_past_not_after_is_not_reminded_before_the_expiry_job_runs(orgs):
    certificate = expiring(orgs.alpha.holder, 0)
    Certificate.objects.filter(pk=certificate.pk).update(not_after=timezone.now() - timedelta(minutes=1))
    assert expiry_reminders_send() == 0


def test_a_certificate_suspended_at_a_threshold_gets_it_after_reactivation(orgs):
    from certificates.services import certificate_reactivate

    certificate = expiring(orgs.alpha.holder, 35)
    assert on(today()) == 1  # 60
    certificate = certificate_suspend(certificate=certificate)
    assert on(today() + timedelta(days=5)) == 0  # 30 reached while suspended
    certificate_reactivate(certificate=certificate)
    assert on(today() + timedelta(days=8)) == 1
    assert keys(certificate)[-1] == f"expiry-reminder:{certificate.pk}:30"


def test_each_organization_reminds_on_its_own_days(orgs):
    beta = orgs.beta.organization
    beta.reminder_days = [90, 14]
    beta.save(update_fields=["reminder_days"])
    alpha_80 = expiring(orgs.alpha.holders[0], 80)
    beta_80 = expiring(orgs.beta.holders[0], 80)
    alpha_20 = expiring(orgs.alpha.holders[1], 20)
    beta_20 = expiring(orgs.beta.holders[1], 20)
    assert on(today()) == 3
    assert keys(alpha_80) == []
    assert keys(beta_80) == [f"expiry-reminder:{beta_80.pk}:90"]
    assert keys(alpha_20) == [f"expiry-reminder:{alpha_20.pk}:30"]
    assert keys(beta_20) == [f"expiry-reminder:{beta_20.pk}:90"]
    assert on(today() + timedelta(days=6)) == 1  # beta_20 at 14 days; alpha_20 at 14 owes nothing until 7
    assert keys(beta_20)[-1] == f"expiry-reminder:{beta_20.pk}:14"
    assert on(today() + timedelta(days=13)) == 1  # alpha_20 at 7
    assert keys(alpha_20)[-1] == f"expiry-reminder:{alpha_20.pk}:7"


def test_an_existing_outbox_row_is_never_sent_again_even_if_the_row_was_not_marked(orgs):
    certificate = expiring(orgs.alpha.holder, 30)
    assert on(today()) == 1
    Certificate.objects.filter(pk=certificate.pk).update(expiry_reminded_days=None)  # e.g. restored backup
    assert on(today()) == 0
    assert len(reminders(certificate)) == 1
    assert Certificate.objects.get(pk=certificate.pk).expiry_reminded_days == 30


def test_the_job_runs_daily_from_beat_through_a_thin_task(orgs):
    entry = app.conf.beat_schedule["certificates-expiry-reminders"]
    assert entry["task"] == expiry_reminders_send_task.name == "certificates.tasks.expiry_reminders_send"
    assert entry["schedule"].hour == {8}
    assert "certificates-expire-past-validity" in app.conf.beat_schedule
    expiring(orgs.alpha.holder, 7)
    assert expiry_reminders_send_task() == 1


@pytest.mark.postgresql_only
def test_the_selection_uses_the_reminder_index_on_postgresql(orgs):
    expiring(orgs.alpha.holder, 30)
    for band in reminder_bands(today=today(), now=timezone.now()):
        query = reminders_due(band).order_by().values_list("pk", flat=True)
        sql, params = query.query.sql_with_params()
        with connection.cursor() as cursor:
            # A handful of rows: without this the planner rightly prefers a sequential scan. The
            # benchmark (tests/bench/bench_reminders.py) shows the plan it chooses at 1M rows.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "certificate_reminder_due_idx" in plan, plan
        assert "Index Cond" in plan and "not_after" in plan, plan
