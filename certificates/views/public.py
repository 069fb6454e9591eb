"""Public, unauthenticated endpoints of the CA: CRLs, CA certificates, OCSP (RFC 5280, RFC 6960), and
the PKI disclosure statement every holder certificate names in its QcPDS.

They answer anyone, so they must never fail loudly: garbage in gives an OCSP error status out,
never a 500, and a request body is read only up to ``CA_OCSP_MAX_REQUEST_BYTES``.
"""

from __future__ import annotations

import base64
import binascii
import logging

from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from certificates.models import AuthorityRole
from certificates.profile import (
    CA_CERT_PATHS,
    CRL_PATHS,
    OCSP_PATH,
    PDS_LANGUAGES,
    QCP_N_QSCD_OID,
    pds_urls,
    public_url,
)
from certificates.selectors import AuthorityMissing, authority_current, crl_latest
from certificates.services.revocation import crl_publish, ocsp_respond
from certificates.vault import VaultUnavailable

OCSP_RESPONSE_TYPE = "application/ocsp-response"
_ROLES = {"root": AuthorityRole.ROOT, "issuing": AuthorityRole.ISSUING}


logger = logging.getLogger(__name__)


@require_GET
def crl_view(request: HttpRequest, name: str) -> HttpResponse:
    role = _ROLES.get(name)
    if role is None:
        raise Http404
    crl = crl_latest(role=role)
    if crl is None:
        try:  # first request after ca_init without a CRL: publish once, then it is stored
            crl = crl_publish(role=role)
        except Exception as exc:
            raise Http404 from exc
    response = HttpResponse(bytes(crl.der), content_type="application/pkix-crl")
    response["Last-Modified"] = http_date(crl.this_update.timestamp())
    response["Expires"] = http_date(crl.next_update.timestamp())
    # Short: a CRL republished after a suspension must reach relying parties quickly.
    patch_cache_control(response, public=True, max_age=300)
    return response


@require_GET
def ca_certificate_view(request: HttpRequest, name: str) -> HttpResponse:
    role = _ROLES.get(name)
    if role is None:
        raise Http404
    try:
        authority = authority_current(role)
    except AuthorityMissing as exc:
        raise Http404 from exc
    response = HttpResponse(bytes(authority.der), content_type="application/pkix-cert")
    patch_cache_control(response, public=True, max_age=86400)
    return response


def _malformed() -> bytes:
    status = ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(Encoding.DER)


@csrf_exempt  # a protocol endpoint for machines; there is no session to ride on
@require_http_methods(["GET", "POST"])
def ocsp_view(request: HttpRequest, encoded: str = "") -> HttpResponse:
    limit = settings.CA_OCSP_MAX_REQUEST_BYTES
    body: bytes | None = None
    if request.method == "POST":
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = limit + 1
        if 0 < declared <= limit:
            # Read the stream, not request.body: never buffer more than the limit.
            data = request.read(limit + 1)
            body = data if len(data) <= limit else None
    elif encoded and len(encoded) <= limit * 2:
        try:
            body = base64.b64decode(encoded, validate=True)  # the path is already URL-decoded
        except (binascii.Error, ValueError):
            body = None
    try:
        der = ocsp_respond(request_der=body) if body else _malformed()
    except (VaultUnavailable, OperationalError, InterfaceError) as exc:
        # The database or the responder's key device is out: tryLater (RFC 6960 §2.3) is the answer
        # a relying party understands and retries, not an HTML error page.
        logger.error("OCSP answered tryLater: %s", type(exc).__name__)
        der = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(
            Encoding.DER)
    return HttpResponse(der, content_type=OCSP_RESPONSE_TYPE)


@require_GET
def pds_view(request: HttpRequest, language: str) -> HttpResponse:
    """The PKI disclosure statement (ETSI EN 319 411-1 annex A) in ``language``, at the URL written in
    every holder certificate's QcPDS: generated from the settings that also make the certificates, so
    the two never disagree. The language is the URL's, whatever the visitor chose elsewhere."""
    if language not in PDS_LANGUAGES:
        raise Http404
    urls = pds_urls()
    context = {
        "tsp_name": settings.CA_ORGANIZATION_NAME,
        "tsp_identifier": settings.CA_ORGANIZATION_IDENTIFIER,
        "tsp_unit": settings.CA_ORGANIZATIONAL_UNIT,
        "contact_email": settings.CA_CONTACT_EMAIL,
        "contact_phone": settings.CA_CONTACT_PHONE,
        "contact_address": settings.CA_CONTACT_ADDRESS,
        "certificate_policy_oid": settings.CA_POLICY_OID,
        "qcp_oid": QCP_N_QSCD_OID.dotted_string,
        "tsa_policy_oid": settings.SIGNING_TSA_POLICY_OID,
        "tsa_qualified": settings.SIGNING_TSA_QUALIFIED,
        "crl_urls": [public_url(CRL_PATHS[role]) for role in ("issuing", "root")],
        "ca_certificate_urls": [public_url(CA_CERT_PATHS[role]) for role in ("root", "issuing")],
        "ocsp_url": public_url(OCSP_PATH),
        "retention_years": settings.CA_RECORDS_RETENTION_YEARS,
        "other_languages": [(code, urls[code]) for code in PDS_LANGUAGES if code != language],
    }
    with translation.override(language):
        response = render(request, "certificates/pds.html", context)
    response["Content-Language"] = language
    patch_cache_control(response, public=True, max_age=3600)
    return response
