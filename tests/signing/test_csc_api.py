"""CSC API v1/v2: info, credentials, sendOTP, and every kind of bad input answered in CSC form."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from otp.models import DeviceKind, DeviceState, OtpDevice, SmsCode
from otp.services import device_create
from tests.certificates.conftest import PIN, active
from tests.conftest import run_coroutine
from tests.signing.conftest import csc_post, hash_signature_verify, key_algorithm_set, sha256_sign_algo

pytestmark = pytest.mark.both_vaults


def test_info_is_public_and_names_the_oauth2_server_one_way_per_version(client):
    for version, specs in (("v1", "1.0.4.0"), ("v2", "2.0.0.2")):
        response = csc_post(client, f"/csc/{version}/info", {"lang": "it-IT"})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["specs"] == specs and "oauth2client" in body["authType"]
        # The specification makes the two exclusive: v1 has only the base URI, v2 only the issuer.
        if version == "v1":
            assert body["oauth2"] == "http://testserver" and "oauth2Issuer" not in body
        else:
            assert body["oauth2Issuer"] == "http://testserver" and "oauth2" not in body
        assert {"credentials/list", "credentials/info", "credentials/authorize", "signatures/signHash",
                "credentials/sendOTP", "oauth2/token"} <= set(body["methods"])
        assert ("signatures/signDoc" in body["methods"]) == (version == "v2")


KEY_INFOS = {
    "ecdsa-p256": {"status": "enabled", "len": 256, "curve": "1.2.840.10045.3.1.7", "algo": [
        "1.2.840.10045.2.1", "1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4"]},
    "rsa-2048": {"status": "enabled", "len": 2048, "algo": [
        "1.2.840.113549.1.1.1", "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13"]},
}  # RSA-PSS: tests/signing/test_pss.py


@pytest.mark.parametrize("algorithm", list(KEY_INFOS))
def test_credentials_info_gives_the_chain_the_key_and_scal2(client, world, ca, alpha_token, settings, algorithm):
    key_algorithm_set(world.alpha.organization, algorithm)
    certificate = active(world.alpha.holder)
    response = csc_post(client, "/csc/v1/credentials/info",
                        {"credentialID": certificate.iut, "certificates": "chain", "certInfo": True,
                         "authInfo": True}, alpha_token)
    assert response.status_code == 200, response.content
    body = response.json()
    chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in body["cert"]["certificates"]]
    assert len(chain) == 3  # holder, issuing CA, root
    assert chain[0].serial_number == int(certificate.serial)
    assert chain[0].issuer == chain[1].subject and chain[1].issuer == chain[2].subject == chain[2].subject
    assert isinstance(chain[0].public_key(), rsa.RSAPublicKey if algorithm == "rsa-2048" else ec.EllipticCurvePublicKey)
    assert body["key"] == KEY_INFOS[algorithm]
    assert body["cert"]["status"] == "valid" and body["cert"]["serialNumber"] == format(int(certificate.serial), "x")
    assert body["authMode"] == "explicit" and body["SCAL"] == "2"
    assert body["PIN"]["presence"] == "true" and body["PIN"]["format"] == "N"
    assert body["OTP"]["presence"] == "true" and body["OTP"]["type"] in ("offline", "online")
    assert body["multisign"] == settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION

    single = csc_post(client, "/csc/v2/credentials/info", {"credentialID": certificate.iut}, alpha_token).json()
    assert len(single["cert"]["certificates"]) == 1
    assert single["auth"]["mode"] == "explicit" and [o["id"] for o in single["auth"]["objects"]] == ["PIN", "OTP"]


def test_a_suspended_credential_is_not_listed_and_its_key_is_disabled(client, world, ca, alpha_token):
    from certificates.services import certificate_suspend

    certificate = active(world.alpha.holder)
    certificate_suspend(certificate=certificate, actor=world.alpha.operator.user, note="test")
    listed = csc_post(client, "/csc/v1/credentials/list", {"userID": "mario.rossi"}, alpha_token).json()
    assert listed["credentialIDs"] == []
    info = csc_post(client, "/csc/v1/credentials/info", {"credentialID": certificate.iut}, alpha_token).json()
    assert info["key"]["status"] == "disabled" and info["cert"]["status"] == "suspended"
    otp = csc_post(client, "/csc/v1/credentials/sendOTP", {"credentialID": certificate.iut}, alpha_token)
    assert otp.status_code == 400 and otp.json()["error_details"]["code"] == "credential_is_disabled"


def test_credentials_list_v2_can_include_the_infos(client, world, ca, alpha_token):
    certificate = active(world.alpha.holder)
    body = csc_post(client, "/csc/v2/credentials/list", {"userID": "MARIO.ROSSI", "credentialInfo": True},
                    alpha_token).json()
    assert body["credentialIDs"] == [certificate.iut]
    assert body["credentialInfos"][0]["credentialID"] == certificate.iut
    assert body["credentialInfos"][0]["SCAL"] == "2"


def _sms_only(holder) -> None:
    OtpDevice.objects.filter(holder=holder).exclude(kind=DeviceKind.SMS).update(state=DeviceState.RETIRED)
    if not OtpDevice.objects.filter(holder=holder, kind=DeviceKind.SMS, state=DeviceState.ACTIVE).exists():
        device_create(kind=DeviceKind.SMS, holder=holder)


def test_send_otp_queues_an_sms_code_for_signing(client, world, ca, alpha_token):
    certificate = active(world.alpha.holder)
    _sms_only(world.alpha.holder)
    info = csc_post(client, "/csc/v1/credentials/info", {"credentialID": certificate.iut}, alpha_token).json()
    assert info["OTP"]["type"] == "online"
    before = SmsCode.objects.filter(holder=world.alpha.holder, purpose="sign").count()
    response = csc_post(client, "/csc/v1/credentials/sendOTP", {"credentialID": certificate.iut}, alpha_token)
    assert response.status_code == 204, response.content
    codes = SmsCode.objects.filter(holder=world.alpha.holder, purpose="sign")
    assert codes.count() == before + 1
    assert codes.order_by("-created_at").first().recipient == world.alpha.holder.mobile
    # A second request at once is the SMS cooldown: 429 in CSC form, nothing sent.
    again = csc_post(client, "/csc/v1/credentials/sendOTP", {"credentialID": certificate.iut}, alpha_token)
    assert again.status_code == 429 and set(again.json()) == {"error", "error_description"}
    assert codes.count() == before + 1


def test_send_otp_refuses_a_holder_with_a_token(client, world, ca, alpha_token):
    certificate = active(world.alpha.holder)
    OtpDevice.objects.filter(holder=world.alpha.holder, kind=DeviceKind.SMS).update(state=DeviceState.RETIRED)
    device_create(kind=DeviceKind.APP_TOTP, holder=world.alpha.holder, seed=b"s" * 20)
    response = csc_post(client, "/csc/v1/credentials/sendOTP", {"credentialID": certificate.iut}, alpha_token)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert not SmsCode.objects.filter(holder=world.alpha.holder, purpose="sign").exists()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "description"),
    [
        ("{not json", "application/json", 400, "The request body is not valid JSON."),
        ('{"userID": NaN}', "application/json", 400, "The request body is not valid JSON."),
        ("[1, 2]", "application/json", 400, None),
        ("{}", "application/json", 400, "Missing (or invalid type) string parameter userID"),
        ('{"userID": ["a"]}', "application/json", 400, None),
        ('{"userID": "x"}', "text/plain", 415, None),
        (b"\xff\xfe", "application/json", 400, None),
        ("[" * 100_000 + "]" * 100_000, "application/json", 400, "The request body is not valid JSON."),
        ('{"a": ' * 50_000 + "1" + "}" * 50_000, "application/json", 400, "The request body is not valid JSON."),
    ],
)
def test_bad_bodies_get_csc_errors(client, alpha_token, body, content_type, status, description):
    response = csc_post(client, "/csc/v1/credentials/list", body, alpha_token, content_type=content_type)
    assert response.status_code == status, response.content
    payload = response.json()
    assert set(payload) == {"error", "error_description"} and payload["error"] == "invalid_request"
    if description:
        assert payload["error_description"] == description


def test_a_huge_body_is_refused_unread(client, alpha_token, settings):
    huge = '{"userID": "' + "a" * (settings.API_MAX_REQUEST_BYTES + 10) + '"}'
    response = csc_post(client, "/csc/v1/credentials/list", huge, alpha_token)
    assert response.status_code == 413 and response.json()["error"] == "invalid_request"


def test_missing_and_malformed_fields_of_credentials(client, world, ca, alpha_token):
    assert csc_post(client, "/csc/v1/credentials/info", {}, alpha_token).json() == {
        "error": "invalid_request", "error_description": "Missing (or invalid type) string parameter credentialID"}
    bad = csc_post(client, "/csc/v1/credentials/info", {"credentialID": "x", "certificates": "all"}, alpha_token)
    assert bad.status_code == 400 and bad.json()["error_description"].startswith("Invalid parameter certificates")
    page = csc_post(client, "/csc/v1/credentials/list", {"userID": "mario.rossi", "pageToken": "zz"}, alpha_token)
    assert page.json()["error_description"] == "Invalid parameter pageToken"


def test_authorize_refuses_bad_hashes_before_reaching_the_engine(client, world, ca, alpha_token):
    certificate = active(world.alpha.holder)
    base = {"credentialID": certificate.iut, "numSignatures": 1, "PIN": PIN, "OTP": "123456"}
    cases = [
        ({**base, "hash": ["not base64!"]}, "Invalid Base64 hash string parameter"),
        ({**base, "hash": [base64.b64encode(b"short").decode()]}, "Invalid digest value length"),
        ({**base}, "Missing (or invalid type) array parameter hash"),
        ({**base, "hash": []}, "Empty hash array"),
        ({**base, "hash": "abc"}, "Missing (or invalid type) array parameter hash"),
        ({**base, "numSignatures": 2, "hash": [base64.b64encode(bytes(32)).decode()]},
         "Invalid value for parameter numSignatures"),
        ({**base, "numSignatures": 0, "hash": [base64.b64encode(bytes(32)).decode()]},
         "Invalid value for parameter numSignatures"),
        ({**base, "numSignatures": "two", "hash": [base64.b64encode(bytes(32)).decode()]},
         "Missing (or invalid type) integer parameter numSignatures"),
        ({k: v for k, v in base.items() if k != "PIN"} | {"hash": [base64.b64encode(bytes(32)).decode()]},
         "Missing (or invalid type) string parameter PIN"),
    ]
    for body, description in cases:
        response = csc_post(client, "/csc/v1/credentials/authorize", body, alpha_token)
        assert response.status_code == 400, (body, response.content)
        assert response.json()["error"] == "invalid_request"
        assert response.json()["error_description"] == description, response.json()
    too_many = csc_post(client, "/csc/v1/credentials/authorize",
                        {**base, "numSignatures": 100000, "hash": [base64.b64encode(bytes(32)).decode()]}, alpha_token)
    assert too_many.status_code == 400


def test_sign_hash_checks_the_rsa_algorithms(client, world, ca, alpha_token):
    key_algorithm_set(world.alpha.organization, "rsa-2048")
    certificate = active(world.alpha.holder)
    digest = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    base = {"credentialID": certificate.iut, "SAD": "sad", "hash": [digest]}
    ecdsa = csc_post(client, "/csc/v1/signatures/signHash", {**base, "signAlgo": "1.2.840.10045.4.3.2"}, alpha_token)
    assert ecdsa.json()["error_description"] == "Invalid parameter signAlgo"
    bare = csc_post(client, "/csc/v1/signatures/signHash", {**base, "signAlgo": "1.2.840.113549.1.1.1"}, alpha_token)
    assert bare.json()["error_description"] == "Missing parameter hashAlgo"
    mismatch = csc_post(client, "/csc/v1/signatures/signHash",
                        {**base, "signAlgo": "1.2.840.113549.1.1.13"}, alpha_token)
    assert mismatch.json()["error_description"].startswith("Invalid parameter hash")


# --- credentials/extendTransaction ------------------------------------------------------------------

def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(v).decode() for v in values]


def _digests(n: int, tag: str = "exam record") -> list[bytes]:
    return [hashlib.sha256(f"{tag} {i}".encode()).digest() for i in range(n)]


def _csc_authorize(client, token, signer, digests: list[bytes]) -> dict:
    response = csc_post(client, "/csc/v1/credentials/authorize", {
        "credentialID": signer.certificate.iut, "numSignatures": len(digests), "hash": _b64(digests), "PIN": PIN,
        "OTP": signer.otp()}, token)
    assert response.status_code == 200, response.content
    return response.json()


def _extend(client, token, certificate, sad: str, version: str = "v1", **extra):
    return csc_post(client, f"/csc/{version}/credentials/extendTransaction",
                    {"credentialID": certificate.iut, "SAD": sad, **extra}, token)


def _sign_hash(client, token, certificate, sad: str, digests: list[bytes]):
    return csc_post(client, "/csc/v1/signatures/signHash", {
        "credentialID": certificate.iut, "SAD": sad, "hash": _b64(digests),
        "signAlgo": sha256_sign_algo(certificate)}, token)


def _extension_refusals(error: str) -> int:
    from audit.models import AuditEvent

    return AuditEvent.objects.filter(event_type="signature.refused", details__step="extend",
                                     details__error=error).count()


def test_extend_transaction_gives_a_working_new_sad_and_the_old_one_stops_working(client, signer, alpha_token):

    from audit.models import AuditEvent
    from signing.models import SignatureActivation

    digests = _digests(2)
    old = _csc_authorize(client, alpha_token, signer, digests)
    old_id = str(SignatureActivation.objects.get().public_id)

    extended = _extend(client, alpha_token, signer.certificate, old["SAD"], hash=_b64(digests))

    assert extended.status_code == 200, extended.content
    new = extended.json()
    assert set(new) == {"SAD", "expiresIn"} and new["SAD"] != old["SAD"] and 0 < new["expiresIn"] <= 300
    stale = _sign_hash(client, alpha_token, signer.certificate, old["SAD"], digests[:1])
    assert stale.status_code == 400 and stale.json()["error_details"]["code"] == "sad_expired"
    signed = _sign_hash(client, alpha_token, signer.certificate, new["SAD"], digests)
    assert signed.status_code == 200, signed.content
    for digest, signature in zip(digests, signed.json()["signatures"], strict=True):
        hash_signature_verify(signer.certificate, digest, base64.b64decode(signature))
    activation = SignatureActivation.objects.get()
    assert str(activation.public_id) != old_id  # the old token's id finds no row
    event = AuditEvent.objects.get(event_type="signature.extended")
    assert event.details["previous"] == old_id and event.details["activation"] == str(activation.public_id)
    assert event.details["signatures_left"] == 2 and old["SAD"] not in str(event.details)
    assert new["SAD"] not in str(AuditEvent.objects.values_list("details", flat=True))


def test_extending_keeps_the_remaining_hashes_and_count_and_authorizes_nothing_new(client, signer, alpha_token):
    from signing.models import SignatureActivation

    digests = _digests(3)
    sad = _csc_authorize(client, alpha_token, signer, digests)["SAD"]
    assert _sign_hash(client, alpha_token, signer.certificate, sad, digests[:1]).status_code == 200
    before = SignatureActivation.objects.values("hashes", "signatures_left", "num_signatures").get()

    # v2, naming one of the hashes still authorized: the new SAD still covers both remaining ones.
    extended = _extend(client, alpha_token, signer.certificate, sad, "v2", hashes=_b64(digests[2:]),
                       hashAlgorithmOID="2.16.840.1.101.3.4.2.1")
    assert extended.status_code == 200, extended.content
    sad = extended.json()["SAD"]
    assert SignatureActivation.objects.values("hashes", "signatures_left", "num_signatures").get() == before
    assert before["signatures_left"] == 2 and before["hashes"] == [d.hex() for d in digests[1:]]

    # A hash that was never authorized, or one already signed: unauthorized_hash, nothing changes.
    for foreign in (_digests(1, "other"), digests[:1]):
        refused = _extend(client, alpha_token, signer.certificate, sad, hash=_b64(foreign))
        assert refused.status_code == 400 and refused.json()["error_details"]["code"] == "unauthorized_hash"
    assert _extension_refusals("unauthorized_hash") == 2
    refused_again = _sign_hash(client, alpha_token, signer.certificate, sad, digests[:1])
    assert refused_again.json()["error_details"]["code"] == "unauthorized_hash"
    assert _sign_hash(client, alpha_token, signer.certificate, sad, digests[1:]).status_code == 200


def test_extension_is_refused_after_the_total_bound_and_the_expiry_never_passes_it(client, signer, alpha_token,
                                                                                   settings):
    from datetime import timedelta

    from django.utils import timezone

    from signing.models import SignatureActivation

    digests = _digests(1)
    sad = _csc_authorize(client, alpha_token, signer, digests)["SAD"]
    bound = settings.SIGNING_SAD_MAX_TOTAL_SECONDS
    SignatureActivation.objects.update(created_at=timezone.now() - timedelta(seconds=bound - 60))

    capped = _extend(client, alpha_token, signer.certificate, sad)
    assert capped.status_code == 200, capped.content
    assert 0 < capped.json()["expiresIn"] <= 60
    sad = capped.json()["SAD"]

    SignatureActivation.objects.update(created_at=timezone.now() - timedelta(seconds=bound))
    refused = _extend(client, alpha_token, signer.certificate, sad)
    assert refused.status_code == 400 and refused.json()["error_details"]["code"] == "sad_expired"
    assert _extension_refusals("sad_expired") == 1
    # Refusing the extension does not end the authorization: it signs until it expires.
    assert _sign_hash(client, alpha_token, signer.certificate, sad, digests).status_code == 200


def test_extension_by_another_client_is_refused_as_signing_refuses_it(client, world, signer, alpha_token):
    from tests.signing.conftest import api_client_for, token_for

    digests = _digests(1)
    sad = _csc_authorize(client, alpha_token, signer, digests)["SAD"]
    other = token_for(client, *api_client_for(world.alpha, name="Other system"))["access_token"]
    beta = token_for(client, *api_client_for(world.beta, name="Beta system"))["access_token"]

    same_org = _extend(client, other, signer.certificate, sad)
    signing = _sign_hash(client, other, signer.certificate, sad, digests)
    assert same_org.status_code == 400 and same_org.json() == signing.json()
    assert same_org.json()["error"] == "invalid_request"
    foreign = _extend(client, beta, signer.certificate, sad)
    assert foreign.status_code == 400 and foreign.json()["error_description"] == "Invalid parameter credentialID"
    assert _extension_refusals("invalid_request") == 1
    # The holder's own client still has a working SAD: nothing was extended or spent.
    assert _sign_hash(client, alpha_token, signer.certificate, sad, digests).status_code == 200


def test_extension_for_another_credential_is_refused_as_signing_refuses_it(client, world, signer, alpha_token):
    digests = _digests(1)
    sad = _csc_authorize(client, alpha_token, signer, digests)["SAD"]
    other = active(world.alpha.holders[1])

    refused = _extend(client, alpha_token, other, sad)
    signing = _sign_hash(client, alpha_token, other, sad, digests)

    assert refused.status_code == 400 and refused.json() == signing.json()
    assert refused.json()["error"] == "invalid_request"
    assert _extension_refusals("invalid_request") == 1
    assert _sign_hash(client, alpha_token, signer.certificate, sad, digests).status_code == 200


def test_extension_of_a_used_up_expired_or_forged_sad_is_sad_expired(client, signer, alpha_token):
    from datetime import timedelta

    from django.utils import timezone

    from signing.models import SignatureActivation

    digests = _digests(1)
    used = _csc_authorize(client, alpha_token, signer, digests)["SAD"]
    assert _sign_hash(client, alpha_token, signer.certificate, used, digests).status_code == 200
    expired = _csc_authorize(client, alpha_token, signer, digests)["SAD"]
    SignatureActivation.objects.filter(closed_at__isnull=True).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    live = _csc_authorize(client, alpha_token, signer, digests)["SAD"]
    forged = live[:22] + ("A" if live[22] != "A" else "B") + live[23:]  # the live id, another K

    for sad in (used, expired, forged):
        response = _extend(client, alpha_token, signer.certificate, sad)
        assert response.status_code == 400, response.content
        assert response.json()["error_details"]["code"] == "sad_expired"
    assert _extension_refusals("sad_expired") == 3
    malformed = _extend(client, alpha_token, signer.certificate, "not-a-sad")
    assert malformed.status_code == 400 and malformed.json()["error"] == "invalid_request"
    # The expired one was closed on the way; the forged attempt left the live one intact.
    assert not SignatureActivation.objects.filter(closed_at__isnull=True).exclude(expires_at__gt=timezone.now())
    assert _sign_hash(client, alpha_token, signer.certificate, live, digests).status_code == 200


def test_an_unknown_csc_method_is_a_csc_404(client):
    response = client.post("/csc/v1/credentials/nothing", "{}", content_type="application/json")
    assert response.status_code == 404 and response.json()["error"] == "invalid_request"


def test_get_is_not_allowed(client, alpha_token):
    response = client.get("/csc/v1/credentials/list", HTTP_AUTHORIZATION=f"Bearer {alpha_token}")
    assert response.status_code == 405 and response.json()["error"] == "invalid_request"


def _with_app(holder, seed: bytes = b"12345678901234567890") -> bytes:
    OtpDevice.objects.filter(holder=holder).update(state=DeviceState.RETIRED)
    device_create(kind=DeviceKind.APP_TOTP, holder=holder, seed=seed)
    return seed


def test_authorize_then_sign_hash_with_pin_and_otp(client, world, ca, alpha_token):
    import time

    from otp.oath import totp

    certificate = active(world.alpha.holder)
    seed = _with_app(world.alpha.holder)
    digests = [hashlib.sha256(f"exam record {i}".encode()).digest() for i in range(3)]
    b64 = [base64.b64encode(d).decode() for d in digests]
    authorized = csc_post(client, "/csc/v1/credentials/authorize", {
        "credentialID": certificate.iut, "numSignatures": 3, "hash": b64, "PIN": PIN,
        "OTP": totp(seed, time.time())}, alpha_token)
    assert authorized.status_code == 200, authorized.content
    assert 0 < authorized.json()["expiresIn"] <= 300
    signed = csc_post(client, "/csc/v1/signatures/signHash", {
        "credentialID": certificate.iut, "SAD": authorized.json()["SAD"], "hash": b64,
        "signAlgo": sha256_sign_algo(certificate)}, alpha_token)
    assert signed.status_code == 200, signed.content
    for digest, signature in zip(digests, signed.json()["signatures"], strict=True):
        hash_signature_verify(certificate, digest, base64.b64decode(signature))
    # Single use: the same SAD again is refused in CSC form.
    again = csc_post(client, "/csc/v1/signatures/signHash", {
        "credentialID": certificate.iut, "SAD": authorized.json()["SAD"], "hash": b64,
        "signAlgo": sha256_sign_algo(certificate)}, alpha_token)
    assert again.status_code == 400 and again.json()["error"] == "invalid_request"


def test_a_wrong_pin_is_invalid_pin_in_csc_form(client, world, ca, alpha_token):
    import time

    from otp.oath import totp

    certificate = active(world.alpha.holder)
    seed = _with_app(world.alpha.holder)
    response = csc_post(client, "/csc/v1/credentials/authorize", {
        "credentialID": certificate.iut, "numSignatures": 1, "hash": [base64.b64encode(bytes(32)).decode()],
        "PIN": "00000000", "OTP": totp(seed, time.time())}, alpha_token)
    assert response.status_code == 400 and response.json()["error_details"]["code"] == "invalid_pin"


def test_a_replayed_otp_is_invalid_otp_in_csc_form_with_the_replay_message(client, world, ca, alpha_token):
    import time

    from otp.oath import totp

    certificate = active(world.alpha.holder)
    seed = _with_app(world.alpha.holder)
    body = {"credentialID": certificate.iut, "numSignatures": 1, "hash": [base64.b64encode(bytes(32)).decode()],
            "PIN": PIN, "OTP": totp(seed, time.time())}
    assert csc_post(client, "/csc/v1/credentials/authorize", body, alpha_token).status_code == 200

    again = csc_post(client, "/csc/v1/credentials/authorize", body, alpha_token)

    assert again.json() == {
        "error": "invalid_request", "error_description": "The OTP is invalid",
        "error_details": {"code": "otp_replayed",
                          "message": "Questo codice è già stato utilizzato. Usa un nuovo codice."}}


# --- pyHanko's own CSC client against a live server -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_pyhanko_csc_signer_fetches_the_credential(live_server, world, ca_hierarchy):
    import aiohttp
    from pyhanko.sign.signers.csc_signer import CSCServiceSessionInfo, fetch_certs_in_csc_credential

    from tests.certificates.conftest import load_hierarchy
    from tests.signing.conftest import api_client_for

    load_hierarchy(ca_hierarchy)
    certificate = active(world.alpha.holder)
    api_client, secret = api_client_for(world.alpha)

    async def run() -> object:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{live_server.url}/csc/v1/oauth2/token", data={
                "grant_type": "client_credentials", "client_id": api_client.client_id, "client_secret": secret,
            }) as response:
                token = (await response.json())["access_token"]
            info = CSCServiceSessionInfo(live_server.url, certificate.iut, oauth_token=token)
            return await fetch_certs_in_csc_credential(session, info)

    credential = run_coroutine(run())
    assert credential.signing_cert.serial_number == int(certificate.serial)
    assert len(credential.chain) == 2
    assert credential.hash_pinning_required is True
    assert "sha256_ecdsa" in credential.supported_mechanisms  # the default key algorithm, ECDSA P-256
    assert credential.max_batch_size >= 1


class PinAndOtpFromTheHolder:
    """What an exam-records system does at ``credentials/authorize``: the holder's PIN and a fresh OTP,
    bound to the hashes pyHanko is about to sign (pyHanko leaves this step to the integrator)."""

    @staticmethod
    def manager(session, info, credential, seed: bytes):
        import time
        from datetime import timedelta

        from pyhanko.sign.signers.csc_signer import CSCAuthorizationInfo, CSCAuthorizationManager

        from otp.oath import totp

        class Manager(CSCAuthorizationManager):
            async def authorize_signature(self, hash_b64s):
                body = self.format_csc_auth_request(
                    num_signatures=len(hash_b64s), pin=PIN, otp=totp(seed, time.time()), hash_b64s=hash_b64s,
                )
                async with session.post(self.csc_session_info.endpoint_url("credentials/authorize"), json=body,
                                        headers=self.csc_session_info.auth_headers) as response:
                    data = await response.json()
                    assert response.status == 200, data
                expires = datetime.now(UTC) + timedelta(seconds=data["expiresIn"])
                return CSCAuthorizationInfo(sad=data["SAD"], expires_at=expires)

        return Manager(info, credential)


@pytest.mark.django_db(transaction=True)
def test_pyhankos_own_csc_signer_signs_a_pdf_through_csc_v1_and_it_validates(live_server, world, ca_hierarchy):
    import aiohttp
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.signers.csc_signer import CSCServiceSessionInfo, CSCSigner, fetch_certs_in_csc_credential

    from signing.services import pdf_validate
    from tests.certificates.conftest import load_hierarchy
    from tests.signing.conftest import api_client_for, pdf_make

    load_hierarchy(ca_hierarchy)
    certificate = active(world.alpha.holder)
    seed = _with_app(world.alpha.holder)
    api_client, secret = api_client_for(world.alpha)

    async def run() -> bytes:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{live_server.url}/csc/v1/oauth2/token", data={
                "grant_type": "client_credentials", "client_id": api_client.client_id, "client_secret": secret,
            }) as response:
                token = (await response.json())["access_token"]
            info = CSCServiceSessionInfo(live_server.url, certificate.iut, oauth_token=token)
            credential = await fetch_certs_in_csc_credential(session, info)
            signer = CSCSigner(session, auth_manager=PinAndOtpFromTheHolder.manager(session, info, credential, seed))
            output = await signers.async_sign_pdf(
                IncrementalPdfFileWriter(io.BytesIO(pdf_make())),
                signers.PdfSignatureMetadata(field_name="Firma"), signer=signer,
            )
            return output.getvalue()

    signed = run_coroutine(run())
    (signature,) = pdf_validate(data=signed).signatures
    assert signature.intact and signature.valid and signature.trusted and not signature.revoked
    assert str(certificate.subject_common_name) in signature.signer


def test_sign_doc_reads_bodies_up_to_its_own_limit_not_djangos_2_5_mib(client, world, ca, alpha_token,
                                                                       monkeypatch):
    from signing.api.csc.views import SignDocApi

    certificate = active(world.alpha.holder)
    document = base64.b64encode(b"%PDF-1.7\n" + b"0" * 3_000_000).decode()  # a 4 MB body
    body = {"credentialID": certificate.iut, "SAD": "not-a-sad", "documents": [
        {"document": document, "signature_format": "P", "signAlgo": sha256_sign_algo(certificate)}]}
    response = csc_post(client, "/csc/v2/signatures/signDoc", body, alpha_token)
    # Read and parsed: refused for its forged SAD, not for its size.
    assert response.status_code == 400, response.content[:300]
    assert "too large" not in response.json()["error_description"]
    monkeypatch.setattr(SignDocApi, "max_body_bytes", 1_000_000)
    assert csc_post(client, "/csc/v2/signatures/signDoc", body, alpha_token).status_code == 413


@pytest.mark.parametrize(
    ("accept_language", "description"),
    [("", "Metodo sconosciuto."), ("en-GB,en;q=0.9", "Unknown method."), ("fr, en;q=0.5", "Unknown method."),
     ("de", "Metodo sconosciuto."), ("x" * 10_000, "Metodo sconosciuto.")],
    ids=["default-italian", "english", "english-second-choice", "unavailable-language", "garbage-header"],
)
def test_api_errors_speak_the_language_the_program_asks_for(client, db, accept_language, description):
    response = client.post("/csc/v1/no/such/method", data="{}", content_type="application/json",
                           HTTP_ACCEPT_LANGUAGE=accept_language)

    assert response.status_code == 404
    assert response.json() == {"error": "invalid_request", "error_description": description}
    assert "Accept-Language" in response["Vary"]


def test_the_panel_still_ignores_accept_language(client, db):
    page = client.get("/accesso/", HTTP_ACCEPT_LANGUAGE="en")

    assert page["Content-Language"] == "it"
