"""Signing tests: the CA of the certificate tests, a tiny PDF made in process, holders with an
active certificate and an OTP device, API clients and their tokens."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from io import BytesIO

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from django.test import Client
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from accounts.models import ApiClient, Holder, Organization
from accounts.services.api_clients import api_client_create
from certificates.models import Certificate
from otp.models import DeviceKind, OtpDevice
from otp.oath import hotp
from otp.services import device_create
from signing.models import Channel, SignatureActivation
from signing.services import signature_authorize
from tests.certificates.conftest import (  # noqa: F401  (fixtures re-exported for this package)
    PIN,
    active,
    ca,
    ca_hierarchy,
    english_messages,
    live_ca,
)


def pdf_make(text: str = "Verbale d'esame n. 1", pages: int = 1) -> bytes:
    """A small valid PDF: one Helvetica line per page."""
    writer = PdfFileWriter()
    font = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Font"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
            generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
        }
    )
    resources = generic.DictionaryObject(
        {generic.pdf_name("/Font"): generic.DictionaryObject({generic.pdf_name("/F1"): writer.add_object(font)})}
    )
    for number in range(pages):
        body = f"BT /F1 14 Tf 72 720 Td ({text} - {number + 1}) Tj ET".encode()
        stream = writer.add_object(generic.StreamObject(stream_data=body))
        writer.insert_page(PageObject(contents=stream, media_box=(0, 0, 595, 842), resources=resources))
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture
def pdf() -> bytes:
    return pdf_make()


HOTP_SEED = b"12345678901234567890"


@dataclass
class Signer:
    """An alpha holder ready to sign: an active certificate (PIN ``PIN``) and an HOTP token."""

    holder: Holder
    certificate: Certificate
    device: OtpDevice
    counter: int = 0

    def otp(self) -> str:
        code = hotp(HOTP_SEED, self.counter)
        self.counter += 1
        return code


@pytest.fixture
def signer(world, ca) -> Signer:  # noqa: ANN001, F811
    holder = world.alpha.holder
    certificate = active(holder)
    device = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=HOTP_SEED, holder=holder, serial="4000000000001")
    return Signer(holder=holder, certificate=certificate, device=device)


# --- Key algorithms ----------------------------------------------------------------------------------

# The combined SHA-256 signature algorithm (CSC signAlgo) of each key algorithm; RSASSA-PSS names its
# digest in signAlgoParams instead (tests/signing/test_pss.py).
SHA256_SIGN_ALGOS = {"ecdsa-p256": "1.2.840.10045.4.3.2", "rsa-2048": "1.2.840.113549.1.1.11"}


def sha256_sign_algo(certificate: Certificate) -> str:
    """The CSC ``signAlgo`` for SHA-256 signatures with the key of ``certificate``."""
    return SHA256_SIGN_ALGOS[certificate.key_algorithm]


def hash_signature_verify(certificate: Certificate, digest: bytes, signature: bytes) -> None:
    """Check a raw signature over a SHA-256 ``digest`` with the certificate's public key, in the
    scheme of its key algorithm; raises ``InvalidSignature``."""
    prehashed = utils.Prehashed(hashes.SHA256())
    public_key = x509.load_der_x509_certificate(bytes(certificate.der)).public_key()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, digest, ec.ECDSA(prehashed))
    elif isinstance(public_key, rsa.RSAPublicKey) and certificate.key_algorithm == "rsa-2048":
        public_key.verify(signature, digest, padding.PKCS1v15(), prehashed)
    else:
        raise AssertionError(f"no verifier for {certificate.key_algorithm}")


def key_algorithm_set(organization: Organization, algorithm: str) -> None:
    """Certificates requested from now on get keys of ``algorithm`` (a ``KeyAlgorithm`` value)."""
    organization.key_algorithm = algorithm
    organization.save(update_fields=["key_algorithm"])


def authorize(signer: Signer, **kwargs: object) -> tuple[SignatureActivation, str]:
    values: dict[str, object] = {
        "holder": signer.holder, "certificate": signer.certificate, "pin": PIN, "otp_device": signer.device,
        "channel": Channel.PANEL,
    }
    values.update(kwargs)
    if "otp_code" not in values:
        values["otp_code"] = signer.otp()
    if "hashes" not in values and "num_signatures" not in values:
        values["num_signatures"] = 1
    return signature_authorize(**values)  # type: ignore[arg-type]


# --- API clients -------------------------------------------------------------------------------------


def api_client_for(tenant, *, scopes=("csc",), name="Exam records") -> tuple[ApiClient, str]:
    return api_client_create(actor=tenant.admin.user, name=name, scopes=list(scopes))


def token_for(client: Client, api_client: ApiClient, secret: str, **extra) -> dict:
    basic = base64.b64encode(f"{api_client.application.client_id}:{secret}".encode()).decode()
    response = client.post(
        "/oauth2/token", {"grant_type": "client_credentials", **extra}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def alpha_api(world) -> tuple[ApiClient, str]:
    return api_client_for(world.alpha)


@pytest.fixture
def alpha_token(client, alpha_api) -> str:
    return token_for(client, *alpha_api)["access_token"]


def csc_post(client: Client, path: str, body=None, token: str | None = None, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, str | bytes) else json.dumps(body or {})
    return client.post(path, data=data, content_type=extra.pop("content_type", "application/json"), **headers, **extra)
