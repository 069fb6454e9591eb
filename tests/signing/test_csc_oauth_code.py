"""CSC API v2 OAuth 2.0 authorization code with scope "credential", driven the way a client written
from the specification drives it: PKCE S256, the holder's consent (PIN + OTP typed on our page), the
code exchange, signHash with the access token and no SAD, the signature checked against the
certificate of credentials/info with ``cryptography``. Then everything that must be refused."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes as digest_algorithms
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from django.utils import timezone

from accounts.services.api_clients import api_client_create
from audit.events import AuditEventType
from audit.models import AuditEvent
from signing import sad
from signing.models import CredentialAccessGrant, CredentialAuthorizationCode
from tests.certificates.conftest import PIN, active
from tests.conftest import HOLDER_PASSWORD
from tests.signing.conftest import csc_post, sha256_sign_algo, token_for

REDIRECT = "https://wallet.example.org/firma/callback"
SHA256_OID = "2.16.840.1.101.3.4.2.1"


# --- A client, by the book ------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce() -> tuple[str, str]:
    verifier = b64url(secrets.token_bytes(48))
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


def basic(api_client, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{api_client.application.client_id}:{secret}".encode()).decode()


def authorize_url(api_client, credential_id: str, digests: list[bytes], challenge: str, *, version: str = "v2",
                  rar: bool = False, **override: str) -> str:
    params = {
        "response_type": "code", "client_id": api_client.application.client_id, "redirect_uri": REDIRECT,
        "code_challenge": challenge, "code_challenge_method": "S256", "state": "st-42", "lang": "it-IT",
    }
    if rar:
        params["authorization_details"] = json.dumps([{
            "type": "credential", "credentialID": credential_id, "hashAlgorithmOID": SHA256_OID,
            "documentDigests": [{"hash": base64.b64encode(d).decode(), "label": f"Verbale {n + 1}.pdf"}
                                for n, d in enumerate(digests)],
        }])
    else:
        params.update({
            "scope": "credential", "credentialID": credential_id, "numSignatures": str(len(digests)),
            "hashes": ",".join(b64url(d) for d in digests), "hashAlgorithmOID": SHA256_OID,
            "description": "Verbali della sessione di giugno",
        })
    params.update(override)
    params = {k: v for k, v in params.items() if v is not None}
    return f"/csc/{version}/oauth2/authorize?{urlencode(params)}"


def query_of(response) -> dict[str, str]:
    assert response.status_code == 302, response.content[:500]
    location = response["Location"]
    assert location.startswith(REDIRECT + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def consent(client, url: str, signer, *, decision: str = "approve", pin: str = PIN):
    return client.post(url, {"pin": pin, "device": str(signer.device.public_id), "code": signer.otp(),
                             "decision": decision})


def exchange(client, api_client, secret: str, code: str, verifier: str, *, redirect_uri: str = REDIRECT,
             path: str = "/csc/v2/oauth2/token", post_auth: bool = False):
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    if post_auth:
        body.update(client_id=api_client.application.client_id, client_secret=secret)
        return client.post(path, body)
    return client.post(path, body, HTTP_AUTHORIZATION=basic(api_client, secret))


def digests(count: int = 2) -> list[bytes]:
    return [hashlib.sha256(f"documento {n}".encode()).digest() for n in range(count)]


@pytest.fixture
def wallet(world):
    return api_client_create(actor=world.alpha.admin.user, name="Wallet", scopes=["csc"], redirect_uris=[REDIRECT])


def log_in(client, holder, next_url: str = "") -> object:
    return client.post("/accesso/", {"username": holder.user.username, "password": HOLDER_PASSWORD,
                                     "next": next_url})


@pytest.fixture
def holder_client(client, signer):
    assert log_in(client, signer.holder).status_code == 302
    return client


def code_for(client, wallet, signer, hashes: list[bytes], *, rar: bool = False) -> tuple[str, str]:
    verifier, challenge = pkce()
    url = authorize_url(wallet[0], signer.certificate.iut, hashes, challenge, rar=rar)
    params = query_of(consent(client, url, signer))
    assert set(params) == {"code", "state", "iss"} and params["state"] == "st-42"
    assert params["iss"] == "http://testserver"
    return params["code"], verifier


def sign_hash(client, token: str, certificate, hashes: list[bytes], version: str = "v2", **extra):
    if version == "v2":
        body = {"credentialID": certificate.iut, "hashes": [base64.b64encode(h).decode() for h in hashes],
                "hashAlgorithmOID": SHA256_OID, "signAlgo": sha256_sign_algo(certificate), **extra}
    else:
        body = {"credentialID": certificate.iut, "hash": [base64.b64encode(h).decode() for h in hashes],
                "hashAlgo": SHA256_OID, "signAlgo": sha256_sign_algo(certificate), **extra}
    return csc_post(client, f"/csc/{version}/signatures/signHash", body, token)


# --- The journey ----------------------------------------------------------------------------------


def test_the_holder_consents_and_the_client_signs_with_the_token_alone(client, signer, wallet):
    api_client, secret = wallet
    hashes = digests(2)
    verifier, challenge = pkce()
    url = authorize_url(api_client, signer.certificate.iut, hashes, challenge)

    # Not signed in: the login page, which brings the holder back here; nothing about the credential.
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accesso/")
    assert "next=" in anonymous["Location"]

    back = log_in(client, signer.holder, next_url=url)
    assert back.status_code == 302 and back["Location"] == url  # the login brings the holder back
    page = client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Wallet" in text and "Università Alfa" in text and signer.certificate.iut in text
    assert base64.b64encode(hashes[0]).decode() in text and "Verbali della sessione di giugno" in text
    assert "form-action 'self' https://wallet.example.org" in page["Content-Security-Policy"]

    params = query_of(consent(client, url, signer))
    assert params["state"] == "st-42" and params["iss"] == "http://testserver"
    code = params["code"]

    # Only checksums and ciphertext at rest.
    row = CredentialAuthorizationCode.objects.get()
    assert row.code_checksum == hashlib.sha256(code.encode()).hexdigest()
    assert code.encode() not in bytes(row.sealed_sad) and len(bytes(row.sealed_sad)) > 60

    answer = exchange(client, api_client, secret, code, verifier)
    assert answer.status_code == 200, answer.content
    assert "no-store" in answer["Cache-Control"]
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "credential"
    assert 0 < body["expires_in"] <= 300
    token = body["access_token"]
    grant = CredentialAccessGrant.objects.get()
    assert grant.access_token.token == "" and grant.access_token.token_checksum == sad.secret_checksum(token)
    assert bytes(CredentialAuthorizationCode.objects.get().sealed_sad) == b""  # the code's copy is gone

    # The certificate, with a service token (client credentials, scope "service").
    service = token_for(client, api_client, secret, scope="service")
    assert service["scope"] == "service"
    info = csc_post(client, "/csc/v2/credentials/info", {"credentialID": signer.certificate.iut},
                    service["access_token"])
    assert info.status_code == 200, info.content
    certificate = x509.load_der_x509_certificate(base64.b64decode(info.json()["cert"]["certificates"][0]))

    signed = sign_hash(client, token, signer.certificate, hashes)
    assert signed.status_code == 200, signed.content
    for digest, signature in zip(hashes, signed.json()["signatures"], strict=True):
        # Checked with the certificate the API gave, in the scheme of its key type.
        prehashed = utils.Prehashed(digest_algorithms.SHA256())
        public_key = certificate.public_key()
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(base64.b64decode(signature), digest, ec.ECDSA(prehashed))
        else:
            public_key.verify(base64.b64decode(signature), digest, padding.PKCS1v15(), prehashed)

    again = sign_hash(client, token, signer.certificate, hashes)
    assert again.status_code == 400 and again.json()["error_details"]["code"] == "sad_expired"

    events = set(AuditEvent.objects.values_list("event_type", flat=True))
    assert {AuditEventType.CSC_OAUTH_CODE_ISSUED, AuditEventType.CSC_OAUTH_TOKEN_ISSUED,
            AuditEventType.SIGNATURE_AUTHORIZED} <= events


def test_rich_authorization_request_with_labels_post_auth_and_v1_sign_hash(holder_client, signer, wallet):
    api_client, secret = wallet
    hashes = digests(3)
    verifier, challenge = pkce()
    url = authorize_url(api_client, signer.certificate.iut, hashes, challenge, rar=True)
    page = holder_client.get(url)
    assert page.status_code == 200
    assert "Verbale 1.pdf" in page.content.decode() and "Verbale 3.pdf" in page.content.decode()
    code = query_of(consent(holder_client, url, signer))["code"]
    answer = exchange(holder_client, api_client, secret, code, verifier, path="/oauth2/token", post_auth=True)
    assert answer.status_code == 200, answer.content
    signed = sign_hash(holder_client, answer.json()["access_token"], signer.certificate, hashes, version="v1")
    assert signed.status_code == 200, signed.content
    assert len(signed.json()["signatures"]) == 3


def test_a_hash_not_consented_is_not_signed_and_a_sad_in_the_body_is_refused(holder_client, signer, wallet):
    api_client, secret = wallet
    code, verifier = code_for(holder_client, wallet, signer, digests(1))
    token = exchange(holder_client, api_client, secret, code, verifier).json()["access_token"]
    other = [hashlib.sha256(b"altro").digest()]
    refused = sign_hash(holder_client, token, signer.certificate, other)
    assert refused.status_code == 400 and refused.json()["error_details"]["code"] == "unauthorized_hash"
    with_sad = sign_hash(holder_client, token, signer.certificate, digests(1), SAD="x" * 64)
    assert with_sad.status_code == 400 and with_sad.json()["error"] == "invalid_request"
    # The token signs and does nothing else.
    info = csc_post(holder_client, "/csc/v2/credentials/info", {"credentialID": signer.certificate.iut}, token)
    assert info.status_code == 403
    ok = sign_hash(holder_client, token, signer.certificate, digests(1))
    assert ok.status_code == 200, ok.content


# --- Exchange refusals ----------------------------------------------------------------------------


def test_a_wrong_verifier_is_refused_and_burns_the_code(holder_client, signer, wallet):
    api_client, secret = wallet
    code, verifier = code_for(holder_client, wallet, signer, digests(1))
    wrong = exchange(holder_client, api_client, secret, code, pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    right = exchange(holder_client, api_client, secret, code, verifier)
    assert right.status_code == 400 and right.json()["error"] == "invalid_grant"
    missing = exchange(holder_client, api_client, secret, code, "")
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


def test_a_wrong_redirect_uri_is_refused(holder_client, signer, wallet):
    api_client, secret = wallet
    code, verifier = code_for(holder_client, wallet, signer, digests(1))
    answer = exchange(holder_client, api_client, secret, code, verifier, redirect_uri=REDIRECT + "/other")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_a_reused_code_is_refused_and_revokes_its_token(holder_client, signer, wallet):
    api_client, secret = wallet
    code, verifier = code_for(holder_client, wallet, signer, digests(1))
    token = exchange(holder_client, api_client, secret, code, verifier).json()["access_token"]
    again = exchange(holder_client, api_client, secret, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    gone = sign_hash(holder_client, token, signer.certificate, digests(1))
    assert gone.status_code == 401
    assert AuditEvent.objects.filter(event_type=AuditEventType.CSC_OAUTH_TOKEN_REFUSED,
                                     details__reason="reused", details__tokens_revoked=1).exists()


def test_an_expired_code_is_refused(holder_client, signer, wallet):
    api_client, secret = wallet
    code, verifier = code_for(holder_client, wallet, signer, digests(1))
    CredentialAuthorizationCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    answer = exchange(holder_client, api_client, secret, code, verifier)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_another_clients_code_is_refused(holder_client, signer, wallet, world):
    code, verifier = code_for(holder_client, wallet, signer, digests(1))
    thief, thief_secret = api_client_create(actor=world.alpha.admin.user, name="Thief", scopes=["csc"],
                                            redirect_uris=[REDIRECT])
    answer = exchange(holder_client, thief, thief_secret, code, verifier)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    # A wrong secret is a client that does not authenticate.
    bad = exchange(holder_client, wallet[0], "wrong-secret", code, verifier)
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"


def test_a_client_without_redirect_uris_may_not_exchange_codes(holder_client, signer, wallet, world):
    code, verifier = code_for(holder_client, wallet, signer, digests(1))
    plain, plain_secret = api_client_create(actor=world.alpha.admin.user, name="Plain", scopes=["csc"])
    answer = exchange(holder_client, plain, plain_secret, code, verifier)
    assert answer.status_code == 400 and answer.json()["error"] == "unauthorized_client"


# --- Authorization request refusals ---------------------------------------------------------------


def test_a_num_signatures_that_is_not_a_small_ascii_number_is_refused_not_a_server_error(
    holder_client, signer, wallet
):
    for number in ("\u00b2", "0", "-1", "9" * 5000, "1e3"):
        url = authorize_url(wallet[0], signer.certificate.iut, digests(1), pkce()[1], numSignatures=number)
        params = query_of(holder_client.get(url))
        assert params["error"] == "invalid_request", number
        assert params["error_description"] == "Invalid parameter numSignatures", number


def test_plain_pkce_and_a_missing_challenge_are_refused_to_the_redirect_uri(holder_client, signer, wallet):
    verifier, _challenge = pkce()
    url = authorize_url(wallet[0], signer.certificate.iut, digests(1), verifier, code_challenge_method="plain")
    params = query_of(holder_client.get(url))
    assert params["error"] == "invalid_request" and "S256" in params["error_description"]
    assert params["state"] == "st-42" and params["iss"] == "http://testserver"
    missing = query_of(holder_client.get(authorize_url(wallet[0], signer.certificate.iut, digests(1), "",
                                                       code_challenge=None)))
    assert missing["error"] == "invalid_request"
    scope = query_of(holder_client.get(authorize_url(wallet[0], signer.certificate.iut, digests(1), pkce()[1],
                                                     scope="service")))
    assert scope["error"] == "invalid_scope"


def test_a_foreign_credential_is_refused(holder_client, signer, wallet, world, ca):
    other = active(world.beta.holder)
    url = authorize_url(wallet[0], other.iut, digests(1), pkce()[1])
    params = query_of(holder_client.get(url))
    assert params["error"] == "invalid_request" and params["error_description"] == "Invalid parameter credentialID"
    unknown = query_of(holder_client.get(authorize_url(wallet[0], "nope", digests(1), pkce()[1])))
    assert unknown == params


def test_an_unknown_client_or_redirect_uri_is_a_page_never_a_redirect(holder_client, signer, wallet):
    challenge = pkce()[1]
    for override in ({"redirect_uri": "https://evil.example.com/cb"}, {"client_id": "nobody"},
                     {"redirect_uri": None}, {"redirect_uri": REDIRECT + "?x=1"}):
        response = holder_client.get(authorize_url(wallet[0], signer.certificate.iut, digests(1), challenge,
                                                   **override))
        assert response.status_code == 400, override
        assert "Location" not in response
        assert b"consent-error" in response.content


def test_the_holder_refuses(holder_client, signer, wallet):
    url = authorize_url(wallet[0], signer.certificate.iut, digests(1), pkce()[1])
    response = holder_client.post(url, {"decision": "deny"})
    params = query_of(response)
    assert params["error"] == "access_denied" and params["state"] == "st-42"
    assert AuditEvent.objects.filter(event_type=AuditEventType.CSC_OAUTH_CONSENT_REFUSED).exists()
    assert not CredentialAuthorizationCode.objects.exists()


def test_a_wrong_pin_stays_on_the_page(holder_client, signer, wallet):
    url = authorize_url(wallet[0], signer.certificate.iut, digests(1), pkce()[1])
    response = consent(holder_client, url, signer, pin="0000000000")
    assert response.status_code == 400
    assert not CredentialAuthorizationCode.objects.exists()


# --- Revocation, scopes, policy, metadata ---------------------------------------------------------


def test_revocation_of_a_credential_token_and_of_a_client_credentials_token(holder_client, signer, wallet):
    api_client, secret = wallet
    code, verifier = code_for(holder_client, wallet, signer, digests(1))
    token = exchange(holder_client, api_client, secret, code, verifier).json()["access_token"]
    revoked = holder_client.post("/csc/v2/oauth2/revoke", {"token": token, "token_type_hint": "access_token"},
                                 HTTP_AUTHORIZATION=basic(api_client, secret))
    assert revoked.status_code == 200, revoked.content
    assert not CredentialAccessGrant.objects.exists()
    assert sign_hash(holder_client, token, signer.certificate, digests(1)).status_code == 401

    service = token_for(holder_client, api_client, secret)["access_token"]
    assert holder_client.post("/oauth2/revoke", {"token": service, "client_id": api_client.application.client_id,
                                                 "client_secret": secret}).status_code == 200
    listed = csc_post(holder_client, "/csc/v2/credentials/list", {"userID": "mario.rossi"}, service)
    assert listed.status_code == 401
    assert AuditEvent.objects.filter(event_type=AuditEventType.CSC_OAUTH_TOKEN_REVOKED).count() == 2


def test_token_endpoint_scopes(client, wallet, signer):
    api_client, secret = wallet
    # "credential" without a holder's consent: a token for the CSC functions, answered as "service"
    # (signing with it still needs a SAD).
    credential = client.post("/oauth2/token", {"grant_type": "client_credentials", "scope": "credential"},
                             HTTP_AUTHORIZATION=basic(api_client, secret))
    assert credential.status_code == 200, credential.content
    assert credential.json()["scope"] == "service"
    listed = csc_post(client, "/csc/v2/credentials/list", {"userID": "mario.rossi"},
                      credential.json()["access_token"])
    assert listed.status_code == 200, listed.content
    default = token_for(client, api_client, secret)
    assert default["scope"] == "csc"
    service = token_for(client, api_client, secret, scope="service")["access_token"]
    listed = csc_post(client, "/csc/v2/credentials/list", {"userID": "mario.rossi"}, service)
    assert listed.status_code == 200, listed.content


def test_direct_authorize_is_refused_when_the_organization_requires_consent(client, signer, wallet, world):
    api_client, secret = wallet
    token = token_for(client, api_client, secret)["access_token"]
    world.alpha.organization.csc_direct_authorization_allowed = False
    world.alpha.organization.save(update_fields=["csc_direct_authorization_allowed"])
    body = {"credentialID": signer.certificate.iut, "numSignatures": 1,
            "hash": [base64.b64encode(digests(1)[0]).decode()], "PIN": PIN, "OTP": signer.otp()}
    response = csc_post(client, "/csc/v1/credentials/authorize", body, token)
    assert response.status_code == 403 and response.json()["error"] == "access_denied"
    assert AuditEvent.objects.filter(event_type=AuditEventType.CSC_OAUTH_DIRECT_AUTHORIZATION_REFUSED).exists()


def test_metadata(client):
    body = client.get("/.well-known/oauth-authorization-server").json()
    assert body["issuer"] == "http://testserver"
    assert body["authorization_endpoint"] == "http://testserver/csc/v2/oauth2/authorize"
    assert body["token_endpoint"] == "http://testserver/csc/v2/oauth2/token"
    assert body["revocation_endpoint"] == "http://testserver/csc/v2/oauth2/revoke"
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert {"service", "credential", "csc"} <= set(body["scopes_supported"])
    assert body["grant_types_supported"] == ["client_credentials", "authorization_code"]
    assert body["authorization_details_types_supported"] == ["credential"]


def test_redirect_uris_are_https_or_loopback(world):
    from core.errors import ApplicationError

    for uri in ("http://wallet.example.org/cb", "https://a.example.org/cb#frag", "javascript:alert(1)",
                "https://user@a.example.org/cb"):
        with pytest.raises(ApplicationError):
            api_client_create(actor=world.alpha.admin.user, name=f"X {uri[:20]}", scopes=["csc"], redirect_uris=[uri])
    ok, _secret = api_client_create(actor=world.alpha.admin.user, name="Dev", scopes=["csc"],
                                    redirect_uris=["http://127.0.0.1:8765/cb", "https://a.example.org/cb"])
    assert ok.application.redirect_uris == "http://127.0.0.1:8765/cb https://a.example.org/cb"


# --- The sealing, alone ---------------------------------------------------------------------------


def test_a_sealed_sad_opens_only_with_its_secret_and_context():
    sealed = sad.sad_seal("the-sad", secret="code-1", context=b"code|1")
    assert sad.sad_unseal(sealed, secret="code-1", context=b"code|1") == "the-sad"
    for secret, context in (("code-2", b"code|1"), ("code-1", b"code|2")):
        with pytest.raises(InvalidTag):
            sad.sad_unseal(sealed, secret=secret, context=context)
    with pytest.raises(InvalidTag):
        sad.sad_unseal(b"", secret="code-1", context=b"code|1")
    assert sad.secret_checksum("abc") == hashlib.sha256(b"abc").hexdigest()
