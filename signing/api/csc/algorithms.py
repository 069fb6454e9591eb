"""CSC algorithm identifiers: the digests accepted (by OID, with their lengths), the signature
algorithms a credential offers by key type, and the PAdES conformance levels; the checks of the
algorithms a request names."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certificates.models import Certificate
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

SHA256_OID, SHA256_WITH_RSA_OID = "2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.11"


def invalid_request(description: str) -> ApplicationError:
    """A CSC ``invalid_request`` with its description (the parameter at fault)."""
    return ApplicationError("invalid_request", description)


def sign_algos(cert: x509.Certificate) -> dict[str, str | None]:
    public_key = cert.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        return RSA_SIGN_ALGOS
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
    offered = sign_algos(x509.load_der_x509_certificate(certificate.issued_der))
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
