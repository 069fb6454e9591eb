"""The CA for certificate tests: built once per session (key generation is the slow part), loaded into
each test database; helpers to take a holder through the lifecycle."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.test import override_settings
from django.utils import translation

from accounts.models import Holder
from certificates.models import AuthorityRole, Certificate, CertificateAuthority
from certificates.services import (
    authority_hierarchy_build,
    certificate_activate,
    certificate_issue,
    certificate_request,
    crl_publish,
)

PIN = "4821395760"


@pytest.fixture(autouse=True)
def english_messages():
    """Service messages are lazy and read in the thread's active language, which an earlier page
    request may have left Italian: the tests of this package read them in English."""
    with translation.override("en"):
        yield

OTHER_PIN = "Lungo-Argine-39"


@pytest.fixture
def ca_hierarchy(key_vault: str, _ca_hierarchies: dict[str, list[CertificateAuthority]]) -> list[CertificateAuthority]:
    """The CA of the session on the test's key vault: built once per vault (key generation is slow;
    on the PKCS#11 vault its keys are the token's objects)."""
    if key_vault not in _ca_hierarchies:
        _ca_hierarchies[key_vault] = authority_hierarchy_build()
    return _ca_hierarchies[key_vault]


def load_hierarchy(built: list[CertificateAuthority]) -> dict[str, CertificateAuthority]:
    saved: dict[str, CertificateAuthority] = {}
    by_serial: dict[str, CertificateAuthority] = {}
    for original in built:
        row = copy.copy(original)
        row.pk = None
        row._state = copy.copy(original._state)
        row._state.adding = True
        row.issuer = by_serial[original.issuer.serial] if original.issuer is not None else None
        row.save(force_insert=True)
        saved[row.role] = by_serial[row.serial] = row
    crl_publish(role=AuthorityRole.ROOT)
    crl_publish(role=AuthorityRole.ISSUING)
    return saved


@pytest.fixture
def ca(db: None, ca_hierarchy: list[CertificateAuthority]) -> dict[str, CertificateAuthority]:
    """Root, issuing, OCSP and TSA authorities in the test database, with their first CRLs."""
    return load_hierarchy(ca_hierarchy)


@pytest.fixture
def live_ca(live_server, settings) -> dict[str, CertificateAuthority]:  # noqa: ANN001
    """A CA whose URLs (CRL, OCSP, caIssuers) point at the live server, for relying-party tests."""
    settings.CA_PUBLIC_URL = live_server.url
    with override_settings(CA_PUBLIC_URL=live_server.url):
        return load_hierarchy(authority_hierarchy_build())


def issued(holder: Holder, actor: object = None) -> Certificate:
    certificate = certificate_request(holder=holder, actor=actor)
    return certificate_issue(certificate=certificate, actor=actor)


def active(holder: Holder, actor: object = None, pin: str = PIN) -> Certificate:
    return certificate_activate(certificate=issued(holder, actor), pin=pin, actor=holder.user)


def pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(bytes(der)).public_bytes(Encoding.PEM)


def write_pem(path: Path, der: bytes) -> Path:
    path.write_bytes(pem(der))
    return path


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)  # noqa: S603
