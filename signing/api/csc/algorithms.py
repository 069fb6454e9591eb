"""CSC algorithm identifiers: the digests accepted (by OID, with their lengths), the signature
algorithms a credential offers by key type, and the PAdES conformance levels; the checks of the
algorithms a request names."""

from __future__ import annotations

import base64
import binascii

from asn1crypto import algos
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certificates.models import Certificate
from certificates.vault import key_signs_with_pss
from core.errors import ApplicationError
from signing.pades import HASH_LENGTHS

# Digest algorithms by OID, with the length their hashes must have (SHA-1 is not accepted).
DIGESTS = {
    "2.16.840.1.101.3.4.2.1": ("sha256", 32),
    "2.16.840.1.101.3.4.2.2": ("sha384", 48),
    "2.16.840.1.101.3.4.2.3": ("sha512", 64),
}
DIGEST_LENGTHS = {length for _name, length in DIGESTS.values()}
DIGEST_OIDS = list(DIGESTS)  # one enum in the schema (hashAlgo, hashAlgorithmOID): DigestAlgorithmOid
# Signature algorithms a credential offers, by key type: the bare key OID (digest given apart in
# hashAlgo) and the combined ones. An RSA key signs with PKCS#1 v1.5 or with RSASSA-PSS, as the key's
# policy says (``Certificate.key_algorithm``), never both: its certificate names rsaEncryption either way.
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
# RSASSA-PSS: the digest is given in hashAlgo and again in signAlgoParams (RSASSA-PSS-params).
RSASSA_PSS_OID = "1.2.840.113549.1.1.10"
PSS_SIGN_ALGOS: dict[str, str | None] = {RSASSA_PSS_OID: None}
EC_CURVE_OIDS = {"secp256r1": "1.2.840.10045.3.1.7", "secp384r1": "1.3.132.0.34"}
# CSC v2 conformance levels (PAdES) to the signer's level names.
CONFORMANCE_LEVELS = {"Ades-B-B": "B-B", "Ades-B-T": "B-T", "Ades-B-LT": "B-LT", "Ades-B-LTA": "B-LTA"}

SHA256_OID, SHA256_WITH_RSA_OID = "2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.11"


def invalid_request(description: str) -> ApplicationError:
    """A CSC ``invalid_request`` with its description (the parameter at fault)."""
    return ApplicationError("invalid_request", description)


def sign_algos(cert: x509.Certificate, key_algorithm: str = "") -> dict[str, str | None]:
    """The signature algorithms of a credential: by the type of its public key, and for an RSA key
    by its policy (``key_algorithm``, as stored with the certificate)."""
    public_key = cert.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        return PSS_SIGN_ALGOS if key_signs_with_pss(key_algorithm) else RSA_SIGN_ALGOS
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return EC_SIGN_ALGOS
    return {}


def hash_algorithm(hashes: list[bytes]) -> str:
    by_length = {length: name for name, length in HASH_LENGTHS.items()}
    lengths = {len(h) for h in hashes}
    if len(lengths) != 1 or next(iter(lengths)) not in by_length:
        raise invalid_request("Invalid parameter hash: all hashes must be SHA-256, SHA-384 or SHA-512 digests")
    return by_length[lengths.pop()]


def algorithms_check(certificate: Certificate, sign_algo: str, hash_algo: str | None, hashes: list[bytes]) -> None:
    offered = sign_algos(x509.load_der_x509_certificate(certificate.issued_der), certificate.key_algorithm)
    if sign_algo not in offered:
        raise invalid_request("Invalid parameter signAlgo")
    implied = offered[sign_algo]
    if hash_algo is None:
        hash_algo = implied
        if hash_algo is None:
            raise invalid_request("Missing parameter hashAlgo")
    if hash_algo not in DIGESTS or (implied is not None and implied != hash_algo):
        raise invalid_request("Invalid parameter hashAlgo")
    length = DIGESTS[hash_algo][1]
    if any(len(h) != length for h in hashes):
        raise invalid_request("Invalid parameter hash: length does not match hashAlgo")


def _pss_params_digest(params_b64: str) -> str | None:
    """The digest of base64 DER RSASSA-PSS-params (RFC 4055) that we sign with: SHA-256/384/512, MGF1
    with the same digest, a salt as long as the digest, the trailer 0xBC; otherwise None."""
    try:
        params = algos.RSASSAPSSParams.load(base64.b64decode(params_b64, validate=True), strict=True)
        digest = params["hash_algorithm"]["algorithm"].native
        mask = params["mask_gen_algorithm"]
        salt = params["salt_length"].native
        trailer = params["trailer_field"].native
        mask_digest = mask["parameters"]["algorithm"].native if mask["algorithm"].native == "mgf1" else None
    except (ValueError, TypeError, KeyError, binascii.Error):
        return None
    if digest not in HASH_LENGTHS or mask_digest != digest or salt != HASH_LENGTHS[digest]:
        return None
    return digest if trailer == "trailer_field_bc" else None


def sign_algo_params_check(certificate: Certificate, sign_algo: str, params_b64: str | None, digest: str) -> None:
    """``signAlgoParams`` against the algorithm and the hashes' digest (named as in
    :data:`signing.pades.HASH_LENGTHS`): RSASSA-PSS needs parameters that are exactly how the
    credential signs (salt = digest length, MGF1 with the digest of the hashes); no other algorithm
    takes any. ``algorithms_check`` has already accepted ``sign_algo`` for ``certificate``."""
    if sign_algo == RSASSA_PSS_OID and key_signs_with_pss(certificate.key_algorithm):
        if not params_b64 or _pss_params_digest(params_b64) != digest:
            raise invalid_request("Invalid parameter signAlgoParams")
    elif params_b64:
        raise invalid_request("Invalid parameter signAlgoParams")
