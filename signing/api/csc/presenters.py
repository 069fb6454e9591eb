"""What the CSC operations answer, shaped from the models: the service's ``info`` and a
credential's ``credentials/info`` (also listed by ``credentials/list``), and a SAD's lifetime."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.templatetags.static import static
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from rest_framework.request import Request

from certificates.models import AuthorityRole, Certificate, CertificateAuthority, CertificateState
from otp.models import DeviceKind
from signing.api.csc.algorithms import (
    CONFORMANCE_LEVELS,
    EC_CURVE_OIDS,
    EC_SIGN_ALGOS,
    PSS_SIGN_ALGOS,
    RSA_SIGN_ALGOS,
    sign_algos,
)
from signing.api.selectors import credential_is_usable, otp_devices_for_credential, sms_device_active
from signing.revinfo import trust_material

CSC_V1_SPECS = "1.0.4.0"
CSC_V2_SPECS = "2.0.0.2"
# The RFC 5646 tag answered for each language the service speaks.
LANGUAGE_TAGS = {"it": "it-IT", "en": "en-US"}


def csc_language_activate(lang: str | None) -> str:
    """Speak the language a call asks for (``lang``, RFC 5646: ``it``, ``en-GB``…) when it is one of
    ours, for every human-readable text of the answer, errors included; otherwise keep the request's
    (Accept-Language, else Italian). Returns the tag of the language actually used."""
    base = (lang or "").split("-", 1)[0].strip().lower()
    if base in LANGUAGE_TAGS:
        translation.activate(base)
    current = (translation.get_language() or settings.LANGUAGE_CODE).split("-", 1)[0]
    return LANGUAGE_TAGS.get(current, LANGUAGE_TAGS[settings.LANGUAGE_CODE])


def service_info(request: Request, *, version: str, lang: str | None = None) -> dict[str, Any]:
    """The ``info`` answer: who this service is, what it offers, in the shape of ``version``.

    OAuth 2.0 is found one way only, as the specification wants: v1 names the base URI of the
    endpoints (``oauth2``), v2 the issuer whose RFC 8414 metadata lists them (``oauth2Issuer``).
    """
    v1 = version == "v1"
    methods = [
        "oauth2/token", "credentials/list", "credentials/info", "credentials/authorize",
        "credentials/extendTransaction", "credentials/sendOTP", "signatures/signHash", "signatures/timestamp",
    ]
    if not v1:
        methods.append("signatures/signDoc")
    tag = csc_language_activate(lang)
    base = request.build_absolute_uri("/").rstrip("/")
    body: dict[str, Any] = {
        "specs": CSC_V1_SPECS if v1 else CSC_V2_SPECS,
        "name": settings.CSC_SERVICE_NAME,
        "logo": request.build_absolute_uri(static("img/csc-logo.png")),
        "region": "IT",
        "lang": tag,
        "description": _(
            "Remote qualified electronic signatures. credentials/extendTransaction renews the SAD for "
            "hashes already authorized; new hashes need the holder's PIN and OTP again."
        ),
        "authType": ["oauth2client"],
        "methods": sorted(methods),
    }
    if v1:
        body["oauth2"] = base
    else:
        body["oauth2Issuer"] = base
        body["signAlgorithms"] = {"algos": sorted({*RSA_SIGN_ALGOS, *PSS_SIGN_ALGOS, *EC_SIGN_ALGOS})}
        body["signature_formats"] = {"formats": ["P"], "envelope_properties": [["Certification", "Revision"]]}
        body["conformance_levels"] = list(CONFORMANCE_LEVELS)
        body["validationInfo"] = True
    return body


def _generalized_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def _chain(certificate: Certificate) -> list[bytes]:
    """The certificate, then its issuing CA up to the root (CSC: the end-entity certificate first)."""
    ders = [certificate.issued_der]
    authority: CertificateAuthority | None = certificate.issuer
    seen: set[int] = set()
    while authority is not None and authority.pk not in seen:
        seen.add(authority.pk)
        ders.append(bytes(authority.der))
        authority = authority.issuer
    return ders


def _key_info(cert: x509.Certificate, enabled: bool, key_algorithm: str) -> dict[str, Any]:
    public_key = cert.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        return {"status": "enabled" if enabled else "disabled", "algo": list(sign_algos(cert, key_algorithm)),
                "len": public_key.key_size}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        info = {"status": "enabled" if enabled else "disabled", "algo": list(EC_SIGN_ALGOS),
                "len": public_key.key_size}
        curve = EC_CURVE_OIDS.get(public_key.curve.name)
        if curve:
            info["curve"] = curve
        return info
    return {"status": "disabled", "algo": [], "len": 0}


def _cert_status(certificate: Certificate) -> str:
    if certificate.not_after is not None and certificate.not_after <= timezone.now():
        return "expired"
    statuses: dict[str, str] = {CertificateState.ACTIVE: "valid", CertificateState.SUSPENDED: "suspended"}
    return statuses.get(certificate.state, "revoked")


def _otp_info(certificate: Certificate) -> dict[str, Any]:
    devices = otp_devices_for_credential(certificate=certificate)
    code_devices = [d for d in devices if d.kind != DeviceKind.SMS]
    sms = sms_device_active(devices)
    if code_devices:
        device = code_devices[0]
        return {"presence": "true", "type": "offline", "format": "N", "ID": device.serial or str(device.public_id),
                "provider": "oath-hotp" if device.kind == DeviceKind.HARDWARE_HOTP else "oath-totp",
                "label": "OTP",
                "description": _("One-time code of your %(device)s") % {"device": device.get_kind_display()}}
    if sms is not None:
        return {"presence": "true", "type": "online", "format": "N", "ID": str(sms.public_id), "provider": "sms",
                "label": "OTP", "description": _("One-time code sent by SMS (credentials/sendOTP)")}
    return {"presence": "true", "type": "offline", "format": "N", "ID": "", "provider": "none",
            "label": "OTP", "description": _("The holder has no usable OTP device")}


def credential_info(certificate: Certificate, *, version: str, certificates: str, cert_info: bool,
                    auth_info: bool, lang: str | None = None) -> dict[str, Any]:
    tag = csc_language_activate(lang)
    cert = x509.load_der_x509_certificate(certificate.issued_der)
    usable = credential_is_usable(certificate)
    cert_block: dict[str, Any] = {"status": _cert_status(certificate)}
    if certificates in ("single", "chain"):
        ders = _chain(certificate) if certificates == "chain" else [certificate.issued_der]
        cert_block["certificates"] = [base64.b64encode(der).decode("ascii") for der in ders]
    if cert_info:
        cert_block.update(
            issuerDN=cert.issuer.rfc4514_string(),
            serialNumber=format(cert.serial_number, "x"),
            subjectDN=cert.subject.rfc4514_string(),
            validFrom=_generalized_time(cert.not_valid_before_utc),
            validTo=_generalized_time(cert.not_valid_after_utc),
        )
    otp = _otp_info(certificate)
    info: dict[str, Any] = {
        "description": _("Qualified signature certificate of %(name)s") % {"name": certificate.subject_common_name},
        "key": _key_info(cert, usable, certificate.key_algorithm),
        "cert": cert_block,
        "SCAL": "2",
        "multisign": settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION,
        "lang": tag,
    }
    if version == "v1":
        pin: dict[str, Any] = {"presence": "true", "format": "N"}
        otp_block = {k: otp[k] for k in ("presence", "type", "format", "ID", "provider")}
        if auth_info:
            pin.update(label="PIN", description=_("Signing PIN of the certificate"))
            otp_block.update(label=otp["label"], description=otp["description"])
        info.update(authMode="explicit", PIN=pin, OTP=otp_block)
    else:
        info["signatureQualifier"] = "eu_eidas_qes"
        info["auth"] = {
            "mode": "explicit",
            "expression": "PIN AND OTP",
            "objects": [
                {"type": "Password", "id": "PIN", "format": "N", "label": "PIN",
                 "description": _("Signing PIN of the certificate")},
                {"type": "Password", "id": "OTP", "format": "N", "label": "OTP", "description": otp["description"],
                 "generator": otp["provider"]},
            ],
        }
    return info


def expires_in(activation: Any) -> int:
    expires_at = getattr(activation, "expires_at", None)
    if expires_at is None:
        return 300
    return max(0, int((expires_at - timezone.now()).total_seconds()))


def validation_info(certificate: Certificate) -> dict[str, list[str]]:
    """signDoc's ``validationInfo``: what a verifier needs beyond the signature itself, produced now
    (after the signatures, so every OCSP answer is issued after the signing time): the signer's
    OCSP answer (and the time-stamping unit's), the root CRL that covers the issuing CA, and the
    certificates of the chain up to the root, with the time-stamping unit's."""
    material = trust_material(certificates=[certificate.issued_der])
    chain = _chain(certificate)[1:]
    authorities = [bytes(a.der) for a in CertificateAuthority.objects.filter(role=AuthorityRole.TSA, is_current=True)]
    return {
        "ocsp": [base64.b64encode(answer).decode("ascii") for answer in material.ocsps],
        "crl": [base64.b64encode(crl).decode("ascii") for crl in material.crls],
        "certificates": [base64.b64encode(der).decode("ascii") for der in dict.fromkeys([*chain, *authorities])],
    }
