"""The Cloud Signature Consortium API, v1 (``/csc/v1/…``) and v2 (``/csc/v2/…``).

Thin edges: one view per operation, each with its nested ``InputSerializer`` (shape) and
``OutputSerializer`` (documentation); tenant data only through :mod:`signing.api.selectors`; state
changes only through services; responses shaped by :mod:`signing.api.csc.presenters`. Every error,
from malformed JSON to a wrong PIN, is answered in CSC form by
:func:`signing.api.exceptions.api_exception_handler`.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509
from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Holder
from certificates.models import Certificate
from core.errors import ApplicationError
from core.ratelimit import client_ip
from otp.sms_codes import sms_code_issue
from signing.api.authentication import ApiClientView
from signing.api.csc.algorithms import (
    CONFORMANCE_LEVELS,
    DIGEST_OIDS,
    DIGESTS,
    SHA256_OID,
    SHA256_WITH_RSA_OID,
    algorithms_check,
    hash_algorithm,
    invalid_request,
    sign_algo_params_check,
    sign_algos,
)
from signing.api.csc.fields import (
    EXAMPLE_CREDENTIAL_ID,
    EXAMPLE_HASH,
    EXAMPLE_SAD,
    EXAMPLE_USER_ID,
    Base64Field,
    CredentialInput,
    CscBaseInput,
    HashField,
    example,
    hash_list,
)
from signing.api.csc.presenters import credential_info, expires_in, service_info
from signing.api.schema import CLIENT_CALL, error_responses
from signing.api.selectors import (
    credential_get_for_api_client,
    credential_get_usable_for_api_client,
    credential_list_for_api_client,
    holder_get_for_api_client,
    otp_devices_for_credential,
    otp_route_for_holder,
    sms_device_active,
)
from signing.models import Channel
from signing.pdf_input import pdf_document_check
from signing.services import (
    signature_activation_extend,
    signature_authorize,
    signature_sign_documents,
    signature_sign_hashes,
)
from signing.tsa import timestamp_token

INVALID_CREDENTIAL = "Invalid parameter credentialID"


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
            raise invalid_request(INVALID_CREDENTIAL) from None

    def usable_credential(self, credential_id: str) -> Certificate:
        try:
            return credential_get_usable_for_api_client(client=self.client, credential_id=credential_id)
        except Certificate.DoesNotExist:
            raise invalid_request(INVALID_CREDENTIAL) from None


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
        return Response(service_info(request, version=self.api_version, lang=serializer.validated_data.get("lang")))


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
            raise invalid_request("Invalid parameter userID") from None
        offset = 0
        if data.get("pageToken"):
            if not data["pageToken"].isdigit():
                raise invalid_request("Invalid parameter pageToken")
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
            raise invalid_request("The credential does not use online OTP: use the code of the holder's device.")
        sms_code_issue(holder=certificate.holder, purpose="sign", ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuthorizeApi(CscView):
    """``credentials/authorize``: PIN + OTP and the exact hashes to sign, for a short-lived, single-use SAD."""

    class InputSerializer(CredentialInput):
        numSignatures = serializers.IntegerField(min_value=1)  # noqa: N815
        hash = hash_list(required=False)
        PIN = serializers.CharField(max_length=64, trim_whitespace=False)
        OTP = serializers.CharField(max_length=16)
        description = serializers.CharField(required=False, max_length=500, allow_blank=True)

    class InputSerializerV2(CredentialInput):
        class AuthData(serializers.Serializer):
            id = serializers.ChoiceField(choices=["PIN", "OTP"])
            value = serializers.CharField(max_length=64, trim_whitespace=False)

        numSignatures = serializers.IntegerField(min_value=1)  # noqa: N815
        hashes = hash_list(required=False)
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
                raise invalid_request("Invalid parameter authData: PIN and OTP are both required")
            pin, otp = auth["PIN"], auth["OTP"]
            length = DIGESTS[data["hashAlgorithmOID"]][1] if data.get("hashAlgorithmOID") else None
            if length and any(len(h) != length for h in hashes or []):
                raise invalid_request("Invalid parameter hashes: length does not match hashAlgorithmOID")
        # SCAL 2: the authorization is bound to the hashes it may sign, one per signature.
        if not hashes:
            raise invalid_request("Missing parameter hash" if self.api_version == "v1" else "Missing parameter hashes")
        if data["numSignatures"] > settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION:
            raise ApplicationError("num_signatures_too_high", "numSignatures is greater than multisign.")
        if len(hashes) != data["numSignatures"]:
            raise invalid_request("Invalid parameter numSignatures: it must equal the number of hashes")
        certificate = self.usable_credential(data["credentialID"])
        activation, sad = signature_authorize(
            holder=certificate.holder, certificate=certificate, pin=pin, otp_code=otp, hashes=list(hashes),
            num_signatures=data["numSignatures"], hash_algorithm=hash_algorithm(list(hashes)),
            channel=Channel.CSC, client=self.client, ip=client_ip(request),
            **otp_route_for_holder(holder=certificate.holder),
        )
        return Response({"SAD": sad, "expiresIn": expires_in(activation)})


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
        hash = hash_list(required=False)

    class InputSerializerV2(CredentialInput):
        SAD = serializers.CharField(max_length=1024)
        hashes = hash_list(required=False)
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
                raise invalid_request("Invalid parameter hashes: length does not match hashAlgorithmOID")
        certificate = self.usable_credential(data["credentialID"])
        activation, sad = signature_activation_extend(
            sad_token=data["SAD"], certificate=certificate, client=self.client,
            hashes=list(hashes) if hashes else None, hash_algorithm=hash_algorithm(list(hashes)) if hashes else None,
            ip=client_ip(request),
        )
        return Response({"SAD": sad, "expiresIn": expires_in(activation)})


class SignHashApi(CscView):
    """``signatures/signHash``: sign the authorized hashes with the SAD."""

    class InputSerializer(CredentialInput):
        SAD = serializers.CharField(max_length=1024)
        hash = hash_list()
        hashAlgo = serializers.CharField(required=False, max_length=64)  # noqa: N815
        signAlgo = serializers.CharField(max_length=64)  # noqa: N815
        signAlgoParams = serializers.CharField(required=False, max_length=1024)  # noqa: N815

    class InputSerializerV2(CredentialInput):
        SAD = serializers.CharField(max_length=1024)
        hashes = hash_list()
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
        algorithms_check(certificate, data["signAlgo"], hash_algo, hashes)
        sign_algo_params_check(certificate, data["signAlgo"], data.get("signAlgoParams"), hash_algorithm(hashes))
        signatures = signature_sign_hashes(
            sad_token=data["SAD"], hashes=hashes, certificate=certificate, hash_algorithm=hash_algorithm(hashes),
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
        documents = serializers.ListField(
            child=Document(), min_length=1, max_length=settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION
        )
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
            raise invalid_request("Invalid parameter documentDigests: use signatures/signHash for digests")
        data = self.input(self.InputSerializer)
        certificate = self.usable_credential(data["credentialID"])
        levels = {d["conformance_level"] for d in data["documents"]}
        if len(levels) != 1:
            raise invalid_request("Invalid parameter conformance_level: one level per call")
        offered = sign_algos(x509.load_der_x509_certificate(certificate.issued_der), certificate.key_algorithm)
        if any(d["signAlgo"] not in offered for d in data["documents"]):
            raise invalid_request("Invalid parameter signAlgo")
        certify = {d["signed_envelope_property"] == "Certification" for d in data["documents"]}
        if len(certify) != 1:
            raise invalid_request("Invalid parameter signed_envelope_property: one kind per call")
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
            raise invalid_request("Invalid parameter hash: length does not match hashAlgo")
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
