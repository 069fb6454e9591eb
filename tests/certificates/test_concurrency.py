"""Parallel PIN guesses on one certificate are counted one by one (the row lock), on PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from audit.models import AuditEvent
from certificates.models import Certificate, CertificateState
from certificates.services import certificate_key_unlock
from core.errors import ApplicationError
from tests.certificates.conftest import active

pytestmark = pytest.mark.both_vaults


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_pins_cannot_exceed_the_retry_limit(world, ca):
    certificate = active(world.alpha.holder)
    codes: list[str] = []
    start = threading.Barrier(8)

    def guess() -> None:
        try:
            start.wait()
            certificate_key_unlock(certificate=certificate, pin="99999998")
        except ApplicationError as exc:
            codes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    certificate = Certificate.objects.get(pk=certificate.pk)
    assert certificate.state == CertificateState.BLOCKED
    assert sorted(codes) == sorted(["invalid_pin"] * 4 + ["locked_pin"] * 4)
    assert AuditEvent.objects.filter(event_type="certificate.pin_failed").count() == 5
