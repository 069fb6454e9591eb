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
from django.utils.translation import gettext as _
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
    HashesField,
    HashField,
    conformance_level_parse,
    csc_input,
    example,
    hash_list,
    lang_field,
)
from signing.api.csc.oauth import request_sad, request_sad_check
from signing.api.csc.presenters import (
    credential_info,
    csc_language_activate,
    expires_in,
    service_info,
    validation_info,
)
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
from signing.pdf_input import pdf_document_check, pdf_has_signatures
from signing.services import (
    csc_direct_authorization_check,
    signature_activation_extend,
    signature_authorize,
    signature_sign_digests,
    signature_sign_documents,
    signature_sign_hashes,
)
from signing.tsa import timestamp_token

INVALID_CREDENTIAL = "Invalid parameter credentialID"
# credentials/list: the most credential IDs one page carries.
MAX_RESULTS = 100


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

    def input(self, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        return csc_input(serializer_class, self.request.data)

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
        lang = lang_field()

    class OutputSerializer(serializers.Serializer):
        specs = serializers.CharField()
        name = serializers.CharField()
        logo = serializers.CharField()
        region = serializers.CharField()
        lang = serializers.CharField()
        description = serializers.CharField()
        authType = serializers.ListField(child=serializers.CharField())  # noqa: N815
        oauth2 = serializers.URLField(required=False, help_text="v1: base URI of the OAuth 2.0 endpoints")
        oauth2Issuer = serializers.URLField(  # noqa: N815
            required=False,
            help_text="v2: the OAuth 2.0 issuer (RFC 8414 metadata at /.well-known/oauth-authorization-server)")
        methods = serializers.ListField(child=serializers.CharField())
        signAlgorithms = serializers.DictField(required=False, help_text="v2: {algos: [OID…]}")  # noqa: N815
        signature_formats = serializers.DictField(  # noqa: N815
            required=False, help_text="v2: {formats: [P], envelope_properties: [[Certification, Revision]]}")
        conformance_levels = serializers.ListField(  # noqa: N815
            child=serializers.CharField(), required=False, help_text="v2: Ades-B-B … Ades-B-LTA")
        validationInfo = serializers.BooleanField(  # noqa: N815
            required=False, help_text="v2: true, signDoc answers validationInfo when asked (returnValidationInfo)")

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer, **csc_errors(400, 413, 415)},
                   examples=example(lang="it-IT"), tags=["CSC"], auth=[])
    def post(self, request: Request) -> Response:
        data = csc_input(self.InputSerializer, request.data if request.data else {})
        return Response(service_info(request, version=self.api_version, lang=data.get("lang")))


class CredentialsListApi(CscView):
    """``credentials/list``: the active credentials of one holder of the client's organization."""

    class InputSerializer(CscBaseInput):
        userID = serializers.CharField(max_length=150)  # noqa: N815
        maxResults = serializers.IntegerField(  # noqa: N815
            required=False, help_text=f"1 to {MAX_RESULTS}; absent, 0 or out of range: {MAX_RESULTS}")
        pageToken = serializers.CharField(required=False, max_length=16)  # noqa: N815
        lang = lang_field()
        # v2 only (ignored by v1 clients, which do not send them)
        credentialInfo = serializers.BooleanField(required=False, default=False)  # noqa: N815
        certificates = serializers.ChoiceField(choices=["none", "single", "chain"], required=False, default="single")
        certInfo = serializers.BooleanField(required=False, default=False)  # noqa: N815
        authInfo = serializers.BooleanField(required=False, default=False)  # noqa: N815
        onlyValid = serializers.BooleanField(  # noqa: N815
            required=False, default=False,
            help_text="v2: true lists only credentials that can sign now; false (the default) also suspended ones")

    class OutputSerializer(serializers.Serializer):
        credentialIDs = serializers.ListField(child=serializers.CharField())  # noqa: N815
        nextPageToken = serializers.CharField(required=False)  # noqa: N815
        credentialInfos = serializers.ListField(  # noqa: N815
            child=serializers.DictField(), required=False, help_text="v2, with credentialInfo: each credential's info"
        )
        onlyValid = serializers.BooleanField(required=False, help_text="v2: present (true) when onlyValid was asked")  # noqa: N815

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
            if not (data["pageToken"].isascii() and data["pageToken"].isdigit()):
                raise invalid_request("Invalid parameter pageToken")
            offset = int(data["pageToken"])
        csc_language_activate(data.get("lang"))
        limit = data.get("maxResults") or MAX_RESULTS
        if not 1 <= limit <= MAX_RESULTS:
            limit = MAX_RESULTS  # the specification's fallback: the service's maximum, not an error
        only_valid = self.api_version == "v1" or data["onlyValid"]
        listed = credential_list_for_api_client(client=self.client, holder=holder, only_valid=only_valid)
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
                        auth_info=data["authInfo"], lang=data.get("lang"))}
                    for c in page
                ]
            if data["onlyValid"]:
                body["onlyValid"] = True
        return Response(body)


class CredentialsInfoApi(CscView):
    """``credentials/info``: certificate chain, key, authentication of one credential."""

    class InputSerializer(CredentialInput):
        certificates = serializers.ChoiceField(choices=["none", "single", "chain"], required=False, default="single")
        certInfo = serializers.BooleanField(required=False, default=False)  # noqa: N815
        authInfo = serializers.BooleanField(required=False, default=False)  # noqa: N815
        lang = lang_field()

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
        signatureQualifier = serializers.CharField(required=False, help_text="v2: eu_eidas_qes")  # noqa: N815

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
            """One authentication object of ``credentials/info``'s ``auth.objects``: ``PIN`` or ``OTP``."""

            id = serializers.CharField(max_length=32)
            value = serializers.CharField(max_length=64, trim_whitespace=False)

        numSignatures = serializers.IntegerField(min_value=1)  # noqa: N815
        hashes = hash_list(required=False)
        hashAlgorithmOID = serializers.ChoiceField(choices=DIGEST_OIDS, required=False)  # noqa: N815
        authData = serializers.ListField(child=AuthData(), max_length=8)  # noqa: N815
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
        csc_direct_authorization_check(client=self.client, ip=client_ip(request))
        if self.api_version == "v1":
            data = self.input(self.InputSerializer)
            hashes, pin, otp = data.get("hash"), data["PIN"], data["OTP"]
        else:
            data = self.input(self.InputSerializerV2)
            hashes = data.get("hashes")
            # "PIN AND OTP", as credentials/info declares: each object once, nothing else.
            ids = [item["id"] for item in data["authData"]]
            if sorted(ids) != ["OTP", "PIN"]:
                raise invalid_request("Invalid parameter authData")
            auth = {item["id"]: item["value"] for item in data["authData"]}
            pin, otp = auth["PIN"], auth["OTP"]
            length = DIGESTS[data["hashAlgorithmOID"]][1] if data.get("hashAlgorithmOID") else None
            if length and any(len(h) != length for h in hashes or []):
                raise invalid_request("Invalid digest value length")
        # SCAL 2: the authorization is bound to the hashes it may sign, one per signature.
        if not hashes:
            raise invalid_request("Missing (or invalid type) array parameter hash" if self.api_version == "v1"
                                  else "Missing (or invalid type) array parameter hashes")
        if data["numSignatures"] > settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION:
            raise ApplicationError("num_signatures_too_high", _("numSignatures is greater than multisign (%(max)d).")
                                   % {"max": settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION})
        if len(hashes) != data["numSignatures"]:
            raise invalid_request("Invalid value for parameter numSignatures")
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
                raise invalid_request("Invalid digest value length")
        certificate = self.usable_credential(data["credentialID"])
        activation, sad = signature_activation_extend(
            sad_token=data["SAD"], certificate=certificate, client=self.client,
            hashes=list(hashes) if hashes else None, hash_algorithm=hash_algorithm(list(hashes)) if hashes else None,
            ip=client_ip(request),
        )
        return Response({"SAD": sad, "expiresIn": expires_in(activation)})


class SignHashApi(CscView):
    """``signatures/signHash``: sign the authorized hashes with the SAD."""

    credential_token_accepted = True  # a "credential" access token stands for the SAD

    class InputSerializer(CredentialInput):
        SAD = serializers.CharField(max_length=1024, required=False)
        hash = hash_list()
        hashAlgo = serializers.CharField(required=False, max_length=64)  # noqa: N815
        signAlgo = serializers.CharField(max_length=64)  # noqa: N815
        signAlgoParams = serializers.CharField(required=False, max_length=1024)  # noqa: N815

    class InputSerializerV2(CredentialInput):
        SAD = serializers.CharField(max_length=1024, required=False)
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
        request_sad_check(request, data)
        certificate = self.usable_credential(data["credentialID"])
        algorithms_check(certificate, data["signAlgo"], hash_algo, hashes)
        sign_algo_params_check(certificate, data["signAlgo"], data.get("signAlgoParams"), hash_algorithm(hashes))
        signatures = signature_sign_hashes(
            sad_token=request_sad(request, data, certificate),
            hashes=hashes, certificate=certificate, hash_algorithm=hash_algorithm(hashes),
            client=self.client, ip=client_ip(request),
        )
        return Response({"signatures": [base64.b64encode(s).decode("ascii") for s in signatures]})


class SignDocApi(CscView):
    """v2 ``signatures/signDoc``: PAdES signatures of whole PDFs (``documents``: the signed PDFs back)
    or of the digests of PDFs the client holds (``documentDigests``: the CMS signatures back), each
    at its own conformance level and envelope property."""

    max_body_bytes = settings.API_MAX_DOCUMENT_REQUEST_BYTES
    credential_token_accepted = True  # a "credential" access token stands for the SAD

    class InputSerializer(CredentialInput):
        class Document(serializers.Serializer):
            document = Base64Field(max_length=settings.API_MAX_DOCUMENT_REQUEST_BYTES)
            signature_format = serializers.ChoiceField(choices=["P"], help_text="P (PAdES): the only format offered")
            conformance_level = serializers.CharField(
                required=False, max_length=16,
                help_text="AdES-B-B (default), AdES-B-T, AdES-B-LT, AdES-B-LTA (also spelled Ades-…)")
            signAlgo = serializers.CharField(max_length=64)  # noqa: N815
            signAlgoParams = serializers.CharField(required=False, max_length=1024)  # noqa: N815
            signed_envelope_property = serializers.ChoiceField(
                choices=["Certification", "Revision", "Default"], required=False,
                help_text="Certification (the default, for a document without signatures: an already signed "
                          "one can only take a Revision) or Revision")

        class DocumentDigest(serializers.Serializer):
            hashes = HashesField(child=HashField(), min_length=1,
                                 max_length=settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION)
            hashAlgorithmOID = serializers.ChoiceField(choices=DIGEST_OIDS, required=False)  # noqa: N815
            signature_format = serializers.ChoiceField(choices=["P"])
            conformance_level = serializers.CharField(required=False, max_length=16)
            signAlgo = serializers.CharField(max_length=64)  # noqa: N815
            signAlgoParams = serializers.CharField(required=False, max_length=1024)  # noqa: N815
            signed_envelope_property = serializers.ChoiceField(
                choices=["Certification", "Revision", "Default"], required=False)

        SAD = serializers.CharField(max_length=1024, required=False)
        documents = serializers.ListField(
            child=Document(), required=False, max_length=settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION
        )
        documentDigests = serializers.ListField(  # noqa: N815
            child=DocumentDigest(), required=False, max_length=settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION
        )
        signatureQualifier = serializers.ChoiceField(choices=["eu_eidas_qes"], required=False)  # noqa: N815
        operationMode = serializers.ChoiceField(  # noqa: N815
            choices=["S"], required=False, default="S",
            help_text="S only: asynchronous signing (A) is refused, never run synchronously")
        returnValidationInfo = serializers.BooleanField(required=False, default=False)  # noqa: N815

    class OutputSerializer(serializers.Serializer):
        DocumentWithSignature = serializers.ListField(  # noqa: N815
            child=serializers.CharField(), required=False, help_text="the signed PDFs, when documents were sent")
        SignatureObject = serializers.ListField(  # noqa: N815
            child=serializers.CharField(), required=False,
            help_text="the CMS signatures (DER, base64), when documentDigests were sent")
        validationInfo = serializers.DictField(  # noqa: N815
            required=False, help_text="ocsp, crl, certificates (base64 DER): with returnValidationInfo, and always "
                                      "for documentDigests at AdES-B-LT or AdES-B-LTA")

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, **csc_errors(
            *CLIENT_CALL, s400="invalid_request (also a document that is not a readable PDF, an unauthorized "
            "document or digest, an expired SAD), invalid_authentication_data")},
        examples=example(credentialID=EXAMPLE_CREDENTIAL_ID, SAD=EXAMPLE_SAD, documents=[{
            "document": "JVBERi0xLjcKJeLjz9MK", "signature_format": "P", "conformance_level": "AdES-B-T",
            "signAlgo": SHA256_WITH_RSA_OID}]),
        tags=["CSC"],
    )
    def post(self, request: Request) -> Response:
        data = self.input(self.InputSerializer)
        documents, digests = data.get("documents"), data.get("documentDigests")
        if documents and digests:
            raise invalid_request("Both documentDigests and documents parameters passed")
        if not documents and not digests:
            raise invalid_request("Empty documentDigests and documents objects")
        request_sad_check(request, data)
        certificate = self.usable_credential(data["credentialID"])
        offered = sign_algos(x509.load_der_x509_certificate(certificate.issued_der), certificate.key_algorithm)
        entries = documents or digests or []
        if any(entry["signAlgo"] not in offered for entry in entries):
            raise invalid_request("Invalid parameter signAlgo")
        levels = [conformance_level_parse(entry.get("conformance_level")) for entry in entries]
        if documents:
            body = self._documents(certificate, documents, levels, data)
        else:
            body = self._digests(certificate, digests or [], levels, data)
        if data["returnValidationInfo"] or (digests and {"B-LT", "B-LTA"} & set(levels)):
            body["validationInfo"] = validation_info(certificate)
        return Response(body)

    def _documents(self, certificate: Certificate, documents: list[dict[str, Any]], levels: list[str],
                   data: dict[str, Any]) -> dict[str, Any]:
        # The intake's checks and bounds, each document's, before the SAD is looked at (how many and
        # how large together: multisign and the body limit). CSC documents have no names: a refusal
        # names the document by its place in the request.
        for index, document in enumerate(documents):
            pdf_document_check(name=f"documents[{index}]", data=document["document"])
        certify = [
            document.get("signed_envelope_property") == "Certification"
            or (document.get("signed_envelope_property") in (None, "Default")
                and not pdf_has_signatures(document["document"]))
            for document in documents
        ]
        signed = signature_sign_documents(
            sad_token=request_sad(self.request, data, certificate), certificate=certificate,
            documents=[d["document"] for d in documents], each=list(zip(levels, certify, strict=True)),
            client=self.client, ip=client_ip(self.request),
        )
        return {"DocumentWithSignature": [base64.b64encode(pdf).decode("ascii") for pdf in signed]}

    def _digests(self, certificate: Certificate, digests: list[dict[str, Any]], levels: list[str],
                 data: dict[str, Any]) -> dict[str, Any]:
        offered = sign_algos(x509.load_der_x509_certificate(certificate.issued_der), certificate.key_algorithm)
        hashes: list[bytes] = []
        hash_levels: list[str] = []
        algorithms = set()
        for entry, level in zip(digests, levels, strict=True):
            implied = offered.get(entry["signAlgo"])
            named = entry.get("hashAlgorithmOID")
            if named and implied and named != implied:
                raise invalid_request("String parameter hashAlgorithmOID contradicts with signAlgo parameter")
            oid = named or implied
            if oid is None:
                raise invalid_request("Missing (or invalid type) string parameter hashAlgorithmOID")
            name, length = DIGESTS[oid]
            if any(len(h) != length for h in entry["hashes"]):
                raise invalid_request("Invalid digest value length")
            algorithms.add(name)
            hashes += entry["hashes"]
            hash_levels += [level] * len(entry["hashes"])
        if len(algorithms) != 1:
            raise invalid_request("Invalid parameter hashAlgorithmOID")  # one digest algorithm per call
        if len(hashes) > settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION:
            raise ApplicationError("num_signatures_too_high", _("numSignatures is greater than multisign (%(max)d).")
                                   % {"max": settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION})
        signed = signature_sign_digests(
            sad_token=request_sad(self.request, data, certificate), certificate=certificate, digests=hashes,
            hash_algorithm=algorithms.pop(),
            levels=hash_levels, client=self.client, ip=client_ip(self.request),
        )
        return {"SignatureObject": [base64.b64encode(content).decode("ascii") for content in signed]}


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
            raise invalid_request("Invalid digest value length")
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
