"""``manage.py ca_init`` creates the CA once and never replaces any part of it."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from certificates.models import AuthorityRole, CertificateAuthority, Crl
from certificates.services.authority import authority_private_key

pytestmark = pytest.mark.both_vaults


def _init() -> str:
    out = io.StringIO()
    call_command("ca_init", stdout=out)
    return out.getvalue()


def test_ca_init_creates_root_issuing_ocsp_and_tsa_with_sealed_keys_and_first_crls(db):
    output = _init()

    authorities = {a.role: a for a in CertificateAuthority.objects.all()}
    assert set(authorities) == set(AuthorityRole.values)
    assert authorities["issuing"].issuer == authorities["root"]
    assert authorities["ocsp"].issuer == authorities["tsa"].issuer == authorities["issuing"]
    for authority in authorities.values():
        assert bytes(authority.key_ciphertext) and authority.kek_id
        assert authority_private_key(authority) is not None
    assert set(Crl.objects.values_list("authority__role", flat=True)) == {"root", "issuing"}
    assert "created root" in output
    assert AuditEvent.objects.filter(event_type="ca.authority_created").count() == 4


def test_ca_init_is_idempotent_and_never_overwrites(db):
    _init()
    before = {a.role: bytes(a.der) for a in CertificateAuthority.objects.all()}

    output = _init()

    assert "already exists" in output
    assert {a.role: bytes(a.der) for a in CertificateAuthority.objects.all()} == before


def test_ca_init_completes_a_partial_ca_without_touching_the_rest(db):
    _init()
    CertificateAuthority.objects.filter(role="tsa").delete()
    kept = {a.role: bytes(a.der) for a in CertificateAuthority.objects.all()}

    _init()

    after = {a.role: bytes(a.der) for a in CertificateAuthority.objects.all()}
    assert {role: der for role, der in after.items() if role != "tsa"} == kept
    assert "tsa" in after
