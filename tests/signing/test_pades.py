"""The signer: every PAdES level validates with pyHanko against our root, revocation hard-fail."""

from __future__ import annotations

import hashlib
from io import BytesIO

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import (
    RevocationInfoValidationType,
    validate_pdf_ltv_signature,
    validate_pdf_signature,
)
from pyhanko.sign.validation.dss import DocumentSecurityStore

from certificates.models import AuthorityRole
from certificates.services import certificate_key_unlock, certificate_suspend
from core.errors import ApplicationError
from signing.pades import SignatureAppearance, documents_sign, hashes_sign
from signing.revinfo import trust_material
from signing.services import signature_sign_documents
from tests.conftest import run_coroutine
from tests.signing.conftest import PIN, active, authorize, key_algorithm_set, pdf_make

# Both key vaults; pyHanko's LTV validator warns about its own deprecations.
pytestmark = [pytest.mark.both_vaults, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _signature(data: bytes, index: int = 0):
    return PdfFileReader(BytesIO(data)).embedded_signatures[index]


def _validate_now(data: bytes, certificate) -> object:
    context = trust_material(certificates=[bytes(certificate.der)]).validation_context()
    return validate_pdf_signature(_signature(data), context, ts_validation_context=context)


def _validate_ltv(data: bytes, ca, kind: RevocationInfoValidationType) -> object:
    root = asn1_x509.Certificate.load(bytes(ca[AuthorityRole.ROOT].der))
    return validate_pdf_ltv_signature(
        _signature(data), kind, validation_context_kwargs={"trust_roots": [root]},
        bootstrap_validation_context=trust_material().validation_context(),
    )


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LT", "B-LTA"])
def test_every_level_validates_against_our_root_in_hard_fail_mode(world, ca, pdf, level):
    certificate = active(world.alpha.holder)
    key = certificate_key_unlock(certificate=certificate, pin=PIN)

    signed = documents_sign(private_key=key, certificate=certificate, documents=[pdf, pdf_make("altro")], level=level,
                            reason="Verbale d'esame", location="Modena")

    assert len(signed) == 2
    for data in signed:
        status = _validate_now(data, certificate)
        assert status.bottom_line, status.pretty_print_details()
        assert status.intact and status.valid and status.trusted and not status.revoked
        assert (status.timestamp_validity is not None) == (level != "B-B")
        assert _signature(data).sig_object["/Reason"] == "Verbale d'esame"
    reader = PdfFileReader(BytesIO(signed[0]))
    if level in ("B-LT", "B-LTA"):
        dss = DocumentSecurityStore.read_dss(reader)
        assert len(dss.ocsps) >= 2 and len(dss.crls) >= 1  # signer + TSA by OCSP, issuing CA by the root CRL
        kind = RevocationInfoValidationType.PADES_LTA if level == "B-LTA" else RevocationInfoValidationType.PADES_LT
        assert _validate_ltv(signed[0], ca, kind).bottom_line
    else:
        assert "/DSS" not in reader.root
    assert len(reader.embedded_timestamp_signatures) == (1 if level == "B-LTA" else 0)


def test_a_b_lt_signature_made_before_a_suspension_stays_valid_at_its_timestamp(world, ca, pdf):
    certificate = active(world.alpha.holder)
    key = certificate_key_unlock(certificate=certificate, pin=PIN)
    signed = documents_sign(private_key=key, certificate=certificate, documents=[pdf], level="B-LT")[0]

    certificate_suspend(certificate=certificate)

    # Today the certificate is on hold: a validation with current status says so …
    now = _validate_now(signed, certificate)
    assert now.revoked and not now.bottom_line
    # … and the signature, validated at its timestamp with the revocation data it carries, stands.
    assert _validate_ltv(signed, ca, RevocationInfoValidationType.PADES_LT).bottom_line


def test_visible_signature_and_certification(world, ca):
    certificate = active(world.alpha.holder)
    key = certificate_key_unlock(certificate=certificate, pin=PIN)
    document = pdf_make(pages=2)

    signed = documents_sign(
        private_key=key, certificate=certificate, documents=[document], certify=True,
        appearance=SignatureAppearance(page=-1, box=(50, 50, 300, 120)),
    )[0]

    signature = _signature(signed)
    widget = signature.sig_field["/Kids"][0] if "/Kids" in signature.sig_field else signature.sig_field
    assert [float(v) for v in widget["/Rect"]] == [50, 50, 300, 120]
    assert widget["/AP"]["/N"] is not None
    assert signature.docmdp_level is not None
    assert _validate_now(signed, certificate).bottom_line
    with pytest.raises(ApplicationError) as refused:  # certification only as the first signature
        documents_sign(private_key=key, certificate=certificate, documents=[signed], certify=True)
    assert refused.value.code == "invalid_request"


@pytest.mark.parametrize("data", [b"", b"not a pdf", b"%PDF-1.7\n" + b"\x00" * 200])
def test_garbage_is_refused_before_signing(signer, data):
    # The engine assumes the intake; the signing service puts every document through it first.
    activation, token = authorize(signer, num_signatures=2)
    with pytest.raises(ApplicationError) as refused:
        signature_sign_documents(sad_token=token, documents=[pdf_make(), data], certificate=signer.certificate)
    assert refused.value.code == "invalid_document"
    activation.refresh_from_db()
    assert activation.signatures_left == 2


@pytest.mark.parametrize("algorithm", ["rsa-2048", "ecdsa-p256"])
def test_hash_signatures_verify_with_the_certificate_key(world, ca, algorithm):
    holder = world.alpha.holder
    from certificates.services import certificate_activate, certificate_issue, certificate_request

    certificate = certificate_request(holder=holder)
    certificate.key_algorithm = algorithm
    certificate.save(update_fields=["key_algorithm"])
    certificate = certificate_activate(certificate=certificate_issue(certificate=certificate), pin=PIN,
                                       actor=holder.user)
    key = certificate_key_unlock(certificate=certificate, pin=PIN)
    digests = [hashlib.sha256(f"doc {i}".encode()).digest() for i in range(3)]

    signatures = hashes_sign(private_key=key, hashes=digests)

    public_key = x509.load_der_x509_certificate(bytes(certificate.der)).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey if algorithm == "rsa-2048" else ec.EllipticCurvePublicKey)
    for digest, signature in zip(digests, signatures, strict=True):
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        else:
            public_key.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def test_the_batch_cms_template_encodes_exactly_what_pyhanko_builds(world, ca):
    from pyhanko.sign.signers import Signer
    from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

    from signing.pades import signer_for

    # PKCS#1 v1.5 is deterministic: both encodings can be compared byte for byte.
    key_algorithm_set(world.alpha.organization, "rsa-2048")
    certificate = active(world.alpha.holder)
    signer = signer_for(private_key=certificate_key_unlock(certificate=certificate, pin=PIN), certificate=certificate)
    digest = hashlib.sha256(b"un verbale").digest()
    attributes = PdfCMSSignedAttributes()

    async def both() -> tuple[bytes, bytes]:
        templated = await signer.async_sign(digest, "sha256", use_pades=True, signed_attr_settings=attributes)
        # pyHanko's own path with the same key: PKCS#1 v1.5 is deterministic, so the bytes must agree.
        built = await Signer.async_sign(signer, digest, "sha256", use_pades=True, signed_attr_settings=attributes)
        return templated.dump(), built.dump()

    templated, built = run_coroutine(both())

    assert signer._templates["sha256"] is not None, "the template was refused: every document takes the slow path"
    assert templated == built
