"""The Cloud Signature Consortium API, v1 (``/csc/v1/…``) and v2 (``/csc/v2/…``).

Thin edges: one view per operation, each with its nested ``InputSerializer`` (shape) and
``OutputSerializer`` (documentation); tenant data only through :mod:`signing.api.selectors`; state
changes only through services. Authorization, signing and timestamps belong to the signing engine
(``signing.services.activation`` and ``signing.services.tsa``), imported when a request needs them.
Every error, from malformed JSON to a wrong PIN, is answered in CSC form by
:func:`signing.api.exceptions.api_exception_handler`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Holder
from certificates.models import Certificate, CertificateAuthority, CertificateState
from core.errors import ApplicationError
from core.ratelimit import client_ip
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.sms_codes import sms_code_issue
from signing.api.authentication import ApiClientView
from signing.api.schema import CLIENT_CALL, error_responses
from signing.api.selectors import (
    credential_get_for_api_client,
    credential_get_usable_for_api_client,
    credential_is_usable,
    credential_list_for_api_client,
    holder_get_for_api_client,
    otp_devices_for_credential,
    sms_device_active,
)
from signing.models import Channel
from signing.pades import HASH_LENGTHS
from signing.pdf_input import pdf_document_check
from signing.services import (
    signature_activation_extend,
    signature_authorize,
    signature_sign_documents,
    signature_sign_hashes,
)
from signing.tsa import timestamp_token

CSC_V1_SPECS = "1.0.4.0"
CSC_V2_SPECS = "2.0.0.2"

# Digest algorithms by OID, with the length their hashes must have (SHA-1 is not accepted).
DIGESTS = {
    "2.16.840.1.101.3.4.2.1": ("sha256", 32),
    "2.16.840.1.101.3.4.2.2": ("sha384", 48),
    "2.16.840.1.101.3.4.2.3": ("sha512", 64),
}
DIGEST_LENGTHS = {length for _name, length in DIGESTS.values()}
DIGEST_OIDS = list(DIGESTS)  # one enum in the schema (hashAlgo, hashAlgorithmOID): DigestAlgorithmOid
# Signature algorithms a credential offers, by key type: the bare key OID (digest given apart in
# hashAlgo) and the combined ones. RSA is PKCS#1 v1.5 (the signer does not do PSS).
RSA_SIGN_ALGOS = {
    "1.2.840.113549.1.1.1": None,
    "1.2.840.113549.1.1.11": "2.16.840.1.101.3.4.2.1",
    "1.2.840.113549.1.1.12": "2.16.840.1.101.3.4.2.2",
    "1.2.840.113549.1.1.13": "2.16.840.1.101.3.4.2.3",
}
EC_SIGN_ALGOS = {
    "1.2.840.10045.2.1": None,
    "1.2.840.10045.4.3.2": "2.16.840.1.101.3.4.2.1",
    "1.2.840.10045.4.3.3": "2.16.840.1.101.3.4.2.2",
    "1.2.840.10045.4.3.4": "2.16.840.1.101.3.4.2.3",
}
EC_CURVE_OIDS = {"secp256r1": "1.2.840.10045.3.1.7", "secp384r1": "1.3.132.0.34"}
# CSC v2 conformance levels (PAdES) to the signer's level names.
CONFORMANCE_LEVELS = {"Ades-B-B": "B-B", "Ades-B-T": "B-T", "Ades-B-LT": "B-LT", "Ades-B-LTA": "B-LTA"}

INVALID_CREDENTIAL = "Invalid parameter credentialID"

# Values of the schema's request examples: the demo university's first holder and the shape of a
# credential ID (an IUT), so a reader sees a realistic call. The SAD and codes are placeholders.
EXAMPLE_USER_ID = "mario.rossi"
EXAMPLE_CREDENTIAL_ID = "JBSWY3DPEHPK3PXP"
EXAMPLE_HASH = base64.b64encode(hashlib.sha256(b"Verbale d'esame n. 1").digest()).decode("ascii")
EXAMPLE_SAD = "c2lnbmF0dXJlLWFjdGl2YXRpb24tZGF0YQ"
SHA256_OID, SHA256_WITH_RSA_OID = "2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.11"


def example(**value: Any) -> list[OpenApiExample]:
    return [OpenApiExample("Example", value=value, request_only=True)]


def _invalid(description: str) -> ApplicationError:
    return ApplicationError("invalid_request", description)


# --- Fields ---------------------------------------------------------------------------------------


class Base64Field(serializers.CharField):
    """Standard base64 (RFC 4648 §4), decoded to bytes; anything else is an invalid parameter."""

    default_error_messages = {"base64": "not valid base64"}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> bytes:  # type: ignore[override]
        text = super().to_internal_value(data)
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            self.fail("base64")
        raise AssertionError("unreachable")


class HashField(Base64Field):
    default_error_messages = {"length": "not a SHA-256, SHA-384 or SHA-512 hash"}
    # 32, 48 or 64 bytes in base64, as the schema documents it.
    schema_pattern = r"^(?:[A-Za-z0-9+/]{43}=|[A-Za-z0-9+/]{64}|[A-Za-z0-9+/]{86}==)$"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 100)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> bytes:  # type: ignore[override]
        value = super().to_internal_value(data)
        if len(value) not in DIGEST_LENGTHS:
            self.fail("length")
        return value


def _hash_list(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=HashField(), min_length=1, max_length=settings.SIGNING_BATCH_LIMIT, **kwargs)


class CscBaseInput(serializers.Serializer):
    clientData = serializers.CharField(required=False, max_length=1024, allow_blank=True)  # noqa: N815


class CredentialInput(CscBaseInput):
    credentialID = serializers.CharField(max_length=64)  # noqa: N815


# --- Helpers ----------------------------------------------------------------------------------------


def _generalized_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def _chain(certificate: Certificate) -> list[bytes]:
    """The certificate, then its issuing CA up to the root (CSC: the end-entity certificate first)."""
    ders = [bytes(certificate.der)]
    authority: CertificateAuthority | None = certificate.issuer
    seen: set[int] = set()
    while authority is not None and authority.pk not in seen:
        seen.add(authority.pk)
        ders.append(bytes(authority.der))
        authority = authority.issuer
    return ders


def _key_info(cert: x509.Certificate, enabled: bool) -> dict[str, Any]:
    public_key = cert.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        return {"status": "enabled" if enabled else "disabled", "algo": list(RSA_SIGN_ALGOS),
                "len": public_key.key_size}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        info = {"status": "enabled" if enabled else "disabled", "algo": list(EC_SIGN_ALGOS),
                "len": public_key.key_size}
        curve = EC_CURVE_OIDS.get(public_key.curve.name)
        if curve:
            info["curve"] = curve
        return info
    return {"status": "disabled", "algo": [], "len": 0}


def _sign_algos(cert: x509.Certificate) -> dict[str, str | None]:
    public_key = cert.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        return RSA_SIGN_ALGOS
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return EC_SIGN_ALGOS
    return {}


def _cert_status(certificate: Certificate) -> str:
    if certificate.not_after is not None and certificate.not_after <= timezone.now():
        return "expired"
    return {CertificateState.ACTIVE: "valid", CertificateState.SUSPENDED: "suspended"}.get(certificate.state, "revoked")


def _otp_info(certificate: Certificate) -> dict[str, Any]:
    devices = otp_devices_for_credential(certificate=certificate)
    code_devices = [d for d in devices if d.kind != DeviceKind.SMS]
    sms = sms_device_active(devices)
    if code_devices:
        device = code_devices[0]
        return {"presence": "true", "type": "offline", "format": "N", "ID": device.serial or str(device.public_id),
                "provider": "oath-hotp" if device.kind == DeviceKind.HARDWARE_HOTP else "oath-totp",
                "label": "OTP", "description": f"One-time code of your {device.get_kind_display()}"}
    if sms is not None:
        return {"presence": "true", "type": "online", "format": "N", "ID": str(sms.public_id), "provider": "sms",
                "label": "OTP", "description": "One-time code sent by SMS (credentials/sendOTP)"}
    return {"presence": "true", "type": "offline", "format": "N", "ID": "", "provider": "none",
            "label": "OTP", "description": "The holder has no usable OTP device"}


def credential_info(certificate: Certificate, *, version: str, certificates: str, cert_info: bool,
                    auth_info: bool, lang: str | None = None) -> dict[str, Any]:
    cert = x509.load_der_x509_certificate(bytes(certificate.der))
    usable = credential_is_usable(certificate)
    cert_block: dict[str, Any] = {"status": _cert_status(certificate)}
    if certificates in ("single", "chain"):
        ders = _chain(certificate) if certificates == "chain" else [bytes(certificate.der)]
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
        "description": f"Qualified signature certificate of {certificate.subject_common_name}",
        "key": _key_info(cert, usable),
        "cert": cert_block,
        "SCAL": "2",
        "multisign": settings.SIGNING_BATCH_LIMIT,
        "lang": lang or "en-US",
    }
    if version == "v1":
        pin: dict[str, Any] = {"presence": "true", "format": "N"}
        otp_block = {k: otp[k] for k in ("presence", "type", "format", "ID", "provider")}
        if auth_info:
            pin.update(label="PIN", description="Signing PIN of the certificate")
            otp_block.update(label=otp["label"], description=otp["description"])
        info.update(authMode="explicit", PIN=pin, OTP=otp_block)
    else:
        info["signatureQualifier"] = "eu_eidas_qes"
        info["auth"] = {
            "mode": "explicit",
            "expression": "PIN AND OTP",
            "objects": [
                {"type": "Password", "id": "PIN", "format": "N", "label": "PIN",
                 "description": "Signing PIN of the certificate"},
                {"type": "Password", "id": "OTP", "format": "N", "label": "OTP", "description": otp["description"],
                 "generator": otp["provider"]},
            ],
        }
    return info


def _otp_route(holder: Any) -> dict[str, Any]:
    """Which OTP the holder's code comes from: the first active token or app, else SMS codes."""
    device = (
        OtpDevice.objects.filter(holder=holder, state=DeviceState.ACTIVE).exclude(kind=DeviceKind.SMS)
        .order_by("created_at", "pk").first()
    )
    if device is not None:
        return {"otp_device": device}
    return {"sms": True}


def _hash_algorithm(hashes: list[bytes]) -> str:
    by_length = {length: name for name, length in HASH_LENGTHS.items()}
    lengths = {len(h) for h in hashes}
    if len(lengths) != 1 or next(iter(lengths)) not in by_length:
        raise _invalid("Invalid parameter hash: all hashes must be SHA-256, SHA-384 or SHA-512 digests")
    return by_length[lengths.pop()]


def _expires_in(activation: Any) -> int:
    expires_at = getattr(activation, "expires_at", None)
    if expires_at is None:
        return 300
    return max(0, int((expires_at - timezone.now()).total_seconds()))


# --- Views ----------------------------------------------------------------------------------------


class CscVersion:
    """One view class serves ``/csc/v1/…`` and ``/csc/v2/…`` (``as_view(api_version=…)``). Said to DRF as
    the request's version, so the schema can document each version's own body
    (``@extend_schema(versions=[…])``)."""

    api_version = "v1"

    def determine_version(self, request: Any, *args: Any, **kwargs: Any) -> tuple[str, None]:
        return self.api_version, None


def csc_errors(*statuses: int, **details: str) -> dict[int, OpenApiResponse]:
    return error_responses(*statuses, csc=True, **details)


class CscView(CscVersion, ApiClientView):
    """Authenticated CSC operation: a bearer token of a client holding the ``csc`` scope."""

    required_scope = "csc"

    def credential(self, credential_id: str) -> Certificate:
        try:
            return credential_get_for_api_client(client=self.client, credential_id=credential_id)
        except Certificate.DoesNotExist:
            raise _invalid(INVALID_CREDENTIAL) from None

    def usable_credential(self, credential_id: str) -> Certificate:
        try:
            return credential_get_usable_for_api_client(client=self.client, credential_id=credential_id)
        except Certificate.DoesNotExist:
            raise _invalid(INVALID_CREDENTIAL) from None


class InfoApi(CscVersion, APIView):
    """``info``: who this service is; public, as the specification asks."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        lang = serializers.CharField(required=False, max_length=35)

    class OutputSerializer(serializers.Serializer):
        specs = serializers.CharField()
        name = serializers.CharField()
        logo = serializers.CharField()
        region = serializers.CharField()
        lang = serializers.CharField()
        description = serializers.CharField()
        authType = serializers.ListField(child=serializers.CharField())  # noqa: N815
        oauth2 = serializers.URLField()
        methods = serializers.ListField(child=serializers.CharField())

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer, **csc_errors(400, 413, 415)},
                   examples=example(lang="it-IT"), tags=["CSC"], auth=[])
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        v1 = self.api_version == "v1"
        methods = [
            "oauth2/token", "credentials/list", "credentials/info", "credentials/authorize",
            "credentials/extendTransaction", "credentials/sendOTP", "signatures/signHash", "signatures/timestamp",
        ]
        if not v1:
            methods.append("signatures/signDoc")
        body: dict[str, Any] = {
            "specs": CSC_V1_SPECS if v1 else CSC_V2_SPECS,
            "name": settings.CSC_SERVICE_NAME,
            "logo": request.build_absolute_uri("/static/vendor/bootstrap-italia/svg/sprites.svg"),
            "region": "IT",
            "lang": serializer.validated_data.get("lang") or "en-US",
            "description": "Remote qualified electronic signatures",
            "authType": ["oauth2client"],
            "oauth2": request.build_absolute_uri(reverse("oauth2_token")).rsplit("/oauth2/token", 1)[0],
            "methods": sorted(methods),
        }
        if not v1:
            body["oauth2Issuer"] = body["oauth2"]
            body["signAlgorithms"] = {"algos": sorted({*RSA_SIGN_ALGOS, *EC_SIGN_ALGOS})}
            body["signature_formats"] = {"formats": ["P"], "envelope_properties": [["Certification", "Revision"]]}
            body["conformance_levels"] = list(CONFORMANCE_LEVELS)
        return Response(body)


class CredentialsListApi(CscView):
    """``credentials/list``: the active credentials of one holder of the client's organization."""

    class InputSerializer(CscBaseInput):
        userID = serializers.CharField(max_length=150)  # noqa: N815
        maxResults = serializers.IntegerField(required=False, min_value=1, max_value=100)  # noqa: N815
        pageToken = serializers.CharField(required=False, max_length=16)  # noqa: N815
        # v2 only (ignored by v1 clients, which do not send them)
        credentialInfo = serializers.BooleanField(required=False, default=False)  # noqa: N815
        certificates = serializers.ChoiceField(choices=["none", "single", "chain"], required=False, default="single")
        certInfo = serializers.BooleanField(required=False, default=False)  # noqa: N815
        authInfo = serializers.BooleanField(required=False, default=False)  # noqa: N815
        onlyValid = serializers.BooleanField(required=False, default=False)  # noqa: N815

    class OutputSerializer(serializers.Serializer):
        credentialIDs = serializers.ListField(child=serializers.CharField())  # noqa: N815
        nextPageToken = serializers.CharField(required=False)  # noqa: N815
        credentialInfos = serializers.ListField(  # noqa: N815
            child=serializers.DictField(), required=False, help_text="v2, with credentialInfo: each credential's info"
        )
        onlyValid = serializers.BooleanField(required=False, help_text="v2")  # noqa: N815

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, **csc_errors(
            *CLIENT_CALL, s400="invalid_request (a userID unknown or of another organization: the same answer)")},
        examples=example(userID=EXAMPLE_USER_ID, maxResults=10, credentialInfo=True, certificates="chain",
                         certInfo=True, authInfo=True),
        tags=["CSC"],
    )
    def post(self, request: Request) -> Response:
        data = self.input(self.InputSerializer)
        try:
            holder = holder_get_for_api_client(client=self.client, username=data["userID"])
        except Holder.DoesNotExist:
            # Unknown and foreign holders alike: the client learns nothing about other organizations.
            raise _invalid("Invalid parameter userID") from None
        offset = 0
        if data.get("pageToken"):
            if not data["pageToken"].isdigit():
                raise _invalid("Invalid parameter pageToken")
            offset = int(data["pageToken"])
        limit = data.get("maxResults") or 100
        listed = credential_list_for_api_client(client=self.client, holder=holder)
        credentials = list(listed[offset : offset + limit + 1])
        page, more = credentials[:limit], len(credentials) > limit
        body: dict[str, Any] = {"credentialIDs": [c.iut for c in page]}
        if more:
            body["nextPageToken"] = str(offset + limit)
        if self.api_version == "v2":
            if data["credentialInfo"]:
                body["credentialInfos"] = [
                    {"credentialID": c.iut, **credential_info(
                        c, version="v2", certificates=data["certificates"], cert_info=data["certInfo"],
                        auth_info=data["authInfo"])}
                    for c in page
                ]
            body["onlyValid"] = True
        return Response(body)


class CredentialsInfoApi(CscView):
    """``credentials/info``: certificate chain, key, authentication of one credential."""

    class InputSerializer(CredentialInput):
        certificates = serializers.ChoiceField(choices=["none", "single", "chain"], required=False, default="single")
        certInfo = serializers.BooleanField(required=False, default=False)  # noqa: N815
        authInfo = serializers.BooleanField(required=False, default=False)  # noqa: N815
        lang = serializers.CharField(required=False, max_length=35)

    class OutputSerializer(serializers.Serializer):
        description = serializers.CharField()
        key = serializers.DictField()
        cert = serializers.DictField()
        authMode = serializers.CharField(required=False)  # noqa: N815
        PIN = serializers.DictField(required=False)
        OTP = serializers.DictField(required=False)
        auth = serializers.DictField(required=False)
        SCAL = serializers.CharField()
        multisign = serializers.IntegerField()
        lang = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, **csc_errors(
            *CLIENT_CALL,
            s400="invalid_request (a credentialID unknown or of another organization: the same answer)")},
        examples=example(credentialID=EXAMPLE_CREDENTIAL_ID, certificates="chain", certInfo=True, authInfo=True),
        tags=["CSC"],
    )
    def post(self, request: Request) -> Response:
        data = self.input(self.InputSerializer)
        certificate = self.credential(data["credentialID"])
        return Response(credential_info(
            certificate, version=self.api_version, certificates=data["certificates"], cert_info=data["certInfo"],
            auth_info=data["authInfo"], lang=data.get("lang"),
        ))


class CredentialsSendOtpApi(CscView):
    """``credentials/sendOTP``: an SMS code for signing, to a holder whose OTP device is SMS."""

    InputSerializer = CredentialInput

    @extend_schema(
        request=CredentialInput,
        responses={204: OpenApiResponse(description="Code sent"), **csc_errors(
            *CLIENT_CALL, s400="invalid_request, credential_is_disabled",
            s429="also when a code was sent moments ago, or too many this hour (too_many_requests)")},
        examples=example(credentialID=EXAMPLE_CREDENTIAL_ID),
        tags=["CSC"],
    )
    def post(self, request: Request) -> Response:
        data = self.input(self.InputSerializer)
        certificate = self.usable_credential(data["credentialID"])
        if sms_device_active(otp_devices_for_credential(certificate=certificate)) is None:
            raise _invalid("The credential does not use online OTP: use the code of the holder's device.")
        sms_code_issue(holder=certificate.holder, purpose="sign", ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuthorizeApi(CscView):
    """``credentials/authorize``: PIN + OTP and the exact hashes to sign, for a short-lived, single-use SAD."""

    class InputSerializer(CredentialInput):
        numSignatures = serializers.IntegerField(min_value=1)  # noqa: N815
        hash = _hash_list(required=False)
        PIN = serializers.CharField(max_length=64, trim_whitespace=False)
        OTP = serializers.CharField(max_length=16)
        description = serializers.CharField(required=False, max_length=500, allow_blank=True)

    class InputSerializerV2(CredentialInput):
        class AuthData(serializers.Serializer):
            id = serializers.ChoiceField(choices=["PIN", "OTP"])
            value = serializers.CharField(max_length=64, trim_whitespace=False)

        numSignatures = serializers.IntegerField(min_value=1)  # noqa: N815
        hashes = _hash_list(required=False)
        hashAlgorithmOID = serializers.ChoiceField(choices=DIGEST_OIDS, required=False)  # noqa: N815
        authData = serializers.ListField(child=AuthData(), min_length=2, max_length=2)  # noqa: N815
        description = serializers.CharField(required=False, max_length=500, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        SAD = serializers.CharField()
        expiresIn = serializers.IntegerField()  # noqa: N815

    @extend_schema(request=InputSerializer, versions=["v1"], examples=example(
        credentialID=EXAMPLE_CREDENTIAL_ID, numSignatures=1, hash=[EXAMPLE_HASH], PIN="12345678", OTP="123456"))
    @extend_schema(request=InputSerializerV2, versions=["v2"], examples=example(
        credentialID=EXAMPLE_CREDENTIAL_ID, numSignatures=1, hashes=[EXAMPLE_HASH], hashAlgorithmOID=SHA256_OID,
        authData=[{"id": "PIN", "value": "12345678"}, {"id": "OTP", "value": "123456"}]))
    @extend_schema(
        responses={200: OutputSerializer, **csc_errors(
            *CLIENT_CALL, s400="invalid_request, invalid_pin, locked_pin, invalid_otp, locked_otp, "
            "num_signatures_too_high, credential_is_disabled")},
        tags=["CSC"],
    )
    def post(self, request: Request) -> Response:
        if self.api_version == "v1":
            data = self.input(self.InputSerializer)
            hashes, pin, otp = data.get("hash"), data["PIN"], data["OTP"]
        else:
            data = self.input(self.InputSerializerV2)
            hashes = data.get("hashes")
            auth = {item["id"]: item["value"] for item in data["authData"]}
            if set(auth) != {"PIN", "OTP"}:
                raise _invalid("Invalid parameter authData: PIN and OTP are both required")
            pin, otp = auth["PIN"], auth["OTP"]
            length = DIGESTS[data["hashAlgorithmOID"]][1] if data.get("hashAlgorithmOID") else None
            if length and any(len(h) != length for h in hashes or []):
                raise _invalid("Invalid parameter hashes: length does not match hashAlgorithmOID")
        # SCAL 2: the authorization is bound to the hashes it may sign, one per signature.
        if not hashes:
            raise _invalid("Missing parameter hash" if self.api_version == "v1" else "Missing parameter hashes")
        if data["numSignatures"] > settings.SIGNING_BATCH_LIMIT:
            raise ApplicationError("num_signatures_too_high", "numSignatures is greater than multisign.")
        if len(hashes) != data["numSignatures"]:
            raise _invalid("Invalid parameter numSignatures: it must equal the number of hashes")
        certificate = self.usable_credential(data["credentialID"])
        activation, sad = signature_authorize(
            holder=certificate.holder, certificate=certificate, pin=pin, otp_code=otp, hashes=list(hashes),
            num_signatures=data["numSignatures"], hash_algorithm=_hash_algorithm(list(hashes)),
            channel=Channel.CSC, client=self.client, ip=client_ip(request), **_otp_route(certificate.holder),
        )
        return Response({"SAD": sad, "expiresIn": _expires_in(activation)})


class ExtendTransactionApi(CscView):
    """``credentials/extendTransaction``: a new SAD, with a new expiry, for what the SAD still allows.

    The old SAD stops working at once; the remaining hashes and signatures are unchanged (nothing new
    is authorized). ``hash`` (v1) / ``hashes`` (v2), which the specification asks for with SCAL 2,
    must be among the hashes still authorized; without them the new SAD covers all of those. An
    activation cannot be extended past ``SIGNING_SAD_MAX_TOTAL_SECONDS`` after its PIN + OTP.
    Rules: ``signing.services.activation.signature_activation_extend``.
    """

    class InputSerializer(CredentialInput):
        SAD = serializers.CharField(max_length=1024)
        hash = _hash_list(required=False)

    class InputSerializerV2(CredentialInput):
        SAD = serializers.CharField(max_length=1024)
        hashes = _hash_list(required=False)
        hashAlgorithmOID = serializers.ChoiceField(choices=DIGEST_OIDS, required=False)  # noqa: N815

    class OutputSerializer(serializers.Serializer):
        SAD = serializers.CharField()
        expiresIn = serializers.IntegerField()  # noqa: N815

    @extend_schema(request=InputSerializer, versions=["v1"], examples=example(
        credentialID=EXAMPLE_CREDENTIAL_ID, SAD=EXAMPLE_SAD, hash=[EXAMPLE_HASH]))
    @extend_schema(request=InputSerializerV2, versions=["v2"], examples=example(
        credentialID=EXAMPLE_CREDENTIAL_ID, SAD=EXAMPLE_SAD, hashes=[EXAMPLE_HASH], hashAlgorithmOID=SHA256_OID))
    @extend_schema(
        responses={200: OutputSerializer, **csc_errors(
            *CLIENT_CALL, s400="invalid_request, sad_expired, unauthorized_hash, credential_is_disabled")},
        tags=["CSC"],
    )
    def post(self, request: Request) -> Response:
        if self.api_version == "v1":
            data = self.input(self.InputSerializer)
            hashes = data.get("hash")
        else:
            data = self.input(self.InputSerializerV2)
            hashes = data.get("hashes")
            length = DIGESTS[data["hashAlgorithmOID"]][1] if data.get("hashAlgorithmOID") else None
            if length and any(len(h) != length for h in hashes or []):
                raise _invalid("Invalid parameter hashes: length does not match hashAlgorithmOID")
        certificate = self.usable_credential(data["credentialID"])
        activation, sad = signature_activation_extend(
            sad_token=data["SAD"], certificate=certificate, client=self.client,
            hashes=list(hashes) if hashes else None, hash_algorithm=_hash_algorithm(list(hashes)) if hashes else None,
            ip=client_ip(request),
        )
        return Response({"SAD": sad, "expiresIn": _expires_in(activation)})


def _check_algorithms(certificate: Certificate, sign_algo: str, hash_algo: str | None, hashes: list[bytes]) -> None:
    offered = _sign_algos(x509.load_der_x509_certificate(bytes(certificate.der)))
    if sign_algo not in offered:
        raise _invalid("Invalid parameter signAlgo")
    implied = offered[sign_algo]
    if hash_algo is None:
        hash_algo = implied
        if hash_algo is None:
            raise _invalid("Missing parameter hashAlgo")
    if hash_algo not in DIGESTS or (implied is not None and implied != hash_algo):
        raise _invalid("Invalid parameter hashAlgo")
    length = DIGESTS[hash_algo][1]
    if any(len(h) != length for h in hashes):
        raise _invalid("Invalid parameter hash: length does not match hashAlgo")


class SignHashApi(CscView):
    """``signatures/signHash``: sign the authorized hashes with the SAD."""

    class InputSerializer(CredentialInput):
        SAD = serializers.CharField(max_length=1024)
        hash = _hash_list()
        hashAlgo = serializers.CharField(required=False, max_length=64)  # noqa: N815
        signAlgo = serializers.CharField(max_length=64)  # noqa: N815
        signAlgoParams = serializers.CharField(required=False, max_length=1024)  # noqa: N815

    class InputSerializerV2(CredentialInput):
        SAD = serializers.CharField(max_length=1024)
        hashes = _hash_list()
        hashAlgorithmOID = serializers.CharField(required=False, max_length=64)  # noqa: N815
        signAlgo = serializers.CharField(max_length=64)  # noqa: N815
        signAlgoParams = serializers.CharField(required=False, max_length=1024)  # noqa: N815
        operationMode = serializers.ChoiceField(choices=["S"], required=False, default="S")  # noqa: N815

    class OutputSerializer(serializers.Serializer):
        signatures = serializers.ListField(child=serializers.CharField())

    @extend_schema(request=InputSerializer, versions=["v1"], examples=example(
        credentialID=EXAMPLE_CREDENTIAL_ID, SAD=EXAMPLE_SAD, hash=[EXAMPLE_HASH], hashAlgo=SHA256_OID,
        signAlgo=SHA256_WITH_RSA_OID))
    @extend_schema(request=InputSerializerV2, versions=["v2"], examples=example(
        credentialID=EXAMPLE_CREDENTIAL_ID, SAD=EXAMPLE_SAD, hashes=[EXAMPLE_HASH], hashAlgorithmOID=SHA256_OID,
        signAlgo=SHA256_WITH_RSA_OID))
    @extend_schema(
        responses={200: OutputSerializer, **csc_errors(
            *CLIENT_CALL, s400="invalid_request, sad_expired, unauthorized_hash, num_signatures_too_high, "
            "credential_is_disabled")},
        tags=["CSC"],
    )
    def post(self, request: Request) -> Response:
        if self.api_version == "v1":
            data = self.input(self.InputSerializer)
            hashes, hash_algo = list(data["hash"]), data.get("hashAlgo")
        else:
            data = self.input(self.InputSerializerV2)
            hashes, hash_algo = list(data["hashes"]), data.get("hashAlgorithmOID")
        certificate = self.usable_credential(data["credentialID"])
        _check_algorithms(certificate, data["signAlgo"], hash_algo, hashes)
        if data.get("signAlgoParams"):
            raise _invalid("Invalid parameter signAlgoParams")  # PSS is not offered: no parameters apply
        signatures = signature_sign_hashes(
            sad_token=data["SAD"], hashes=hashes, certificate=certificate, hash_algorithm=_hash_algorithm(hashes),
            client=self.client, ip=client_ip(request),
        )
        return Response({"signatures": [base64.b64encode(s).decode("ascii") for s in signatures]})


class SignDocApi(CscView):
    """v2 ``signatures/signDoc``: PAdES signatures of whole PDFs."""

    max_body_bytes = settings.API_MAX_DOCUMENT_REQUEST_BYTES

    class InputSerializer(CredentialInput):
        class Document(serializers.Serializer):
            document = Base64Field(max_length=settings.API_MAX_DOCUMENT_REQUEST_BYTES)
            signature_format = serializers.ChoiceField(choices=["P"])
            conformance_level = serializers.ChoiceField(choices=list(CONFORMANCE_LEVELS), required=False,
                                                        default="Ades-B-B")
            signAlgo = serializers.CharField(max_length=64)  # noqa: N815
            signAlgoParams = serializers.CharField(required=False, max_length=1024)  # noqa: N815
            signed_envelope_property = serializers.ChoiceField(
                choices=["Default", "Certification", "Revision"], required=False, default="Default")

        SAD = serializers.CharField(max_length=1024)
        documents = serializers.ListField(child=Document(), min_length=1, max_length=settings.SIGNING_BATCH_LIMIT)
        returnValidationInfo = serializers.BooleanField(required=False, default=False)  # noqa: N815

    class OutputSerializer(serializers.Serializer):
        DocumentWithSignature = serializers.ListField(child=serializers.CharField())  # noqa: N815
        SignatureObject = serializers.ListField(child=serializers.CharField())  # noqa: N815

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, **csc_errors(
            *CLIENT_CALL, s400="invalid_request (also a document that is not a readable PDF), sad_expired, "
            "unauthorized_hash, num_signatures_too_high, credential_is_disabled")},
        examples=example(credentialID=EXAMPLE_CREDENTIAL_ID, SAD=EXAMPLE_SAD, documents=[{
            "document": "JVBERi0xLjcKJeLjz9MK", "signature_format": "P", "conformance_level": "Ades-B-T",
            "signAlgo": SHA256_WITH_RSA_OID}]),
        tags=["CSC"],
    )
    def post(self, request: Request) -> Response:
        if "documentDigests" in (request.data if isinstance(request.data, dict) else {}):
            raise _invalid("Invalid parameter documentDigests: use signatures/signHash for digests")
        data = self.input(self.InputSerializer)
        certificate = self.usable_credential(data["credentialID"])
        levels = {d["conformance_level"] for d in data["documents"]}
        if len(levels) != 1:
            raise _invalid("Invalid parameter conformance_level: one level per call")
        offered = _sign_algos(x509.load_der_x509_certificate(bytes(certificate.der)))
        if any(d["signAlgo"] not in offered for d in data["documents"]):
            raise _invalid("Invalid parameter signAlgo")
        certify = {d["signed_envelope_property"] == "Certification" for d in data["documents"]}
        if len(certify) != 1:
            raise _invalid("Invalid parameter signed_envelope_property: one kind per call")
        # The intake's checks and bounds, each document's, before the SAD is looked at (how many and
        # how large together: multisign and the body limit). CSC documents have no names: a refusal
        # names the document by its place in the request.
        for index, document in enumerate(data["documents"]):
            pdf_document_check(name=f"documents[{index}]", data=document["document"])
        signed = signature_sign_documents(
            sad_token=data["SAD"], certificate=certificate, documents=[d["document"] for d in data["documents"]],
            level=CONFORMANCE_LEVELS[levels.pop()], certify=certify.pop(), client=self.client,
            ip=client_ip(request),
        )
        return Response({
            "DocumentWithSignature": [base64.b64encode(pdf).decode("ascii") for pdf in signed],
            "SignatureObject": [],
        })


class TimestampApi(CscView):
    """``signatures/timestamp``: an RFC 3161 timestamp token over a hash, from the internal TSA."""

    class InputSerializer(CscBaseInput):
        hash = HashField()
        hashAlgo = serializers.ChoiceField(choices=DIGEST_OIDS)  # noqa: N815
        nonce = serializers.RegexField(r"^[0-9a-fA-F]{1,64}$", required=False)

    class OutputSerializer(serializers.Serializer):
        timestamp = serializers.CharField()

    @extend_schema(
        request=InputSerializer, responses={200: OutputSerializer, **csc_errors(*CLIENT_CALL)},
        examples=example(hash=EXAMPLE_HASH, hashAlgo=SHA256_OID, nonce="1f2e3d4c"), tags=["CSC"],
    )
    def post(self, request: Request) -> Response:
        data = self.input(self.InputSerializer)
        name, length = DIGESTS[data["hashAlgo"]]
        if len(data["hash"]) != length:
            raise _invalid("Invalid parameter hash: length does not match hashAlgo")
        token = timestamp_token(
            digest=data["hash"], digest_algorithm=name,
            nonce=int(data["nonce"], 16) if data.get("nonce") else None, client=self.client,
        )
        return Response({"timestamp": base64.b64encode(token).decode("ascii")})


def _name_schema_components() -> None:
    """Give every nested Input/OutputSerializer its own OpenAPI component name ("CredentialsInfoInput"…);
    left alone, drf-spectacular names them all "Input"/"Output" and they overwrite each other."""
    for view in (InfoApi, CredentialsListApi, CredentialsInfoApi, CredentialsSendOtpApi, AuthorizeApi,
                 ExtendTransactionApi, SignHashApi, SignDocApi, TimestampApi):
        base = view.__name__.removesuffix("Api")
        for attribute, suffix in (("InputSerializer", "Input"), ("InputSerializerV2", "InputV2"),
                                  ("OutputSerializer", "Output")):
            serializer = view.__dict__.get(attribute)
            if serializer is not None:
                serializer.Meta = type("Meta", (), {"ref_name": f"Csc{base}{suffix}"})


_name_schema_components()
