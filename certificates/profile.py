"""Certificate profiles: what the CA writes into each certificate (ETSI EN 319 412-2/-5, RFC 5280).

Pure functions over ``cryptography`` objects, no database: the services decide *when* to issue, this
module decides *what* an issued certificate says.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from django.conf import settings

from certificates.vault import PrivateKey, builder_sign

QC_STATEMENTS_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.3")
# ETSI EN 319 411-2: policy for EU qualified certificates issued to natural persons, key in a QSCD.
QCP_N_QSCD_OID = ObjectIdentifier("0.4.0.194112.1.2")

# Stable paths, written into every certificate: never change them (views are mounted on the same).
CRL_PATHS = {"root": "/ca/crl/root.crl", "issuing": "/ca/crl/issuing.crl"}
CA_CERT_PATHS = {"root": "/ca/cert/root.crt", "issuing": "/ca/cert/issuing.crt"}
OCSP_PATH = "/ca/ocsp/"


def public_url(path: str) -> str:
    return f"{settings.CA_PUBLIC_URL}{path}"


def random_serial() -> int:
    """A positive serial of 159 random bits (CA/B BR 7.1: at least 64 bits from a CSPRNG; < 2^159
    keeps the DER INTEGER at 20 octets, RFC 5280 §4.1.2.2)."""
    serial = 0
    while serial == 0:
        serial = secrets.randbits(159)
    return serial


# --- QCStatements (ETSI EN 319 412-5): cryptography has no type for it, so the DER is built here --


class _QcStatement(core.Sequence):
    _fields = [("statement_id", core.ObjectIdentifier), ("statement_info", core.Any, {"optional": True})]


class _QcStatements(core.SequenceOf):
    _child_spec = _QcStatement


class _PdsLocation(core.Sequence):
    _fields = [("url", core.IA5String), ("language", core.PrintableString)]


class _PdsLocations(core.SequenceOf):
    _child_spec = _PdsLocation


class _QcTypes(core.SequenceOf):
    _child_spec = core.ObjectIdentifier


# The languages the PKI disclosure statement is published in (ISO 639-1, EN 319 412-5 §4.3.4): the
# certificate names a URL for each, and ``certificates.views.public.pds_view`` serves them.
PDS_LANGUAGES = ("it", "en")


def pds_urls() -> dict[str, str]:
    """The URL of the PKI disclosure statement in each language (``CA_PDS_URL`` is their https base)."""
    return {language: f"{settings.CA_PDS_URL}{language}/" for language in PDS_LANGUAGES}


def qc_statements_der(*, pds: dict[str, str]) -> bytes:
    """QcCompliance, QcSSCD, QcType esign, QcPDS — the statements of a qualified signature certificate.

    ``pds``: language → URL of the disclosure statement, one QcPDS location each."""
    statements = _QcStatements(
        [
            _QcStatement({"statement_id": "0.4.0.1862.1.1"}),  # QcCompliance
            _QcStatement({"statement_id": "0.4.0.1862.1.4"}),  # QcSSCD: key in a (remote) QSCD
            _QcStatement(
                {"statement_id": "0.4.0.1862.1.6", "statement_info": _QcTypes(["0.4.0.1862.1.6.1"])}  # esign
            ),
            _QcStatement(
                {
                    "statement_id": "0.4.0.1862.1.5",
                    "statement_info": _PdsLocations(
                        [_PdsLocation({"url": url, "language": language}) for language, url in pds.items()]
                    ),
                }
            ),
        ]
    )
    return statements.dump()


# --- Building ---------------------------------------------------------------------------------------


def signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _ca_name(common_name: str) -> x509.Name:
    """The name of one of the trust service's own certificates (EN 319 412-3 §4.2.1, a legal person:
    country, organization, its identifier — VAT number — and a unit, as Italian QTSPs write them)."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, settings.CA_ORGANIZATION_NAME),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, settings.CA_ORGANIZATIONAL_UNIT),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, settings.CA_ORGANIZATION_IDENTIFIER),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _revocation_pointers(builder: x509.CertificateBuilder, *, issuer_role: str, ocsp: bool) -> x509.CertificateBuilder:
    builder = builder.add_extension(
        x509.CRLDistributionPoints(
            [
                x509.DistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(public_url(CRL_PATHS[issuer_role]))],
                    relative_name=None,
                    reasons=None,
                    crl_issuer=None,
                )
            ]
        ),
        critical=False,
    )
    access = [
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS,
            x509.UniformResourceIdentifier(public_url(CA_CERT_PATHS[issuer_role])),
        )
    ]
    if ocsp:
        access.insert(
            0,
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(public_url(OCSP_PATH))
            ),
        )
    return builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)


def _key_usage(**flags: bool) -> x509.KeyUsage:
    names = (
        "digital_signature content_commitment key_encipherment data_encipherment key_agreement "
        "key_cert_sign crl_sign encipher_only decipher_only"
    ).split()
    return x509.KeyUsage(**{name: flags.get(name, False) for name in names})


@dataclass(frozen=True)
class AuthorityProfile:
    role: str
    common_name: str
    validity: timedelta
    key_algorithm: str


AUTHORITY_PROFILES = {
    "root": AuthorityProfile("root", "Firma Remota Root CA", timedelta(days=20 * 365), "ecdsa-p384"),
    "issuing": AuthorityProfile("issuing", "Firma Remota Qualified CA", timedelta(days=10 * 365), "ecdsa-p384"),
    # Validity: see authority_validity.
    "ocsp": AuthorityProfile("ocsp", "Firma Remota OCSP Responder", timedelta(days=90), "ecdsa-p256"),
    "tsa": AuthorityProfile("tsa", "Firma Remota Time-Stamping Authority", timedelta(days=5 * 365), "ecdsa-p256"),
}


def authority_validity(role: str) -> timedelta:
    """How long a new certificate of ``role`` is valid. The OCSP responder's is short and set by
    ``CA_OCSP_RESPONDER_VALIDITY_DAYS``: it carries id-pkix-ocsp-nocheck, so relying parties never
    check its status, and only its expiry bounds the life of a stolen responder key."""
    if role == "ocsp":
        return timedelta(days=settings.CA_OCSP_RESPONDER_VALIDITY_DAYS)
    return AUTHORITY_PROFILES[role].validity


def authority_certificate_build(
    *,
    role: str,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    serial: int,
    now: datetime,
    issuer_cert: x509.Certificate | None,
    issuer_key: PrivateKey,
) -> x509.Certificate:
    """Root (self-signed), issuing CA (by the root), OCSP responder and TSA (by the issuing CA)."""
    profile = AUTHORITY_PROFILES[role]
    subject = _ca_name(profile.common_name)
    not_after = now + authority_validity(role)
    if issuer_cert is not None:
        not_after = min(not_after, issuer_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()),  # type: ignore[arg-type]  # our CAs hold RSA or EC keys
            critical=False,
        )
    if role == "root":
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
    elif role == "issuing":
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        builder = builder.add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        builder = builder.add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(x509.oid.CertificatePoliciesOID.ANY_POLICY, None)]),
            critical=False,
        )
        builder = _revocation_pointers(builder, issuer_role="root", ocsp=False)
    elif role == "ocsp":
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(_key_usage(digital_signature=True), critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        # RFC 6960 §4.2.2.2.1: relying parties need not check the responder's own status.
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    elif role == "tsa":
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
        # RFC 3161 §2.3: the only EKU, and critical.
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        builder = _revocation_pointers(builder, issuer_role="issuing", ocsp=True)
    else:
        raise ValueError(f"unknown authority role {role!r}")
    return builder_sign(builder, issuer_key, signature_hash(issuer_key))


@dataclass(frozen=True)
class HolderSubject:
    """The subject of a holder certificate (EN 319 412-2 §4.2.4, a natural person).

    ``organization`` and ``title`` are role data, written only when the operator verified them (see
    :func:`certificates.services.lifecycle.certificate_request`): empty, the name says nothing about
    an organization. ``dn_qualifier`` is the certificate's IUT, the holder identifier Italian
    qualified certificates carry in dnQualifier.
    """

    given_name: str
    surname: str
    codice_fiscale: str
    organization: str = ""
    title: str = ""
    dn_qualifier: str = ""

    @property
    def common_name(self) -> str:
        return f"{self.given_name} {self.surname}"

    @property
    def serial_number(self) -> str:
        # ETSI EN 319 412-1 §5.1.3: semantics identifier "TIN", country, national tax number.
        return f"TINIT-{self.codice_fiscale}"

    def name(self) -> x509.Name:
        attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "IT")]
        if self.organization:
            attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organization[:64]))
        if self.title:
            attributes.append(x509.NameAttribute(NameOID.TITLE, self.title[:64]))
        attributes += [
            x509.NameAttribute(NameOID.SURNAME, self.surname[:64]),
            x509.NameAttribute(NameOID.GIVEN_NAME, self.given_name[:64]),
        ]
        if self.dn_qualifier:
            attributes.append(x509.NameAttribute(NameOID.DN_QUALIFIER, self.dn_qualifier))
        # serialNumber next to the CN: validators' reports read "name, fiscal code" first.
        attributes += [
            x509.NameAttribute(NameOID.SERIAL_NUMBER, self.serial_number),
            x509.NameAttribute(NameOID.COMMON_NAME, self.common_name[:64]),
        ]
        return x509.Name(attributes)


def holder_certificate_build(
    *,
    subject: HolderSubject,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    issuer_cert: x509.Certificate,
    issuer_key: PrivateKey,
) -> x509.Certificate:
    """A qualified certificate for electronic signatures of a natural person."""
    policies = [
        x509.PolicyInformation(ObjectIdentifier(settings.CA_POLICY_OID), None),
        x509.PolicyInformation(QCP_N_QSCD_OID, None),
    ]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject.name())
        .issuer_name(issuer_cert.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(min(not_after, issuer_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # Signing only: the key must not be usable for authentication or encryption (EN 319 412-2 §4.3.2).
        .add_extension(_key_usage(content_commitment=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()),  # type: ignore[arg-type]  # our CAs hold RSA or EC keys
            critical=False,
        )
        .add_extension(x509.CertificatePolicies(policies), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(QC_STATEMENTS_OID, qc_statements_der(pds=pds_urls())),
            critical=False,
        )
    )
    builder = _revocation_pointers(builder, issuer_role="issuing", ocsp=True)
    return builder_sign(builder, issuer_key, signature_hash(issuer_key))
