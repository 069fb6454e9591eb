"""Journey: an organization's signing client sends the holder to the consent page (CSC v2 OAuth 2.0,
scope "credential"); the holder logs in, reads what will be signed, types PIN and the code of the
authenticator app, and comes back to the client's callback with a code; the client exchanges it
(PKCE S256) and signs the hashes with the token alone; a second use is refused. Screenshots of the
consent page on a desktop and on a 390-pixel phone."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes as digest_algorithms
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from playwright.sync_api import Page, expect

from accounts.services.api_clients import api_client_create
from otp.models import DeviceKind
from otp.oath import totp
from otp.services import device_create
from tests.certificates.conftest import PIN, active, ca, ca_hierarchy  # noqa: F401  (fixtures)
from tests.conftest import HOLDER_PASSWORD, World
from tests.e2e.conftest import english_leftovers, path_of, screenshot

SEED = b"consent-page-app-seed-20b"[:20]
SHOTS = Path("/tmp/oauth-shots")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Callback(BaseHTTPRequestHandler):
    """The client's redirect URI: records the query and answers a plain page."""

    received: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802  (http.server's name)
        parts = urlsplit(self.path)
        if parts.path == "/callback":  # not the browser's /favicon.ico
            type(self).received.append({k: v[0] for k, v in parse_qs(parts.query).items()})
        body = b"<!doctype html><title>Client</title><p>ok</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def callback() -> Iterator[tuple[str, list[dict[str, str]]]]:
    received: list[dict[str, str]] = []
    handler = type("Callback", (_Callback,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/callback", received
    server.shutdown()


def _post(url: str, data: dict[str, str], *, auth: str | None = None, json_body: bool = False) -> tuple[int, dict]:
    body = json.dumps(data).encode() if json_body else urlencode(data).encode()
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json" if json_body else "application/x-www-form-urlencoded")
    if auth:
        request.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  (our live server)
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _fresh_totp() -> str:
    # Not the code of a step already used by this test: a replayed code is refused.
    return totp(SEED, time.time())


def test_client_redirect_consent_with_pin_and_app_code_then_sign_hash(
    open_page, world: World, ca, live_server, callback,  # noqa: F811
):
    redirect_uri, received = callback
    holder = world.alpha.holder
    certificate = active(holder)
    device_create(kind=DeviceKind.APP_TOTP, seed=SEED, holder=holder)
    api_client, secret = api_client_create(
        actor=world.alpha.admin.user, name="Verbalizzazione esami", scopes=["csc"], redirect_uris=[redirect_uri]
    )
    basic = "Basic " + base64.b64encode(f"{api_client.application.client_id}:{secret}".encode()).decode()
    digests = [hashlib.sha256(f"verbale {n}".encode()).digest() for n in range(3)]
    verifier = b64url(secrets.token_bytes(48))
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    details = [{
        "type": "credential", "credentialID": certificate.iut, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
        "documentDigests": [{"hash": base64.b64encode(d).decode(), "label": f"Verbale d'esame {n + 1:05d}.pdf"}
                            for n, d in enumerate(digests)],
    }]
    query = urlencode({
        "response_type": "code", "client_id": api_client.application.client_id, "redirect_uri": redirect_uri,
        "scope": "credential", "code_challenge": challenge, "code_challenge_method": "S256", "state": "e2e-state",
        "authorization_details": json.dumps(details),
    })

    # The client redirects the holder's browser; not logged in, the holder gets the login page first.
    page: Page = open_page()
    page.goto(f"/csc/v2/oauth2/authorize?{query}")
    assert path_of(page) == "/accesso/"
    page.fill("#id_username", holder.user.username)
    page.fill("#id_password", HOLDER_PASSWORD)
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert path_of(page) == "/csc/v2/oauth2/authorize"
    expect(page.get_by_test_id("consent-requester")).to_contain_text("Verbalizzazione esami")
    expect(page.get_by_test_id("consent-documents").locator("li")).to_have_count(3)
    expect(page.get_by_test_id("consent-documents")).to_contain_text("Verbale d'esame 00002.pdf")
    expect(page.get_by_test_id("consent-certificate")).to_contain_text(certificate.iut)
    assert english_leftovers(page) == []
    page.fill("#id_pin", PIN)
    page.fill("#id_code", _fresh_totp())
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot(page, "csc-oauth-consent-desktop.png"), SHOTS / "consent-desktop.png")
    page.set_viewport_size({"width": 390, "height": 844})
    shutil.copy(screenshot(page, "csc-oauth-consent-phone.png"), SHOTS / "consent-phone.png")
    page.set_viewport_size({"width": 1280, "height": 900})

    with page.expect_navigation(url=lambda url: url.startswith(redirect_uri)):
        page.get_by_test_id("consent-approve").click()
    assert len(received) == 1
    answer = received[0]
    assert set(answer) == {"code", "state", "iss"} and answer["state"] == "e2e-state"
    assert answer["iss"] == live_server.url

    # The client: code → token (PKCE), the certificate with a service token, signHash with no SAD.
    status, token = _post(f"{live_server.url}/csc/v2/oauth2/token", {
        "grant_type": "authorization_code", "code": answer["code"], "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }, auth=basic)
    assert status == 200, token
    assert token["scope"] == "credential" and token["token_type"] == "Bearer"
    bearer = "Bearer " + token["access_token"]
    status, service = _post(f"{live_server.url}/oauth2/token", {"grant_type": "client_credentials",
                                                                "scope": "service"}, auth=basic)
    assert status == 200, service
    status, info = _post(f"{live_server.url}/csc/v2/credentials/info", {"credentialID": certificate.iut},
                         auth="Bearer " + service["access_token"], json_body=True)
    assert status == 200, info
    public_key = x509.load_der_x509_certificate(base64.b64decode(info["cert"]["certificates"][0])).public_key()
    elliptic = isinstance(public_key, ec.EllipticCurvePublicKey)
    sign_body = {"credentialID": certificate.iut, "hashes": [base64.b64encode(d).decode() for d in digests],
                 "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
                 "signAlgo": "1.2.840.10045.4.3.2" if elliptic else "1.2.840.113549.1.1.11"}
    status, signed = _post(f"{live_server.url}/csc/v2/signatures/signHash", sign_body, auth=bearer, json_body=True)
    assert status == 200, signed
    for digest, signature in zip(digests, signed["signatures"], strict=True):
        prehashed = utils.Prehashed(digest_algorithms.SHA256())
        if elliptic:
            public_key.verify(base64.b64decode(signature), digest, ec.ECDSA(prehashed))
        else:
            public_key.verify(base64.b64decode(signature), digest, padding.PKCS1v15(), prehashed)

    status, again = _post(f"{live_server.url}/csc/v2/signatures/signHash", sign_body, auth=bearer, json_body=True)
    assert status == 400 and again["error_details"]["code"] == "sad_expired"
    status, reused = _post(f"{live_server.url}/csc/v2/oauth2/token", {
        "grant_type": "authorization_code", "code": answer["code"], "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }, auth=basic)
    assert status == 400 and reused["error"] == "invalid_grant"


def test_the_holder_refuses_and_the_client_hears_access_denied(
    open_page, world: World, ca, live_server, callback,  # noqa: F811
):
    redirect_uri, received = callback
    holder = world.alpha.holder
    certificate = active(holder)
    device_create(kind=DeviceKind.APP_TOTP, seed=SEED, holder=holder)
    api_client, _secret = api_client_create(
        actor=world.alpha.admin.user, name="Wallet", scopes=["csc"], redirect_uris=[redirect_uri]
    )
    challenge = b64url(hashlib.sha256(b"v" * 50).digest())
    query = urlencode({
        "response_type": "code", "client_id": api_client.application.client_id, "redirect_uri": redirect_uri,
        "scope": "credential", "code_challenge": challenge, "code_challenge_method": "S256", "state": "s",
        "credentialID": certificate.iut, "numSignatures": "1",
        "hashes": b64url(hashlib.sha256(b"x").digest()),
    })
    page: Page = open_page()
    page.goto(f"/csc/v2/oauth2/authorize?{query}")
    page.fill("#id_username", holder.user.username)
    page.fill("#id_password", HOLDER_PASSWORD)
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    with page.expect_navigation(url=lambda url: url.startswith(redirect_uri)):
        page.get_by_test_id("consent-deny").click()
    assert received[0]["error"] == "access_denied" and received[0]["state"] == "s"
