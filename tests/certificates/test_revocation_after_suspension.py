"""Revoking a suspended certificate: the revocation counts from the start of the suspension.

A signature made (and timestamped) while the certificate was on hold must never validate afterwards,
whatever revocation data a relying party fetches later: the CRL and OCSP answers published after the
revocation must not say "good until the revocation", or the hold would be forgotten.
"""

from __future__ import annotations

import time
from datetime import timedelta
from io import BytesIO

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from django.utils import timezone
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from certificates.models import AuthorityRole, RevocationReason
from certificates.selectors import crl_latest
from certificates.services import certificate_key_unlock, certificate_revoke, certificate_suspend, crl_publish
from signing.pades import documents_sign
from signing.revinfo import _ocsp_for, trust_material
from tests.certificates.conftest import PIN, active
from tests.signing.conftest import pdf_make

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pyHanko's validator


@pytest.fixture
def clock(monkeypatch):
    """Shift Django's clock (the lifecycle services read ``timezone.now``); the TSA keeps real time."""
    real_now = timezone.now

    def shift(delta: timedelta) -> None:
        monkeypatch.setattr(timezone, "now", lambda: real_now() + delta)

    return shift


def _signed(key, certificate) -> tuple[bytes, object]:
    """A B-T signature: the TSA's timestamp is its only proof of time (no revocation data inside)."""
    data = documents_sign(private_key=key, certificate=certificate, documents=[pdf_make()], level="B-T")[0]
    signature = PdfFileReader(BytesIO(data)).embedded_signatures[0]
    return data, signature


def _context(ca, certificate, *, moment, crls=(), ocsps=()) -> ValidationContext:
    """What a relying party has after the revocation: our root, the CA certificates, the revocation
    data published now; the signer checked at the time of its timestamp."""
    return ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(bytes(ca[AuthorityRole.ROOT].der))],
        other_certs=[asn1_x509.Certificate.load(bytes(ca[role].der)) for role in (
            AuthorityRole.ISSUING, AuthorityRole.TSA, AuthorityRole.OCSP)],
        # The root's CRL answers for the issuing CA; the signer's status comes from ``crls``/``ocsps``.
        crls=[bytes(crl_latest(role=AuthorityRole.ROOT).der), *crls], ocsps=list(ocsps),
        allow_fetching=False, revocation_mode="hard-fail", moment=moment, retroactive_revinfo=True,
    )


def _timestamp_time(signature):
    """The genTime of the signature's timestamp token."""
    return signature.attached_timestamp_data["encap_content_info"]["content"].parsed["gen_time"].native


def _ocsp(certificate, ca) -> bytes:
    answer = _ocsp_for(bytes(certificate.der), bytes(ca[AuthorityRole.ISSUING].der))
    assert answer is not None
    return answer


def test_revoking_a_suspended_certificate_dates_the_revocation_from_the_suspension(world, ca, clock):
    certificate = active(world.alpha.holder)
    clock(-timedelta(minutes=10))
    suspended_at = certificate_suspend(certificate=certificate).suspended_at
    clock(timedelta(minutes=10))
    certificate_revoke(certificate=certificate, reason=RevocationReason.AFFILIATION_CHANGED)
    certificate.refresh_from_db()
    crl_publish(role=AuthorityRole.ISSUING)

    assert certificate.revocation_time == suspended_at
    [entry] = [e for e in asn1_crl.CertificateList.load(bytes(crl_latest(role=AuthorityRole.ISSUING).der))[
        "tbs_cert_list"]["revoked_certificates"] if e["user_certificate"].native == int(certificate.serial)]
    assert entry["revocation_date"].native == suspended_at.replace(microsecond=0)
    assert entry.crl_reason_value.native == "affiliation_changed"
    single = asn1_ocsp.OCSPResponse.load(_ocsp(certificate, ca)).basic_ocsp_response["tbs_response_data"][
        "responses"][0]
    assert single["cert_status"].name == "revoked"
    assert single["cert_status"].chosen["revocation_time"].native == suspended_at.replace(microsecond=0)


def test_a_signature_timestamped_during_the_suspension_never_validates_after_the_revocation(world, ca, clock):
    certificate = active(world.alpha.holder)
    key = certificate_key_unlock(certificate=certificate, pin=PIN)  # opened while active, used during the hold
    _, before = _signed(key, certificate)
    # Revocation data counts whole seconds: the hold starts in a later second than the first timestamp.
    time.sleep(1.1)
    certificate_suspend(certificate=certificate)
    _, during = _signed(key, certificate)  # the TSA stamps a time after the start of the hold
    clock(timedelta(minutes=5))
    certificate_revoke(certificate=certificate, reason=RevocationReason.AFFILIATION_CHANGED)
    crl_publish(role=AuthorityRole.ISSUING)
    certificate.refresh_from_db()
    crl = bytes(crl_latest(role=AuthorityRole.ISSUING).der)
    answer = _ocsp(certificate, ca)
    assert certificate.suspended_at < _timestamp_time(during) < certificate.revoked_at

    material = trust_material()  # the TSA is good (its own OCSP answer): only the signer is in question
    tsa_context = ValidationContext(
        trust_roots=material.roots, other_certs=material.intermediates, crls=material.crls, ocsps=material.ocsps,
        allow_fetching=False, revocation_mode="hard-fail", retroactive_revinfo=True,
    )
    for revinfo in ({"crls": [crl]}, {"ocsps": [answer]}):
        at_timestamp = _context(ca, certificate, moment=_timestamp_time(during), **revinfo)
        status = validate_pdf_signature(during, at_timestamp, ts_validation_context=tsa_context)
        assert status.revoked and not status.bottom_line, revinfo.keys()
    # The control: signed before the hold, the same CRL says the certificate was good then. (pyHanko
    # reads a "revoked" OCSP answer as unusable for an earlier moment, so the CRL makes the point.)
    status = validate_pdf_signature(
        before, _context(ca, certificate, moment=_timestamp_time(before), crls=[crl]),
        ts_validation_context=tsa_context,
    )
    assert status.bottom_line, status.pretty_print_details()
