"""The certificate lifecycle: allowed transitions, refused ones leaving nothing behind, time-driven
jobs, and tenant isolation of the selectors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from django.utils import timezone

from audit.models import AuditEvent
from certificates.models import Certificate, CertificateKey, CertificateState, Crl, RevocationReason
from certificates.selectors import (
    certificate_current_for_holder,
    certificate_get_for_holder,
    certificate_get_for_operator,
    certificate_list_for_holder,
)
from certificates.services import (
    certificate_activate,
    certificate_block,
    certificate_expire,
    certificate_issue,
    certificate_reactivate,
    certificate_request,
    certificate_revoke,
    certificate_suspend,
    certificates_auto_revoke_suspended,
    certificates_expire_past_validity,
    certificates_expire_unactivated,
    crl_refresh,
)
from certificates.services.lifecycle import validity_end
from core.errors import ApplicationError
from notifications.models import Message
from tests.certificates.conftest import PIN, active, issued

pytestmark = pytest.mark.both_vaults

State = CertificateState


def _crl_serials() -> dict[int, x509.ReasonFlags | None]:
    crl = x509.load_der_x509_crl(bytes(Crl.objects.filter(authority__role="issuing").latest("number").der))
    out = {}
    for entry in crl:
        try:
            out[entry.serial_number] = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            out[entry.serial_number] = None
    return out


@pytest.mark.clock
def test_request_then_issue_then_activate(world, ca):
    operator = world.alpha.operator.user
    certificate = certificate_request(holder=world.alpha.holder, actor=operator)
    assert certificate.state == State.REQUESTED and certificate.der is None and certificate.iut

    certificate = certificate_issue(certificate=certificate, actor=operator)
    assert certificate.state == State.ISSUED and certificate.issued_by == operator
    assert certificate.activation_deadline - certificate.issued_at == timedelta(days=120)
    # What the holder reads: the same date in Rome, 36 months on (29 February: the 28th).
    issued_on, ends_on = timezone.localdate(certificate.issued_at), timezone.localdate(certificate.not_after)
    assert ends_on == issued_on.replace(year=issued_on.year + 3) or (issued_on.month, issued_on.day) == (2, 29)

    certificate = certificate_activate(certificate=certificate, pin=PIN, actor=world.alpha.holder.user)
    assert certificate.state == State.ACTIVE and certificate.activated_at is not None
    events = list(
        AuditEvent.objects.filter(subject_id=str(certificate.pk), event_type__startswith="certificate.")
        .order_by("seq")
        .values_list("event_type", flat=True)
    )
    assert events == ["certificate.requested", "certificate.issued", "certificate.activated"]


@pytest.mark.parametrize(
    ("issued_utc", "months", "ends_in_rome"),
    [
        ("2026-04-30 22:30", 1, "2026-06-01 00:30"),  # 1 May in Rome: one month is 1 June, not 31 May
        ("2026-07-14 22:30", 6, "2027-01-15 00:30"),  # 15 July (summer time): six months is 15 January
        ("2026-01-14 22:30", 6, "2026-07-14 23:30"),  # 23:30 in Rome, same date in UTC
        ("2026-01-30 23:30", 1, "2026-02-28 00:30"),  # 31 January in Rome + 1 month: end of February
        ("2026-10-24 22:30", 36, "2029-10-25 00:30"),
    ],
)
def test_validity_months_are_counted_in_the_rome_calendar(issued_utc, months, ends_in_rome):
    issued_at = datetime.fromisoformat(issued_utc).replace(tzinfo=UTC)

    ends = validity_end(issued_at=issued_at, months=months)

    assert timezone.localtime(ends).strftime("%Y-%m-%d %H:%M") == ends_in_rome


def test_suspend_reactivate_and_revoke_update_the_crl(world, ca, django_capture_on_commit_callbacks):
    certificate = active(world.alpha.holder)
    serial = int(certificate.serial)

    with django_capture_on_commit_callbacks(execute=True):
        certificate_suspend(certificate=certificate, actor=world.alpha.operator.user, note="lost phone")
    assert _crl_serials() == {serial: x509.ReasonFlags.certificate_hold}

    with django_capture_on_commit_callbacks(execute=True):
        certificate_reactivate(certificate=certificate, actor=world.alpha.holder.user)
    assert _crl_serials() == {}
    certificate.refresh_from_db()
    assert certificate.state == State.ACTIVE and certificate.revocation_reason == ""

    with django_capture_on_commit_callbacks(execute=True):
        certificate_revoke(certificate=certificate, reason=RevocationReason.KEY_COMPROMISE)
    assert _crl_serials() == {serial: x509.ReasonFlags.key_compromise}
    certificate.refresh_from_db()
    assert certificate.state == State.REVOKED and certificate.revoked_at is not None
    assert CertificateKey.objects.get(certificate=certificate).destroyed_at is not None


def test_the_holder_is_told_of_suspension_reactivation_and_revocation(world, ca):
    certificate = active(world.alpha.holder)
    certificate_suspend(certificate=certificate)
    certificate_reactivate(certificate=certificate)
    certificate_revoke(certificate=certificate, reason=RevocationReason.UNSPECIFIED)

    bodies = [m.body_text for m in Message.objects.filter(holder=world.alpha.holder, message_type="security_notice")]
    assert len(bodies) == 4  # activated, suspended, reactivated, revoked


def test_a_suspended_and_a_blocked_certificate_can_be_revoked(world, ca):
    suspended = active(world.alpha.holder)
    certificate_suspend(certificate=suspended)
    certificate_revoke(certificate=suspended, reason=RevocationReason.AFFILIATION_CHANGED)

    blocked = active(world.alpha.holder)
    certificate_block(certificate=blocked)
    certificate_revoke(certificate=blocked, reason=RevocationReason.CESSATION_OF_OPERATION)

    assert {c.state for c in Certificate.objects.filter(pk__in=[suspended.pk, blocked.pk])} == {State.REVOKED}


def test_blocking_lists_the_certificate_as_ceased_on_the_crl_at_the_block_time(
    world, ca, django_capture_on_commit_callbacks
):
    certificate = active(world.alpha.holder)
    with django_capture_on_commit_callbacks(execute=True):
        certificate_block(certificate=certificate)

    certificate.refresh_from_db()
    assert certificate.revocation_reason == RevocationReason.CESSATION_OF_OPERATION
    assert certificate.revocation_time == certificate.blocked_at
    assert _crl_serials() == {int(certificate.serial): x509.ReasonFlags.cessation_of_operation}
    crl = x509.load_der_x509_crl(bytes(Crl.objects.filter(authority__role="issuing").latest("number").der))
    entry = crl.get_revoked_certificate_by_serial_number(int(certificate.serial))
    assert entry.revocation_date_utc == certificate.blocked_at.replace(microsecond=0)


def test_revoking_a_blocked_certificate_keeps_the_block_time_and_takes_the_given_reason(world, ca):
    certificate = active(world.alpha.holder)
    certificate_block(certificate=certificate)
    certificate.refresh_from_db()
    blocked_at = certificate.blocked_at

    certificate_revoke(certificate=certificate, reason=RevocationReason.KEY_COMPROMISE)

    certificate.refresh_from_db()
    assert certificate.state == State.REVOKED and certificate.revoked_at > blocked_at
    assert certificate.revocation_reason == RevocationReason.KEY_COMPROMISE
    assert certificate.revocation_time == blocked_at  # listed since the block, not since the paperwork


@pytest.mark.django_db(transaction=True)
def test_certificates_blocked_before_the_upgrade_are_listed_as_revoked_at_their_block_time(world, ca):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    certificate = active(world.alpha.holder)
    executor = MigrationExecutor(connection)
    executor.migrate([("certificates", "0003_merge_activation_reminders")])
    blocked_at = timezone.now() - timedelta(days=3)
    # What blocking used to leave behind: blocked, key erased, but nothing for the CRL or OCSP.
    Certificate.objects.filter(pk=certificate.pk).update(state=State.BLOCKED, blocked_at=blocked_at)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    certificate.refresh_from_db()
    assert certificate.revocation_reason == RevocationReason.CESSATION_OF_OPERATION
    assert certificate.revocation_time == blocked_at
    assert [crl.authority.role for crl in crl_refresh()] == ["issuing"]  # the stored CRL no longer matches
    assert _crl_serials() == {int(certificate.serial): x509.ReasonFlags.cessation_of_operation}


def test_an_issued_certificate_can_be_revoked_before_activation(world, ca):
    certificate = issued(world.alpha.holder)
    certificate_revoke(certificate=certificate, reason=RevocationReason.SUPERSEDED)
    certificate.refresh_from_db()
    assert certificate.state == State.REVOKED


def _refused(call, certificate, message_part: str) -> None:
    audit_rows, crls = AuditEvent.objects.count(), Crl.objects.count()
    before = Certificate.objects.filter(pk=certificate.pk).values().get()
    with pytest.raises(ApplicationError) as refused:
        call()
    assert refused.value.code in {"invalid_transition", "certificate_limit"}
    assert message_part in str(refused.value.message)
    assert AuditEvent.objects.count() == audit_rows and Crl.objects.count() == crls
    assert Certificate.objects.filter(pk=certificate.pk).values().get() == before


def test_a_revoked_certificate_cannot_be_reactivated(world, ca, django_capture_on_commit_callbacks):
    certificate = active(world.alpha.holder)
    with django_capture_on_commit_callbacks(execute=True):
        certificate_revoke(certificate=certificate, reason=RevocationReason.KEY_COMPROMISE)

    _refused(lambda: certificate_reactivate(certificate=certificate), certificate, "revocation is final")


def test_an_issued_certificate_cannot_be_suspended(world, ca):
    certificate = issued(world.alpha.holder)
    _refused(lambda: certificate_suspend(certificate=certificate), certificate, "Only an active certificate")


def test_a_blocked_certificate_cannot_be_reactivated_or_suspended(world, ca):
    certificate = active(world.alpha.holder)
    certificate_block(certificate=certificate)
    _refused(lambda: certificate_reactivate(certificate=certificate), certificate, "can only be revoked")
    _refused(lambda: certificate_suspend(certificate=certificate), certificate, "Only an active certificate")


def test_a_second_certificate_is_refused_while_one_is_live(world, ca):
    current = active(world.alpha.holder)
    with pytest.raises(ApplicationError) as refused:
        certificate_request(holder=world.alpha.holder)
    assert refused.value.code == "certificate_limit"
    assert Certificate.objects.filter(holder=world.alpha.holder).count() == 1

    # A request made while nothing was live still cannot be issued once another one is.
    certificate_revoke(certificate=current, reason=RevocationReason.SUPERSEDED)
    waiting = certificate_request(holder=world.alpha.holder)
    world.alpha.organization.max_active_certificates = 2
    world.alpha.organization.save(update_fields=["max_active_certificates"])
    other = certificate_issue(certificate=certificate_request(holder=world.alpha.holder))
    world.alpha.organization.max_active_certificates = 1
    world.alpha.organization.save(update_fields=["max_active_certificates"])
    _refused(lambda: certificate_issue(certificate=waiting), waiting, "as many certificates")
    assert other.state == State.ISSUED


def test_an_organization_may_allow_more_certificates_per_holder(world, ca):
    world.beta.organization.max_active_certificates = 2
    world.beta.organization.save(update_fields=["max_active_certificates"])
    active(world.beta.holder)
    active(world.beta.holder)
    with pytest.raises(ApplicationError):
        certificate_request(holder=world.beta.holder)


def test_revocation_needs_a_known_reason(world, ca):
    certificate = active(world.alpha.holder)
    for reason in ("certificate_hold", "because", ""):
        with pytest.raises(ApplicationError) as refused:
            certificate_revoke(certificate=certificate, reason=reason)
        assert refused.value.code == "invalid_reason"


def test_expire_refuses_a_certificate_that_has_not_expired(world, ca):
    certificate = active(world.alpha.holder)
    with pytest.raises(ApplicationError) as refused:
        certificate_expire(certificate=certificate)
    assert refused.value.code == "not_expired"


# --- Time-driven jobs ------------------------------------------------------------------------------


def test_unactivated_certificates_expire_after_the_deadline_and_are_listed(world, ca):
    late = issued(world.alpha.holder)
    on_time = issued(world.beta.holder)
    Certificate.objects.filter(pk=late.pk).update(activation_deadline=timezone.now() - timedelta(minutes=1))

    assert certificates_expire_unactivated() == 1
    assert certificates_expire_unactivated() == 0  # idempotent

    late.refresh_from_db()
    on_time.refresh_from_db()
    assert late.state == State.EXPIRED and on_time.state == State.ISSUED
    assert late.revocation_reason == RevocationReason.CESSATION_OF_OPERATION
    assert CertificateKey.objects.get(certificate=late).destroyed_at is not None
    crl_refresh()
    assert _crl_serials() == {int(late.serial): x509.ReasonFlags.cessation_of_operation}


def test_activation_after_the_deadline_is_refused(world, ca):
    certificate = issued(world.alpha.holder)
    Certificate.objects.filter(pk=certificate.pk).update(activation_deadline=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ApplicationError) as refused:
        certificate_activate(certificate=certificate, pin=PIN)
    assert refused.value.code == "activation_deadline_passed"


def test_suspended_certificates_are_revoked_after_the_organization_period(world, ca):
    old = active(world.alpha.holder)
    recent = active(world.beta.holder)
    certificate_suspend(certificate=old)
    certificate_suspend(certificate=recent)
    Certificate.objects.filter(pk=old.pk).update(suspended_at=timezone.now() - timedelta(days=121))
    Certificate.objects.filter(pk=recent.pk).update(suspended_at=timezone.now() - timedelta(days=119))

    assert certificates_auto_revoke_suspended() == 1
    assert certificates_auto_revoke_suspended() == 0

    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.state == State.REVOKED and old.revocation_reason == RevocationReason.CESSATION_OF_OPERATION
    assert recent.state == State.SUSPENDED


def test_certificates_past_not_after_expire(world, ca):
    certificate = active(world.alpha.holder)
    current = issued(world.beta.holder)
    Certificate.objects.filter(pk=certificate.pk).update(not_after=timezone.now() - timedelta(seconds=1))

    assert certificates_expire_past_validity() == 1
    assert certificates_expire_past_validity() == 0

    certificate.refresh_from_db()
    current.refresh_from_db()
    assert certificate.state == State.EXPIRED and certificate.revocation_reason == ""
    assert current.state == State.ISSUED


def test_crl_refresh_republishes_only_when_stale(world, ca):
    assert crl_refresh() == []
    certificate = active(world.alpha.holder)
    certificate_suspend(certificate=certificate)  # on_commit publication does not run in this test

    assert [crl.authority.role for crl in crl_refresh()] == ["issuing"]
    assert crl_refresh() == []
    assert crl_refresh(now=timezone.now() + timedelta(hours=13))  # past half of 24 hours


# --- Selectors -------------------------------------------------------------------------------------


def test_an_operator_gets_only_certificates_of_their_organization(world, ca):
    mine = issued(world.alpha.holder)
    theirs = issued(world.beta.holder)

    assert certificate_get_for_operator(user=world.alpha.operator.user, certificate_id=mine.pk) == mine
    with pytest.raises(Certificate.DoesNotExist):
        certificate_get_for_operator(user=world.beta.operator.user, certificate_id=mine.pk)
    with pytest.raises(Certificate.DoesNotExist):
        certificate_get_for_operator(user=world.alpha.operator.user, certificate_id=theirs.pk)
    with pytest.raises(Certificate.DoesNotExist):
        certificate_get_for_operator(user=world.alpha.operator.user, certificate_id=999_999)
    with pytest.raises(Certificate.DoesNotExist):  # a holder is not an operator
        certificate_get_for_operator(user=world.alpha.holder.user, certificate_id=mine.pk)


def test_a_holder_sees_only_their_own_certificates(world, ca):
    mine = active(world.alpha.holder)
    colleague = issued(world.alpha.holders[1])

    assert list(certificate_list_for_holder(user=world.alpha.holder.user)) == [mine]
    assert certificate_current_for_holder(user=world.alpha.holder.user) == mine
    assert certificate_current_for_holder(user=world.beta.holder.user) is None
    with pytest.raises(Certificate.DoesNotExist):
        certificate_get_for_holder(user=world.alpha.holder.user, certificate_id=colleague.pk)
    assert list(certificate_list_for_holder(user=world.alpha.operator.user)) == []
