"""The PKI disclosure statement is served where the certificates say, in Italian and English; the TSA's
tokens say they are qualified exactly when the TSA is configured so, under a real policy OID."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import pytest
from asn1crypto import core, tsp
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.ades.qualified_asn1 import get_qc_statements

from certificates.models import AuthorityRole
from signing.tsa import QC_STATEMENTS_OID, QTST_STATEMENT_OID, tsa_material, tsa_timestamp
from tests.certificates.conftest import issued, openssl, write_pem


def _pds_urls(certificate) -> dict[str, str]:
    statements = get_qc_statements(asn1_x509.Certificate.load(bytes(certificate.der)))
    [pds] = [s["statement_info"].native for s in statements
             if s["statement_id"].native == "qc_pki_disclosure_statements"]
    return {entry["language"]: entry["url"] for entry in pds}


def test_the_pds_named_in_every_certificate_is_served_in_italian_and_english(world, ca, client, settings):
    urls = _pds_urls(issued(world.alpha.holder))

    assert set(urls) == {"it", "en"}
    pages = {}
    for language, url in urls.items():
        response = client.get(urlsplit(url).path)
        assert response.status_code == 200, url
        assert response["Content-Language"] == language
        pages[language] = response.content.decode()
    assert '<html lang="it">' in pages["it"] and "Informativa sulla PKI" in pages["it"]
    assert '<html lang="en">' in pages["en"] and "PKI disclosure statement" in pages["en"]
    for page in pages.values():  # generated from the settings the certificates are made from
        for value in (settings.CA_ORGANIZATION_NAME, settings.CA_ORGANIZATION_IDENTIFIER, settings.CA_CONTACT_EMAIL,
                      settings.CA_POLICY_OID, "0.4.0.194112.1.2", settings.SIGNING_TSA_POLICY_OID,
                      f"{settings.CA_PUBLIC_URL}/ca/crl/issuing.crl", f"{settings.CA_PUBLIC_URL}/ca/ocsp/"):
            assert value in page
    assert urls["en"] in pages["it"] and urls["it"] in pages["en"]  # each links the other


def test_the_pds_follows_the_settings(ca, client, settings):
    settings.CA_CONTACT_EMAIL = "qtsp@firma.example.org"
    settings.CA_RECORDS_RETENTION_YEARS = 25

    page = client.get("/ca/pds/en/").content.decode()

    assert "qtsp@firma.example.org" in page and "25 years" in page


def test_a_pds_in_another_language_is_not_found(client):
    assert client.get("/ca/pds/de/").status_code == 404


def _token(material) -> tsp.TSTInfo:
    digest = hashlib.sha256(b"Verbale d'esame 42").digest()
    imprint = {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest}
    request = tsp.TimeStampReq({"version": 1, "cert_req": True, "nonce": 7, "message_imprint": imprint})
    answer = tsa_timestamp(request, material=material)
    assert answer["status"]["status"].native == "granted"
    assert tsp.TimeStampResp.load(answer.dump()).dump(force=True) == answer.dump()  # canonical DER
    return answer


def test_tokens_of_a_tsa_not_configured_as_qualified_make_no_qualified_claim(ca, settings):
    settings.SIGNING_TSA_QUALIFIED = False

    info = _token(tsa_material())["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed

    assert not info["extensions"].native


def test_tokens_of_a_qualified_tsa_carry_esi4_qtst_statement_1_and_still_verify(ca, settings, tmp_path):
    settings.SIGNING_TSA_QUALIFIED = True
    material = tsa_material()
    assert material.qualified

    answer = _token(material)

    info = answer["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    [extension] = info["extensions"]
    assert extension["extn_id"].dotted == QC_STATEMENTS_OID and not extension["critical"].native
    statements = core.SequenceOf.load(extension["extn_value"].native, spec=core.Sequence)
    assert [core.ObjectIdentifier.load(s.contents).dotted for s in statements] == [QTST_STATEMENT_OID]
    assert QTST_STATEMENT_OID == "0.4.0.19422.1.1"
    (tmp_path / "r.tsr").write_bytes(answer.dump())
    chain = tmp_path / "chain.pem"
    chain.write_bytes(write_pem(tmp_path / "root.pem", ca[AuthorityRole.ROOT].der).read_bytes()
                      + write_pem(tmp_path / "issuing.pem", ca[AuthorityRole.ISSUING].der).read_bytes())
    digest = hashlib.sha256(b"Verbale d'esame 42").hexdigest()
    verified = openssl("ts", "-verify", "-digest", digest, "-in", str(tmp_path / "r.tsr"), "-CAfile", str(chain))
    assert "Verification: OK" in verified.stdout, verified.stdout + verified.stderr


def test_the_tsa_policy_is_a_real_oid_not_a_placeholder_arc(ca, settings):
    policy = tsa_material().policy

    assert policy == settings.SIGNING_TSA_POLICY_OID
    assert "99999" not in policy and policy.startswith("2.25.")  # a UUID-derived OID (X.667) by default
    core.ObjectIdentifier(policy).dump()  # well-formed


@pytest.mark.parametrize("qualified", [False, True])
def test_changing_the_setting_takes_effect_without_a_restart_of_the_cache(ca, settings, qualified):
    settings.SIGNING_TSA_QUALIFIED = qualified

    assert tsa_material().qualified is qualified
