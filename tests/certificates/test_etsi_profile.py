"""What the certificates, the CRL and the OCSP answers say, as an Italian qualified trust service's do:
role data only as verified, the IUT in dnQualifier, the CA's names with its VAT identifier, status
kept after expiry (ExpiredCertsOnCRL, archiveCutoff) and a short-lived, rotated OCSP responder."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from asn1crypto import core
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtensionOID, NameOID
from django.conf import settings
from django.utils import timezone

from audit.events import AuditEventType
from audit.models import AuditEvent
from certificates.models import AuthorityRole, Certificate, CertificateAuthority, RevocationReason
from certificates.selectors import authority_current
from certificates.services import (
    certificate_revoke,
    crl_publish,
    ocsp_respond,
    ocsp_responder_rotate,
)
from certificates.tasks import ocsp_responder_rotate_task
from tests.certificates.conftest import active, issued


def _name(der: bytes, oid) -> list[str]:
    return [a.value for a in x509.load_der_x509_certificate(bytes(der)).subject.get_attributes_for_oid(oid)]


def _ocsp_single(certificate_der: bytes, issuer_der: bytes) -> asn1_ocsp.SingleResponse:
    request = ocsp.OCSPRequestBuilder().add_certificate(
        x509.load_der_x509_certificate(bytes(certificate_der)), x509.load_der_x509_certificate(bytes(issuer_der)),
        hashes.SHA256(),
    ).build().public_bytes(Encoding.DER)
    response = asn1_ocsp.OCSPResponse.load(ocsp_respond(request_der=request))
    assert response["response_status"].native == "successful"
    return response.basic_ocsp_response["tbs_response_data"]["responses"][0]


# --- Item: the subject asserts only what the operator verified ---------------------------------------


def test_a_holder_without_role_data_gets_no_organization_and_no_title(world, ca):
    holder = world.alpha.holder
    holder.role_organization = holder.role_title = ""
    holder.save(update_fields=["role_organization", "role_title"])

    certificate = issued(holder)

    assert _name(certificate.der, NameOID.ORGANIZATION_NAME) == []
    assert _name(certificate.der, NameOID.TITLE) == []
    assert certificate.subject_organization == "" and certificate.subject_title == ""


def test_verified_role_data_give_organization_and_title(world, ca):
    holder = world.alpha.holder  # section B of the request form: organization and title

    certificate = issued(holder)

    assert _name(certificate.der, NameOID.ORGANIZATION_NAME) == [holder.role_organization]
    assert _name(certificate.der, NameOID.TITLE) == ["Professore ordinario"]


def test_a_title_without_an_organization_is_a_role_at_the_registration_office_organization(world, ca):
    holder = world.alpha.holder
    holder.role_organization = ""
    holder.save(update_fields=["role_organization"])

    certificate = issued(holder)

    assert _name(certificate.der, NameOID.ORGANIZATION_NAME) == [world.alpha.organization.name]
    assert _name(certificate.der, NameOID.TITLE) == ["Professore ordinario"]


def test_the_holder_certificate_carries_its_iut_in_dn_qualifier(world, ca):
    certificate = issued(world.alpha.holder)

    assert _name(certificate.der, NameOID.DN_QUALIFIER) == [certificate.iut]


@pytest.mark.parametrize("role", [AuthorityRole.ROOT, AuthorityRole.ISSUING, AuthorityRole.OCSP, AuthorityRole.TSA])
def test_ca_names_carry_organization_identifier_and_unit_from_settings(ca, role):
    der = ca[role].der

    assert _name(der, NameOID.ORGANIZATION_IDENTIFIER) == [settings.CA_ORGANIZATION_IDENTIFIER]
    assert _name(der, NameOID.ORGANIZATIONAL_UNIT_NAME) == [settings.CA_ORGANIZATIONAL_UNIT]
    assert _name(der, NameOID.ORGANIZATION_NAME) == [settings.CA_ORGANIZATION_NAME]
    assert settings.CA_ORGANIZATION_IDENTIFIER.startswith("VATIT-")


# --- Item: status after expiry ------------------------------------------------------------------------


def test_the_crl_keeps_revoked_certificates_after_they_expire_and_says_so(world, ca):
    certificate = active(world.alpha.holder)
    certificate_revoke(certificate=certificate, reason=RevocationReason.KEY_COMPROMISE)
    Certificate.objects.filter(pk=certificate.pk).update(not_after=timezone.now() - timedelta(days=1))

    crl = asn1_crl.CertificateList.load(bytes(crl_publish(role=AuthorityRole.ISSUING).der))

    serials = [entry["user_certificate"].native for entry in crl["tbs_cert_list"]["revoked_certificates"]]
    assert int(certificate.serial) in serials
    [extension] = [e for e in crl["tbs_cert_list"]["crl_extensions"] if e["extn_id"].dotted == "2.5.29.60"]
    assert not extension["critical"].native
    since = core.GeneralizedTime.load(extension["extn_value"].native).native
    assert since == ca[AuthorityRole.ISSUING].not_before.astimezone(UTC).replace(microsecond=0)


def test_ocsp_answers_carry_archive_cutoff_at_the_ca_not_before(world, ca):
    certificate = active(world.alpha.holder)

    single = _ocsp_single(certificate.der, ca[AuthorityRole.ISSUING].der)

    assert single["cert_status"].name == "good"
    assert single.archive_cutoff_value.native == ca[AuthorityRole.ISSUING].not_before.replace(microsecond=0)


def test_ocsp_still_answers_revoked_for_a_revoked_certificate_after_it_expired(world, ca):
    certificate = active(world.alpha.holder)
    certificate_revoke(certificate=certificate, reason=RevocationReason.AFFILIATION_CHANGED)
    certificate.refresh_from_db()
    Certificate.objects.filter(pk=certificate.pk).update(not_after=timezone.now() - timedelta(days=1))

    single = _ocsp_single(certificate.der, ca[AuthorityRole.ISSUING].der)

    assert single["cert_status"].name == "revoked"
    assert single["cert_status"].chosen["revocation_reason"].native == "affiliation_changed"
    assert single.archive_cutoff_value is not None


# --- Item: the OCSP responder is short-lived and rotated ---------------------------------------------


def test_the_ocsp_responder_certificate_is_short_lived_and_carries_nocheck(ca):
    cert = x509.load_der_x509_certificate(bytes(ca[AuthorityRole.OCSP].der))

    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime <= timedelta(days=settings.CA_OCSP_RESPONDER_VALIDITY_DAYS, minutes=5)
    assert settings.CA_OCSP_RESPONDER_VALIDITY_DAYS == 90
    assert cert.extensions.get_extension_for_oid(ExtensionOID.OCSP_NO_CHECK)


def test_the_responder_is_not_rotated_while_far_from_expiry(ca):
    assert ocsp_responder_rotate() is None
    assert authority_current(AuthorityRole.OCSP).serial == ca[AuthorityRole.OCSP].serial


def test_the_beat_job_rotates_the_responder_before_it_expires_and_answers_are_signed_by_the_new_one(world, ca):
    old = ca[AuthorityRole.OCSP]
    due = old.not_after - timedelta(days=settings.CA_OCSP_RESPONDER_ROTATE_DAYS - 1)
    certificate = active(world.alpha.holder)

    assert ocsp_responder_rotate(now=due) is not None
    assert ocsp_responder_rotate(now=due) is None  # once

    new = authority_current(AuthorityRole.OCSP)
    old.refresh_from_db()
    assert new.serial != old.serial and not old.is_current
    assert new.not_after > old.not_after and new.issuer_id == ca[AuthorityRole.ISSUING].pk
    event = AuditEvent.objects.get(event_type=AuditEventType.CA_OCSP_RESPONDER_ROTATED)
    assert event.details["previous_serial"] == old.serial and event.details["serial"] == new.serial
    request = ocsp.OCSPRequestBuilder().add_certificate(
        x509.load_der_x509_certificate(bytes(certificate.der)),
        x509.load_der_x509_certificate(bytes(ca[AuthorityRole.ISSUING].der)), hashes.SHA256(),
    ).build().public_bytes(Encoding.DER)
    answer = ocsp.load_der_ocsp_response(ocsp_respond(request_der=request))
    assert answer.certificates[0].serial_number == int(new.serial)
    assert CertificateAuthority.objects.filter(role=AuthorityRole.OCSP).count() == 2


def test_the_rotation_task_is_registered_and_scheduled(ca):
    from config.celery import app

    assert ocsp_responder_rotate_task.name == "certificates.tasks.ocsp_responder_rotate"
    assert any(entry["task"] == "certificates.tasks.ocsp_responder_rotate" for entry in app.conf.beat_schedule.values())
    assert ocsp_responder_rotate_task() == ""  # nothing due with a fresh responder
