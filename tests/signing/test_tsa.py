"""The internal TSA over HTTP, as OpenSSL sees it; garbage gets a rejection, never a 500."""

from __future__ import annotations

import os
import urllib.request

import pytest
from asn1crypto import tsp
from django.conf import settings

from certificates.models import AuthorityRole
from signing.tsa import TimeStampResponse
from tests.certificates.conftest import openssl, write_pem

pytestmark = pytest.mark.both_vaults

QUERY = "application/timestamp-query"


def _post(url: str, body: bytes) -> tuple[str, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": QUERY}, method="POST")  # noqa: S310
    with urllib.request.urlopen(request) as response:  # noqa: S310
        return response.headers["Content-Type"], response.read()


@pytest.mark.django_db(transaction=True)
def test_openssl_query_is_answered_and_verifies_with_our_chain(live_ca, live_server, tmp_path):
    data = tmp_path / "verbale.txt"
    data.write_bytes(b"Verbale d'esame 42")
    query = tmp_path / "q.tsq"
    made = openssl("ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(query))
    assert made.returncode == 0, made.stderr

    content_type, reply = _post(f"{live_server.url}/tsa/", query.read_bytes())

    assert content_type == "application/timestamp-reply"
    (tmp_path / "r.tsr").write_bytes(reply)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(
        write_pem(tmp_path / "root.pem", live_ca[AuthorityRole.ROOT].der).read_bytes()
        + write_pem(tmp_path / "issuing.pem", live_ca[AuthorityRole.ISSUING].der).read_bytes()
    )
    verified = openssl("ts", "-verify", "-data", str(data), "-in", str(tmp_path / "r.tsr"), "-CAfile", str(chain))
    assert "Verification: OK" in verified.stdout, verified.stdout + verified.stderr
    text = openssl("ts", "-reply", "-in", str(tmp_path / "r.tsr"), "-text").stdout
    assert "Status: Granted" in text and settings.SIGNING_TSA_POLICY_OID in text


@pytest.mark.parametrize(
    "body",
    [b"", os.urandom(200), b"\x30\x03\x02\x01\x01", b"A" * 100_000,
     tsp.TimeStampReq({"version": 1, "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                                                          "hashed_message": b"short"}}).dump()],
    ids=["empty", "random", "wrong-structure", "huge", "bad-digest-length"],
)
def test_garbage_gets_a_rejection_never_a_500(ca, client, body):
    response = client.post("/tsa/", body, content_type=QUERY)

    assert response.status_code == 200 and response["Content-Type"] == "application/timestamp-reply"
    answer = TimeStampResponse.load(response.content)  # asn1crypto's own requires a token
    assert answer["status"]["status"].native == "rejection"
    assert answer["status"]["fail_info"].native


def test_get_is_not_allowed(ca, client):
    assert client.get("/tsa/").status_code == 405


@pytest.mark.parametrize("cert_req", [True, False])
def test_tokens_are_canonical_der_with_every_field_in_place(ca, cert_req):
    import hashlib

    from asn1crypto import cms
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from signing.tsa import tsa_material, tsa_timestamp

    digest = hashlib.sha256(b"Verbale d'esame 42").digest()
    imprint = {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest}
    request = tsp.TimeStampReq({"version": 1, "nonce": 123456789, "cert_req": cert_req, "message_imprint": imprint})
    material = tsa_material()

    encoded = tsa_timestamp(request, material=material).dump()

    reparsed = tsp.TimeStampResp.load(encoded)
    assert reparsed.dump(force=True) == encoded  # asn1crypto's own DER of the same values: lengths, order, SETs
    signed_data = reparsed["time_stamp_token"]["content"]
    info = signed_data["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["nonce"].native == 123456789 and info["policy"].dotted == material.policy
    assert info["tsa"].chosen == material.certificate.subject
    assert bool(signed_data["certificates"].native) is cert_req
    signer_info = signed_data["signer_infos"][0]
    attributes = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    assert attributes["message_digest"].native == hashlib.sha256(info.dump()).digest()
    assert set(attributes) == {"content_type", "signing_time", "message_digest", "signing_certificate_v2"}
    public_key = material.private_key.public_key()
    signed = cms.CMSAttributes(list(signer_info["signed_attrs"])).dump()
    public_key.verify(signer_info["signature"].native, signed, ec.ECDSA(hashes.SHA256()))
