"""The exam-records batch API (``/api/v1/batch/…``) and the validation API (``/api/v1/validation``).

One PIN + OTP for many PDFs: ``authorize`` binds a SAD to the SHA-256 of each
document; ``sign`` sends the documents. Up to ``SIGNING_BATCH_SYNC_LIMIT`` documents are signed
within the request; a larger batch becomes a job for the Celery workers (``202`` + ``Location``),
polled at ``jobs/<id>`` until done, its results kept ``SIGNING_JOB_RESULT_SECONDS``. How the SAD
reaches the worker without being stored: ``signing/services/jobs.py``.

Thin edges as in :mod:`signing.api.csc`: nested Input/OutputSerializers, tenant data through
:mod:`signing.api.selectors`, state changes through services, every error through the one handler
(``{"code", "message", "fields"}``).
"""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Holder
from certificates.models import Certificate
from core.errors import ApplicationError
from core.ratelimit import client_ip
from signing.api.authentication import ApiClientView
from signing.api.csc.fields import EXAMPLE_CREDENTIAL_ID, EXAMPLE_SAD, EXAMPLE_USER_ID, Base64Field, example
from signing.api.csc.presenters import expires_in
from signing.api.parsers import LimitedJSONParser, LimitedMultiPartParser
from signing.api.schema import CLIENT_CALL, error_responses
from signing.api.selectors import (
    credential_get_usable_for_api_client,
    holder_get_for_api_client,
    otp_route_for_holder,
    signing_job_get_for_api_client,
)
from signing.models import Channel, SigningJob, SigningJobState
from signing.pdf_input import pdf_intake
from signing.services import pdf_validate, signature_authorize, signature_sign_documents, signing_job_create
from signing.services.jobs import signing_job_failures, signing_job_results
from signing.services.validation import RevocationStatus

LEVELS = ["B-B", "B-T", "B-LT", "B-LTA"]


def _not_found() -> NotFound:
    return NotFound()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class ApiView(ApiClientView):
    """A call of the native API by a client holding the ``batch`` scope (``validation`` for validation)."""

    required_scope = "batch"

    def credential(self, credential_id: str) -> Certificate:
        """The client's organization's credential, usable for signing; 404 for missing or foreign."""
        try:
            return credential_get_usable_for_api_client(client=self.client, credential_id=credential_id)
        except Certificate.DoesNotExist:
            raise _not_found() from None


class DocumentBodyLimit:
    """Views that take whole PDFs: the body limit is the documents' one, read at request time."""

    @property
    def max_body_bytes(self) -> int:
        return int(settings.API_MAX_DOCUMENT_REQUEST_BYTES)


class BatchAuthorizeApi(ApiView):
    """PIN + OTP of the holder, bound to the SHA-256 of every document of the batch: a SAD."""

    class InputSerializer(serializers.Serializer):
        class Document(serializers.Serializer):
            name = serializers.CharField(max_length=255)
            sha256 = serializers.RegexField(r"^[0-9a-fA-F]{64}$", error_messages={"invalid": "not a SHA-256 (hex)"})

            class Meta:
                ref_name = "BatchAuthorizeDocument"

        userID = serializers.CharField(max_length=150)  # noqa: N815
        credentialID = serializers.CharField(max_length=64)  # noqa: N815
        PIN = serializers.CharField(max_length=64, trim_whitespace=False)
        OTP = serializers.CharField(max_length=16)
        documents = serializers.ListField(
            child=Document(), min_length=1, max_length=settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION
        )

    class OutputSerializer(serializers.Serializer):
        SAD = serializers.CharField()
        expiresIn = serializers.IntegerField()  # noqa: N815

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(
            *CLIENT_CALL, 404, csc=False, s400="invalid_request, invalid_pin, locked_pin, invalid_otp, locked_otp, "
            "credential_is_disabled", s404="the holder, or the credential of that holder")},
        examples=example(userID=EXAMPLE_USER_ID, credentialID=EXAMPLE_CREDENTIAL_ID, PIN="12345678", OTP="123456",
                         documents=[{"name": "verbale-1.pdf", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b"
                                     "822cd15d6c15b0f00a08"}]),
        tags=["Batch"],
    )
    def post(self, request: Request) -> Response:
        data = self.input(self.InputSerializer)
        try:
            holder = holder_get_for_api_client(client=self.client, username=data["userID"])
        except Holder.DoesNotExist:
            raise _not_found() from None
        certificate = self.credential(data["credentialID"])
        if certificate.holder_id != holder.pk:
            raise _not_found()
        hashes = [bytes.fromhex(d["sha256"]) for d in data["documents"]]
        activation, sad = signature_authorize(
            holder=holder, certificate=certificate, pin=data["PIN"], otp_code=data["OTP"], hashes=hashes,
            num_signatures=len(hashes), hash_algorithm="sha256", channel=Channel.API, client=self.client,
            ip=client_ip(request), **otp_route_for_holder(holder=holder),
        )
        return Response({"SAD": sad, "expiresIn": expires_in(activation)})


class BatchSignedDocument(serializers.Serializer):
    name = serializers.CharField()
    content = serializers.CharField(help_text="The signed PDF, base64")


class BatchSignApi(DocumentBodyLimit, ApiView):
    """The documents of an authorized batch: signed at once (small batch) or as a job (large one)."""

    parser_classes = [LimitedJSONParser]

    class InputSerializer(serializers.Serializer):
        class Document(serializers.Serializer):
            name = serializers.CharField(max_length=255)
            content = Base64Field(max_length=settings.API_MAX_DOCUMENT_REQUEST_BYTES, help_text="The PDF, base64")

            class Meta:
                ref_name = "BatchSignDocument"

        credentialID = serializers.CharField(max_length=64)  # noqa: N815
        SAD = serializers.CharField(max_length=1024)
        level = serializers.ChoiceField(choices=LEVELS)
        reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        location = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        documents = serializers.ListField(
            child=Document(), min_length=1, max_length=settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION
        )

    class OutputSerializer(serializers.Serializer):
        documents = serializers.ListField(child=BatchSignedDocument())

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            202: inline_serializer("BatchJobAccepted", {"job": serializers.URLField()}),
            **error_responses(
                *CLIENT_CALL, 404, csc=False, s400="invalid_request (also a document that is not a usable PDF), "
                "sad_expired, unauthorized_hash, num_signatures_too_high, credential_is_disabled",
                s404="the credential", s413="also a document or the batch over the PDF limits"),
        },
        examples=example(credentialID=EXAMPLE_CREDENTIAL_ID, SAD=EXAMPLE_SAD, level="B-T", reason="Verbalizzazione",
                         documents=[{"name": "verbale-1.pdf", "content": "JVBERi0xLjcKJeLjz9MK"}]),
        tags=["Batch"],
    )
    def post(self, request: Request) -> Response:
        data = self.input(self.InputSerializer)
        certificate = self.credential(data["credentialID"])
        documents = pdf_intake(files=[(d["name"], d["content"]) for d in data["documents"]])
        ip = client_ip(request)
        if len(documents) > settings.SIGNING_BATCH_SYNC_LIMIT:
            job = signing_job_create(
                client=self.client, certificate=certificate, documents=documents, level=data["level"],
                sad_token=data["SAD"], reason=data["reason"], location=data["location"], ip=ip,
            )
            url = request.build_absolute_uri(reverse("api_batch_job", kwargs={"job_id": job.public_id}))
            return Response({"job": url}, status=status.HTTP_202_ACCEPTED, headers={"Location": url})
        signed = signature_sign_documents(
            sad_token=data["SAD"], documents=[d.data for d in documents], names=[d.name for d in documents],
            certificate=certificate, level=data["level"], reason=data["reason"], location=data["location"],
            client=self.client, ip=ip,
        )
        return Response({"documents": [
            {"name": doc.name, "content": _b64(pdf)} for doc, pdf in zip(documents, signed, strict=True)
        ]})


class BatchFailedDocument(serializers.Serializer):
    position = serializers.IntegerField(help_text="The document's place in the batch as submitted, from 0")
    name = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()


class BatchJobApi(ApiView):
    """State and progress of a job; when done, its signed documents until they expire (then 410).

    A document that could not be signed is listed in ``failed`` (with why), the others are signed
    and in ``documents``; a job none of whose documents could be signed is ``failed`` as a whole."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        state = serializers.ChoiceField(choices=SigningJobState.choices)
        total = serializers.IntegerField()
        done = serializers.IntegerField()
        progress = serializers.CharField(help_text="done/total")
        createdAt = serializers.DateTimeField()  # noqa: N815
        finishedAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
        expiresAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
        error = serializers.DictField(allow_null=True)
        documents = serializers.ListField(child=BatchSignedDocument(), required=False)
        failed = serializers.ListField(child=BatchFailedDocument(), required=False)

    @extend_schema(
        parameters=[OpenApiParameter("job_id", OpenApiTypes.UUID, OpenApiParameter.PATH,
                                     description="The job's id, from the Location of the 202 answer")],
        responses={200: OutputSerializer, **error_responses(
            401, 403, 404, 410, 429, csc=False, s404="no such job of this client")},
        tags=["Batch"],
    )
    def get(self, request: Request, job_id: str) -> Response:
        try:
            job = signing_job_get_for_api_client(client=self.client, job_id=job_id)
        except SigningJob.DoesNotExist:
            raise _not_found() from None
        if job.purged_at is not None or (job.expires_at is not None and job.expires_at <= timezone.now()):
            raise ApplicationError("job_expired", _("The results of this job have expired and were deleted."))
        body: dict[str, Any] = {
            "id": str(job.public_id), "state": job.state, "total": job.total, "done": job.done,
            "progress": f"{job.done}/{job.total}", "createdAt": job.created_at, "finishedAt": job.finished_at,
            "expiresAt": job.expires_at,
            "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
        }
        if job.state == SigningJobState.DONE:
            body["documents"] = [{"name": d["name"], "content": _b64(d["content"])}
                                 for d in signing_job_results(job=job)]
        if job.state in (SigningJobState.DONE, SigningJobState.FAILED):
            body["failed"] = signing_job_failures(job=job)
        return Response(self.OutputSerializer(body).data)


class ValidationApi(DocumentBodyLimit, ApiView):
    """A signed PDF (multipart ``file``, or JSON ``{"document": base64}``) → the validation report."""

    required_scope = "validation"
    parser_classes = [LimitedJSONParser, LimitedMultiPartParser]

    class InputSerializer(serializers.Serializer):
        document = Base64Field(required=False, max_length=settings.API_MAX_DOCUMENT_REQUEST_BYTES)
        file = serializers.FileField(required=False, allow_empty_file=True)
        name = serializers.CharField(max_length=255, required=False, default="document.pdf")

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if ("document" in attrs) == ("file" in attrs):
                raise serializers.ValidationError(_("Send exactly one of document (base64) or file (multipart)."))
            return attrs

    class OutputSerializer(serializers.Serializer):
        class Signature(serializers.Serializer):
            field = serializers.CharField(help_text="The signature field's name")
            signer = serializers.CharField(help_text="The signer's name (common name of the certificate)")
            signer_serial_number = serializers.CharField(
                help_text="The subject's serialNumber attribute: the fiscal code, TINIT-…"
            )
            signer_subject = serializers.CharField(help_text="The certificate's full subject DN")
            intact = serializers.BooleanField(help_text="The signed bytes are unchanged")
            valid = serializers.BooleanField(help_text="The cryptographic signature is correct")
            trusted = serializers.BooleanField(help_text="The certificate chains to our root and is in good standing")
            revocation_status = serializers.ChoiceField(
                choices=[s.value for s in RevocationStatus],
                help_text="good; on_hold: suspended, may be reactivated; revoked: for good",
            )
            revoked = serializers.BooleanField(help_text="The certificate (or a CA above it) is revoked")
            on_hold = serializers.BooleanField(help_text="The certificate (or a CA above it) is suspended")
            revocation_time = serializers.DateTimeField(allow_null=True, help_text="When revoked or suspended")
            revocation_reason = serializers.CharField(
                allow_null=True, help_text="The CRL reason (RFC 5280), e.g. key_compromise, certificate_hold"
            )
            level = serializers.CharField(help_text="PAdES level: B-B, B-T, B-LT, B-LTA (PKCS7 if not PAdES)")
            signing_time = serializers.DateTimeField(allow_null=True, help_text="The time the signer claims")
            timestamp_time = serializers.DateTimeField(allow_null=True, help_text="The signature timestamp's time")
            valid_at_timestamp = serializers.BooleanField(
                allow_null=True, help_text="B-LT and B-LTA: valid at the timestamp with the embedded revocation data"
            )
            modification_level = serializers.CharField(
                help_text="Changes after signing (pyHanko): NONE, LTA_UPDATES, FORM_FILLING, ANNOTATIONS, OTHER"
            )
            coverage = serializers.CharField()
            certification = serializers.BooleanField()
            summary = serializers.CharField()

            class Meta:
                ref_name = "ValidationSignature"

        signed = serializers.BooleanField()
        valid = serializers.BooleanField()
        signatures = Signature(many=True)
        document_timestamps = serializers.IntegerField()

    @extend_schema(request={"application/json": InputSerializer, "multipart/form-data": InputSerializer},
                   responses={200: OutputSerializer, **error_responses(
                       *CLIENT_CALL, csc=False, s400="invalid_request, or a file that is not a usable PDF",
                       s413="also a document over the PDF limit")},
                   tags=["Validation"])
    def post(self, request: Request) -> Response:
        data = self.input(self.InputSerializer)
        upload = data.get("file") or (data["name"], data["document"])
        # Validation runs nothing it reads: a document with active content gets its report.
        (document,) = pdf_intake(files=[upload], allow_active_content=True)
        return Response(self.OutputSerializer(pdf_validate(data=document.data, name=document.name).as_dict()).data)


def _name_schema_components() -> None:
    for view in (BatchAuthorizeApi, BatchSignApi, BatchJobApi, ValidationApi):
        base = view.__name__.removesuffix("Api")
        for attribute, suffix in (("InputSerializer", "Input"), ("OutputSerializer", "Output")):
            serializer = view.__dict__.get(attribute)
            if serializer is not None:
                serializer.Meta = type("Meta", (), {"ref_name": f"{base}{suffix}"})


_name_schema_components()
