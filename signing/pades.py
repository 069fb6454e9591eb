"""The signer: PAdES baseline B-B, B-T, B-LT, B-LTA with a key already open in memory.

Why not ``SimpleSigner``: it keeps a PKCS#8 blob and re-parses it on every signature; here the key
object comes out of the vault once per activation and :class:`EngineSigner` signs with it directly,
so a batch costs the PDF work plus one private-key operation per document.

Per batch, once: the certificate chain, the time-stamper (the internal TSA, in process, unless
``SIGNING_TSA_URL`` is set), what B-LT's revocation data shares (our authorities and the root CRL:
:mod:`signing.revinfo`) and the space reserved for the CMS container (one dry run). Per document:
parse, sign, timestamp, then — B-LT and above — OCSP answers made after that timestamp, and the DSS.

Django refuses database access inside pyHanko's event loop, and the OCSP responder reads the
database. B-B and B-T run a whole chunk of documents in one loop; B-LT and B-LTA run each document
in two steps (up to the signature with its timestamp, then the DSS and, for B-LTA, the document
timestamp) and make the document's OCSP answers between them, outside the loop.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from django.utils.translation import gettext_lazy as _
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.signers.pdf_signer import PdfPostSignatureDocument
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from certificates.models import Certificate
from certificates.vault import PrivateKey, key_signs_with_pss
from core.errors import ApplicationError
from signing import der
from signing.loops import coroutine_run
from signing.pdf_input import pdf_reader
from signing.revinfo import RevocationSource, revocation_source
from signing.tsa import timestamper_get

logger = logging.getLogger(__name__)


class Level(enum.StrEnum):
    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"


LEVEL_ORDER = (Level.B_B, Level.B_T, Level.B_LT, Level.B_LTA)

# SHA-256 digest lengths the hash-level API accepts, per algorithm.
HASH_LENGTHS = {"sha256": 32, "sha384": 48, "sha512": 64}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}

DEFAULT_STAMP_TEXT = "Firmato digitalmente da / Digitally signed by\n%(signer)s\n%(ts)s"


@dataclass(frozen=True)
class SignatureAppearance:
    """A visible signature: the page (0-based; negative counts from the end), the box in PDF points
    (x1, y1, x2, y2 from the bottom left) and the text (``%(signer)s`` and ``%(ts)s`` are filled in)."""

    page: int = 0
    box: tuple[int, int, int, int] = (36, 36, 286, 106)
    text: str = DEFAULT_STAMP_TEXT


@dataclass(frozen=True)
class SignatureOptions:
    level: Level = Level.B_B
    appearance: SignatureAppearance | None = None
    reason: str = ""
    location: str = ""
    contact: str = ""
    # Certification (DocMDP) signature: only as the document's first signature.
    certify: bool = False
    docmdp: fields.MDPPerm = fields.MDPPerm.FILL_FORMS


def level_parse(value: str | Level) -> Level:
    try:
        return Level(str(value).upper())
    except ValueError as exc:
        raise ApplicationError(
            "invalid_request", _("Unknown signature level: use B-B, B-T, B-LT or B-LTA.")
        ) from exc


# --- The signer --------------------------------------------------------------------------------------


def pss_padding(digest_algorithm: str) -> padding.PSS:
    """RSASSA-PSS as our PSS keys sign: MGF1 with the message digest, a salt as long as the digest
    (ETSI TS 119 312; what CSC clients and pyHanko send as RSASSA-PSS-params)."""
    algorithm = _HASHES[digest_algorithm]()
    return padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)


def pss_mechanism(digest_algorithm: str) -> algos.SignedDigestAlgorithm:
    """The CMS signatureAlgorithm of :func:`pss_padding`: rsassa_pss with its RSASSA-PSS-params."""
    digest = algos.DigestAlgorithm({"algorithm": digest_algorithm})
    return algos.SignedDigestAlgorithm({
        "algorithm": "rsassa_pss",
        "parameters": algos.RSASSAPSSParams({
            "hash_algorithm": digest,
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": digest},
            "salt_length": _HASHES[digest_algorithm]().digest_size,
            "trailer_field": "trailer_field_bc",
        }),
    })


def raw_sign(private_key: PrivateKey, data: bytes, digest_algorithm: str = "sha256", *, pss: bool = False) -> bytes:
    """RSA PKCS#1 v1.5, RSASSA-PSS (``pss``: the key's policy) or ECDSA (DER) over ``data`` hashed
    with ``digest_algorithm``."""
    algorithm = _HASHES[digest_algorithm]()
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, pss_padding(digest_algorithm) if pss else padding.PKCS1v15(), algorithm)
    return private_key.sign(data, ec.ECDSA(algorithm))


def digest_sign(
    private_key: PrivateKey, digest: bytes, digest_algorithm: str = "sha256", *, pss: bool = False
) -> bytes:
    """The same over a digest computed by the caller (CSC signHash)."""
    prehashed = utils.Prehashed(_HASHES[digest_algorithm]())
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(digest, pss_padding(digest_algorithm) if pss else padding.PKCS1v15(), prehashed)
    return private_key.sign(digest, ec.ECDSA(prehashed))


@dataclass(frozen=True)
class CmsTemplate:
    """The CMS ``SignedData`` of every document of a batch, encoded once (see :mod:`signing.der`).

    For a PAdES signature with one key, the only parts that change from one document to the next
    are the message digest inside the signed attributes, the signature over those attributes and
    the signature timestamp (an unsigned attribute). Everything else — certificates, signer
    identifier, algorithms, the other signed attributes (PAdES has no signing-time attribute) — is
    kept here as DER.
    """

    attributes_head: bytes  # the signed attributes as a DER SET, up to the message digest's value
    attributes_tail: bytes  # … after it
    signer_info_head: bytes  # version, sid, digestAlgorithm
    signature_algorithm: bytes
    signed_data_head: bytes  # version, digestAlgorithms, encapContentInfo, [0] certificates
    content_type: bytes  # the OID of signedData

    def signed_attributes(self, digest: bytes) -> bytes:
        """The DER SET of signed attributes over ``digest``: what the signature covers."""
        return self.attributes_head + digest + self.attributes_tail

    def content_info(self, signed_attributes: bytes, signature: bytes, unsigned_attributes: bytes = b"") -> bytes:
        """The DER ``ContentInfo`` with one ``SignerInfo``; ``unsigned_attributes`` is the content of
        its ``[1]`` field (attributes already encoded), absent when empty."""
        signer_info = der.tlv(der.SEQUENCE, b"".join((
            self.signer_info_head,
            bytes([der.CONTEXT_0]) + signed_attributes[1:],  # [0] IMPLICIT SET: same length, other tag
            self.signature_algorithm,
            der.tlv(der.OCTET_STRING, signature),
            der.tlv(der.CONTEXT_1, unsigned_attributes) if unsigned_attributes else b"",
        )))
        signed_data = der.tlv(der.SEQUENCE, self.signed_data_head + der.tlv(der.SET, signer_info))
        return der.tlv(der.SEQUENCE, self.content_type + der.tlv(der.CONTEXT_0, signed_data))


_SIGNATURE_TIMESTAMP_TYPE = cms.CMSAttributeType("signature_time_stamp_token").dump()


def timestamp_attribute(token: bytes) -> bytes:
    """The ``signature-time-stamp-token`` unsigned attribute carrying the DER ``token``."""
    return der.tlv(der.SEQUENCE, _SIGNATURE_TIMESTAMP_TYPE + der.tlv(der.SET, token))


class EngineSigner(signers.Signer):
    """A pyHanko signer over a private key object already open in memory.

    PAdES signatures of a batch go through a :class:`CmsTemplate` built on the first document from
    pyHanko's own attributes and packaging, and checked there against pyHanko's encoding; anything
    else (dry runs, CMS for other content, a template that would differ) takes pyHanko's path.
    """

    def __init__(
        self, *, private_key: PrivateKey, certificate: asn1_x509.Certificate, chain: Sequence[asn1_x509.Certificate],
        pss: bool = False,
    ) -> None:
        # With ``pss`` (an RSA key whose policy is RSASSA-PSS) the mechanism follows the digest of
        # each signature: :meth:`get_signature_mechanism_for_digest`.
        self._pss = pss and isinstance(private_key, rsa.RSAPrivateKey)
        mechanism = None
        if isinstance(private_key, rsa.RSAPrivateKey) and not self._pss:
            mechanism = algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"})
        super().__init__(
            signing_cert=certificate,
            cert_registry=SimpleCertificateStore.from_certs(list(chain)),
            signature_mechanism=mechanism,
            embed_roots=False,
        )
        self._private_key = private_key
        if isinstance(private_key, rsa.RSAPrivateKey):
            self._dummy = bytes(private_key.key_size // 8)
        else:
            # The longest DER ECDSA signature for the curve: SEQUENCE of two INTEGERs with a sign byte.
            size = (private_key.curve.key_size + 7) // 8 + 1
            self._dummy = bytes([0x30, 2 * (size + 2), 0x02, size, *bytes(size), 0x02, size, *bytes(size)])
        # Per digest algorithm: the template, or None when it did not reproduce pyHanko's encoding.
        self._templates: dict[str, CmsTemplate | None] = {}

    def get_signature_mechanism_for_digest(self, digest_algorithm: str | None) -> algos.SignedDigestAlgorithm:
        if self._pss:
            return pss_mechanism((digest_algorithm or "sha256").lower())
        return super().get_signature_mechanism_for_digest(digest_algorithm)

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if dry_run:
            return self._dummy
        return raw_sign(self._private_key, data, digest_algorithm, pss=self._pss)

    async def async_sign(  # noqa: PLR0913  (pyHanko's signature)
        self,
        data_digest: bytes,
        digest_algorithm: str,
        dry_run: bool = False,
        use_pades: bool = False,
        timestamper: TimeStamper | None = None,
        signed_attr_settings: PdfCMSSignedAttributes | None = None,
        is_pdf_sig: bool = True,
        encap_content_info: object = None,
    ) -> cms.ContentInfo:
        settings = signed_attr_settings or PdfCMSSignedAttributes()
        templated = (
            use_pades and is_pdf_sig and not dry_run and encap_content_info is None and not self.attribute_certs
            and self.signed_attr_prov_spec is None and self.unsigned_attr_prov_spec is None
            and settings.cades_signed_attrs is None and settings.adobe_revinfo_attr is None
        )
        template = await self._template(digest_algorithm.lower(), settings, timestamper) if templated else None
        if template is None:
            return await super().async_sign(
                data_digest, digest_algorithm, dry_run=dry_run, use_pades=use_pades, timestamper=timestamper,
                signed_attr_settings=signed_attr_settings, is_pdf_sig=is_pdf_sig,
                encap_content_info=encap_content_info,
            )
        digest_algorithm = digest_algorithm.lower()
        signed_attributes = template.signed_attributes(data_digest)
        signature = raw_sign(self._private_key, signed_attributes, digest_algorithm, pss=self._pss)
        unsigned = b""
        if timestamper is not None:
            imprint = hashes.Hash(_HASHES[digest_algorithm]())
            imprint.update(signature)
            token = await timestamper.async_timestamp(imprint.finalize(), digest_algorithm)
            unsigned = timestamp_attribute(token.dump())
        # Loaded, not built: asn1crypto hands these very bytes back when pyHanko dumps it.
        return cms.ContentInfo.load(template.content_info(signed_attributes, signature, unsigned))

    async def _template(
        self, digest_algorithm: str, settings: PdfCMSSignedAttributes, timestamper: TimeStamper | None
    ) -> CmsTemplate | None:
        if digest_algorithm in self._templates:
            return self._templates[digest_algorithm]
        template = await self._template_build(digest_algorithm, settings, timestamper)
        self._templates[digest_algorithm] = template
        return template

    async def _template_build(
        self, digest_algorithm: str, settings: PdfCMSSignedAttributes, timestamper: TimeStamper | None
    ) -> CmsTemplate | None:
        """Encode pyHanko's attributes and packaging once with a random digest and signature, cut
        them into the template's pieces, and keep the template only if it reassembles to exactly
        pyHanko's encoding of the same values."""
        if digest_algorithm not in _HASHES:
            return None
        sentinel = os.urandom(_HASHES[digest_algorithm]().digest_size)
        attributes = await self.signed_attrs(
            sentinel, digest_algorithm, attr_settings=settings, use_pades=True, timestamper=timestamper,
        )
        encoded = attributes.dump()
        if encoded.count(sentinel) != 1:
            logger.warning("signed attributes without a single message digest: no CMS template")
            return None
        head, tail = encoded.split(sentinel)
        signature = os.urandom(len(self._dummy))
        reference = self._package_signature(
            digest_algorithm=digest_algorithm, cms_version="v1", signed_attrs=attributes, signature=signature,
            unsigned_attrs=None, encap_content_info=None,
        )
        signed_data = reference["content"]
        signer_info = signed_data["signer_infos"][0]
        template = CmsTemplate(
            attributes_head=head,
            attributes_tail=tail,
            signer_info_head=b"".join(signer_info[k].dump() for k in ("version", "sid", "digest_algorithm")),
            signature_algorithm=signer_info["signature_algorithm"].dump(),
            signed_data_head=b"".join(
                signed_data[k].dump() for k in ("version", "digest_algorithms", "encap_content_info", "certificates")
            ),
            content_type=reference["content_type"].dump(),
        )
        if template.content_info(encoded, signature) != reference.dump():
            logger.warning("the CMS template does not reproduce pyHanko's encoding: signing without it")
            return None
        return template

    def forget_key(self) -> None:
        self._private_key = None  # type: ignore[assignment]  # dropped after the batch: unusable from here


# --- Documents ---------------------------------------------------------------------------------------


def _has_signatures(reader: PdfFileReader) -> bool:
    return bool(reader.embedded_signatures) or bool(reader.embedded_timestamp_signatures)


def signature_timestamp_time(signature_cms: bytes) -> datetime | None:
    """The time (genTime) of the signature timestamp a DER CMS ``SignedData`` carries, if it has one
    (trailing padding, as a PDF reserves it, is ignored)."""
    signer_info = cms.ContentInfo.load(signature_cms)["content"]["signer_infos"][0]
    unsigned = signer_info["unsigned_attrs"]
    if isinstance(unsigned, core.Void):
        return None
    for attribute in unsigned:
        if attribute["type"].native == "signature_time_stamp_token":
            tst_info = attribute["values"][0]["content"]["encap_content_info"]["content"].parsed
            gen_time: datetime = tst_info["gen_time"].native
            return gen_time
    return None


@dataclass
class _Batch:
    signer: EngineSigner
    options: SignatureOptions
    timestamper: TimeStamper | None
    # B-LT and above: what every document's revocation data shares, and the context of pyHanko's
    # check before each signature (chain and status of the signer and of the TSA, as of the start of
    # the batch: a context's time is fixed when it is made, so a long batch does not outlive it). The
    # check yields the certificate paths the DSS embeds; its OCSP answers are not embedded.
    revocation: RevocationSource | None = None
    validation_context: ValidationContext | None = None
    bytes_reserved: int = 0

    @property
    def long_term(self) -> bool:
        return self.options.level in (Level.B_LT, Level.B_LTA)

    async def estimate(self) -> None:
        """Space for the CMS container, once: a dry run with the real certificates and a real timestamp.

        Hex-encoded in the file (×2), plus a margin for what varies between documents (DER integer
        lengths of the ECDSA signature and of the timestamp's serial, an external TSA's answers)."""
        test = await self.signer.async_sign(
            hashlib.sha256(b"").digest(),
            "sha256",
            dry_run=True,
            use_pades=True,
            timestamper=self.timestamper,
            signed_attr_settings=PdfCMSSignedAttributes(signing_time=datetime.now(tz=UTC)),
        )
        size = len(test.dump()) * 2
        self.bytes_reserved = size + 2 * (size // 8) + 512  # even, as pyHanko requires

    def pdf_signer(self, reader: PdfFileReader) -> signers.PdfSigner:
        options = self.options
        level = options.level
        if options.certify and _has_signatures(reader):
            raise ApplicationError(
                "invalid_request", _("A certification signature must be the first signature of the document.")
            )
        field_name = f"Firma-{uuid.uuid4().hex[:12]}"
        meta = signers.PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=options.reason or None,
            location=options.location or None,
            contact_info=options.contact or None,
            certify=options.certify,
            docmdp_permissions=options.docmdp,
            embed_validation_info=self.long_term,
            use_pades_lta=level == Level.B_LTA,
            validation_context=self.validation_context if self.long_term else None,
        )
        appearance = options.appearance
        if appearance is None:
            field_spec = fields.SigFieldSpec(sig_field_name=field_name)
            style = None
        else:
            pages = int(reader.root["/Pages"]["/Count"])
            page = appearance.page if appearance.page >= 0 else pages + appearance.page
            if not 0 <= page < pages:
                raise ApplicationError("invalid_request", _("The page of the visible signature does not exist."))
            field_spec = fields.SigFieldSpec(sig_field_name=field_name, on_page=page, box=appearance.box)
            style = TextStampStyle(stamp_text=appearance.text, border_width=1)
        return signers.PdfSigner(
            meta, signer=self.signer, timestamper=self.timestamper, stamp_style=style, new_field_spec=field_spec
        )

    async def sign(self, data: bytes) -> bytes:
        """B-B and B-T: the whole document in one go."""
        writer = IncrementalPdfFileWriter(BytesIO(data), prev=pdf_reader(data), strict=False)
        pdf_signer = self.pdf_signer(writer.prev)
        output = await pdf_signer.async_sign_pdf(writer, bytes_reserved=self.bytes_reserved, output=BytesIO())
        return output.getvalue()

    async def signed_without_dss(self, data: bytes) -> tuple[PdfPostSignatureDocument, BytesIO]:
        """B-LT and above, first step: pyHanko's ``async_sign_pdf`` up to the signature and its
        timestamp. What the check before signing collected is not embedded: the DSS gets the
        answers made after the timestamp (:meth:`finish`)."""
        writer = IncrementalPdfFileWriter(BytesIO(data), prev=pdf_reader(data), strict=False)
        pdf_signer = self.pdf_signer(writer.prev)
        session = pdf_signer.init_signing_session(writer)
        validation_info = await session.perform_presign_validation(writer)
        if validation_info is not None:
            validation_info = dataclasses.replace(validation_info, ocsps_to_embed=[], crls_to_embed=[])
        tbs_document = session.prepare_tbs_document(
            validation_info=validation_info, bytes_reserved=self.bytes_reserved
        )
        prepared, output = tbs_document.digest_tbs_document(output=BytesIO())
        signed = await tbs_document.perform_signature(
            document_digest=prepared.document_digest,
            pdf_cms_signed_attrs=PdfCMSSignedAttributes(
                signing_time=session.system_time,
                adobe_revinfo_attr=None if validation_info is None else validation_info.adobe_revinfo_attr,
                cades_signed_attrs=pdf_signer.signature_meta.cades_signed_attr_spec,
            ),
        )
        assert isinstance(output, BytesIO)  # noqa: S101  (a BytesIO was given: pyHanko writes into it)
        return signed, output

    def revocation_after(self, signed: PdfPostSignatureDocument) -> ValidationContext:
        """B-LT and above, between the steps, outside the loop: OCSP answers made after the
        document's signature timestamp (now, when it has none)."""
        assert self.revocation is not None  # noqa: S101  (set for every long-term level)
        signed_at = signature_timestamp_time(bytes(signed.sig_contents))
        return self.revocation.material(not_before=signed_at).validation_context()

    @staticmethod
    async def finish(signed: PdfPostSignatureDocument, output: BytesIO, context: ValidationContext) -> bytes:
        """B-LT and above, second step: the DSS with ``context``'s revocation data (and, for B-LTA,
        the document timestamp over it)."""
        signed.validation_context = context
        await signed.post_signature_processing(output)
        return output.getvalue()


def signer_for(*, private_key: PrivateKey, certificate: Certificate) -> EngineSigner:
    issuer = certificate.issuer
    chain = [asn1_x509.Certificate.load(bytes(issuer.der))] if issuer is not None else []
    return EngineSigner(
        private_key=private_key, certificate=asn1_x509.Certificate.load(certificate.issued_der), chain=chain,
        pss=key_signs_with_pss(certificate.key_algorithm),
    )


class PadesBatch:
    """One batch of PAdES signatures with one open key: what is the same for every document (chain,
    time-stamper, our authorities and root CRL, reserved size, CMS template) is prepared once; the
    OCSP answers of B-LT and above are made for each document, after its signature timestamp.
    :meth:`sign` may be called for successive chunks (a job reports progress between them, outside
    pyHanko's event loop, where the database can be written).

    No authorization is checked here: this is the engine under :mod:`signing.services.signatures`,
    which is the only caller that may hold a holder's key. Use it as a context manager: the key
    reference is dropped on exit.
    """

    def __init__(
        self,
        *,
        private_key: PrivateKey,
        certificate: Certificate,
        level: Level | str = Level.B_B,
        appearance: SignatureAppearance | None = None,
        reason: str = "",
        location: str = "",
        contact: str = "",
        certify: bool = False,
        docmdp: fields.MDPPerm = fields.MDPPerm.FILL_FORMS,
    ) -> None:
        options = SignatureOptions(
            level=level_parse(level), appearance=appearance, reason=reason[:200], location=location[:200],
            contact=contact[:200], certify=certify, docmdp=docmdp,
        )
        revocation = None
        validation_context = None
        if options.level in (Level.B_LT, Level.B_LTA):
            revocation = revocation_source(certificates=[certificate.issued_der])
            validation_context = revocation.material().validation_context()
        self._batch = _Batch(
            signer=signer_for(private_key=private_key, certificate=certificate),
            options=options,
            timestamper=timestamper_get() if options.level != Level.B_B else None,
            revocation=revocation,
            validation_context=validation_context,
        )

    def sign_each(self, documents: Sequence[bytes]) -> list[bytes | Exception]:
        """The signed PDFs, in order; in the place of a document that could not be signed, the
        exception that stopped it (returned, not raised: one document's failure is not the batch's).
        With ``certify`` every document gets a certification signature (each is a document of its
        own: it must not be signed yet).

        The documents must have passed the intake (:mod:`signing.pdf_input`: the callers check them
        all before they spend an authorization; parsing each twice more here was a fifth of the
        signing time)."""
        batch = self._batch
        if not batch.bytes_reserved:
            coroutine_run(batch.estimate())
        if batch.long_term:
            return [self._long_term_signed(bytes(data)) for data in documents]

        async def run() -> list[bytes | Exception]:
            results: list[bytes | Exception] = []
            for data in documents:
                try:
                    results.append(await batch.sign(bytes(data)))
                except Exception as exc:  # noqa: BLE001 — reported in the document's place, by the caller
                    results.append(exc)
            return results

        return coroutine_run(run())

    def _long_term_signed(self, data: bytes) -> bytes | Exception:
        batch = self._batch
        try:
            signed, output = coroutine_run(batch.signed_without_dss(data))
            context = batch.revocation_after(signed)
            return coroutine_run(batch.finish(signed, output, context))
        except Exception as exc:  # noqa: BLE001 — reported in the document's place, by the caller
            return exc

    def sign(self, documents: Sequence[bytes]) -> list[bytes]:
        """The signed PDFs, in order, or the first document's failure raised."""
        signed: list[bytes] = []
        for result in self.sign_each(documents):
            if isinstance(result, Exception):
                raise result
            signed.append(result)
        return signed

    def close(self) -> None:
        self._batch.signer.forget_key()

    def __enter__(self) -> PadesBatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def documents_sign(*, private_key: PrivateKey, certificate: Certificate, documents: Sequence[bytes],
                   **options: object) -> list[bytes]:
    """Sign every document with the open key of ``certificate`` in one :class:`PadesBatch`; the
    signed PDFs, in order (``options``: those of :class:`PadesBatch`). The documents must have
    passed the intake (:mod:`signing.pdf_input`)."""
    # ``options`` holds PadesBatch keywords of several types; the dict cannot say which is which.
    with PadesBatch(private_key=private_key, certificate=certificate, **options) as batch:  # type: ignore[arg-type]
        return batch.sign(documents)


def hashes_sign(
    *, private_key: PrivateKey, hashes: Sequence[bytes], hash_algorithm: str = "sha256", pss: bool = False
) -> list[bytes]:
    """Raw signatures over digests (CSC signHash), in order: RSA PKCS#1 v1.5, RSASSA-PSS (``pss``: the
    key's policy, :func:`certificates.vault.key_signs_with_pss`) or ECDSA (DER)."""
    if hash_algorithm not in HASH_LENGTHS:
        raise ApplicationError("invalid_request", _("Unsupported hash algorithm."))
    length = HASH_LENGTHS[hash_algorithm]
    if any(len(h) != length for h in hashes):
        raise ApplicationError("invalid_request", _("A hash has the wrong length for its algorithm."))
    return [digest_sign(private_key, bytes(h), hash_algorithm, pss=pss) for h in hashes]



def digests_cms_sign(
    *, private_key: PrivateKey, certificate: Certificate, digests: Sequence[bytes], digest_algorithm: str = "sha256",
    level: Level | str = Level.B_B,
) -> list[bytes]:
    """PAdES signatures over document digests computed by the caller (CSC signDoc ``documentDigests``):
    for each digest of a PDF's signed byte ranges, the DER CMS ``SignedData`` its client embeds in
    the signature field's ``/Contents`` — exactly what :class:`PadesBatch` embeds itself. From B-T a
    signature timestamp; B-LT and B-LTA cannot be finished here (the revocation data goes in the
    document's DSS, which only the client writes): their CMS is B-T, and the caller hands the
    validation data over beside it."""
    if digest_algorithm not in HASH_LENGTHS:
        raise ApplicationError("invalid_request", _("Unsupported hash algorithm."))
    if any(len(d) != HASH_LENGTHS[digest_algorithm] for d in digests):
        raise ApplicationError("invalid_request", _("A hash has the wrong length for its algorithm."))
    signer = signer_for(private_key=private_key, certificate=certificate)
    timestamper = timestamper_get() if level_parse(level) != Level.B_B else None

    async def run() -> list[bytes]:
        signed = []
        for digest in digests:
            content = await signer.async_sign(bytes(digest), digest_algorithm, use_pades=True, timestamper=timestamper)
            signed.append(content.dump())
        return signed

    try:
        return coroutine_run(run())
    finally:
        signer.forget_key()
