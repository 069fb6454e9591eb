"""CSC API as the specification's clients expect it: discovery, language, error tables, credentials/list
paging and filtering, and an SMS code checked against the device that sent it."""

from __future__ import annotations

import base64
import time

from django.contrib.staticfiles import finders
from PIL import Image

from certificates.services import certificate_suspend
from otp.models import DeviceKind, DeviceState, OtpDevice, SmsCode
from otp.oath import totp
from otp.services import device_create
from tests.certificates.conftest import PIN, active
from tests.otp.test_sms_codes import deliver
from tests.otp.test_sms_codes import sms as sms  # noqa: F401 — the scripted SMS provider, a fixture
from tests.signing.conftest import csc_post

HASH = base64.b64encode(bytes(range(32))).decode()


def _with_app_and_sms(holder, seed: bytes = b"12345678901234567890") -> bytes:
    OtpDevice.objects.filter(holder=holder).update(state=DeviceState.RETIRED)
    device_create(kind=DeviceKind.APP_TOTP, holder=holder, seed=seed)
    device_create(kind=DeviceKind.SMS, holder=holder)
    return seed


def test_info_logo_is_a_png_of_at_most_256_pixels_a_side(client):
    body = csc_post(client, "/csc/v2/info", {}).json()
    assert body["logo"].startswith("http://testserver/") and body["logo"].endswith(".png")
    path = finders.find(body["logo"].split("/static/", 1)[1])
    with Image.open(path) as logo:
        assert logo.format == "PNG" and logo.width <= 256 and logo.height <= 256


def test_info_answers_in_the_language_asked_and_says_which_it_used(client):
    english = csc_post(client, "/csc/v2/info", {"lang": "en-GB"}).json()
    italian = csc_post(client, "/csc/v2/info", {"lang": "it"}).json()
    assert english["lang"] == "en-US" and english["description"].startswith("Remote qualified electronic signatures")
    assert italian["lang"] == "it-IT" and italian["description"].startswith("Firme elettroniche qualificate")
    # A language we do not speak, or no tag at all, is not echoed: the answer names the one used.
    for nonsense in ("123", "fr-FR", ""):
        body = csc_post(client, "/csc/v2/info", {"lang": nonsense}, HTTP_ACCEPT_LANGUAGE="en").json()
        assert body["lang"] == "en-US" and body["description"] == english["description"]


def test_credential_texts_follow_lang(client, world, ca, alpha_token):
    certificate = active(world.alpha.holder)
    body = {"credentialID": certificate.iut, "authInfo": True}
    english = csc_post(client, "/csc/v2/credentials/info", {**body, "lang": "en-US"}, alpha_token).json()
    italian = csc_post(client, "/csc/v2/credentials/info", {**body, "lang": "it-IT"}, alpha_token).json()
    assert english["lang"] == "en-US" and english["description"].startswith("Qualified signature certificate of")
    assert italian["lang"] == "it-IT" and italian["description"].startswith("Certificato di firma qualificata di")
    assert english["auth"]["objects"][0]["description"] != italian["auth"]["objects"][0]["description"]


def test_a_wrong_pin_is_answered_with_the_error_tables_words_and_our_detail_in_the_callers_language(
    client, world, ca, alpha_token
):
    certificate = active(world.alpha.holder)
    seed = _with_app_and_sms(world.alpha.holder)
    v1 = csc_post(client, "/csc/v1/credentials/authorize", {
        "credentialID": certificate.iut, "numSignatures": 1, "hash": [HASH], "PIN": "00000000",
        "OTP": totp(seed, time.time())}, alpha_token, HTTP_ACCEPT_LANGUAGE="en")
    assert v1.status_code == 400
    assert v1.json()["error"] == "invalid_request" and v1.json()["error_description"] == "The PIN is invalid"
    assert v1.json()["error_details"]["code"] == "invalid_pin"
    assert "PIN" in v1.json()["error_details"]["message"] and "attempt" in v1.json()["error_details"]["message"]

    v2 = csc_post(client, "/csc/v2/credentials/authorize", {
        "credentialID": certificate.iut, "numSignatures": 1, "hashes": [HASH],
        "authData": [{"id": "OTP", "value": totp(seed, time.time() + 30)}, {"id": "PIN", "value": "00000000"}]},
        alpha_token, HTTP_ACCEPT_LANGUAGE="it")
    assert v2.status_code == 400
    assert v2.json()["error"] == "invalid_authentication_data"
    assert v2.json()["error_description"] == "The authentication data is invalid"
    assert "tentativ" in v2.json()["error_details"]["message"]


def test_v2_auth_data_must_be_the_objects_credentials_info_declares(client, world, ca, alpha_token):
    certificate = active(world.alpha.holder)
    info = csc_post(client, "/csc/v2/credentials/info", {"credentialID": certificate.iut, "authInfo": True},
                    alpha_token).json()
    declared = {obj["id"] for obj in info["auth"]["objects"]}
    assert declared == {"PIN", "OTP"} and info["auth"]["expression"] == "PIN AND OTP"
    base = {"credentialID": certificate.iut, "numSignatures": 1, "hashes": [HASH]}
    for auth_data in (
        [{"id": "PIN", "value": PIN}],
        [{"id": "PIN", "value": PIN}, {"id": "PIN", "value": PIN}],
        [{"id": "PIN", "value": PIN}, {"id": "SMS", "value": "123456"}],
        [{"id": "PIN", "value": PIN}, {"id": "OTP", "value": "123456"}, {"id": "X", "value": "1"}],
    ):
        response = csc_post(client, "/csc/v2/credentials/authorize", {**base, "authData": auth_data}, alpha_token)
        assert response.status_code == 400
        assert response.json() == {"error": "invalid_request", "error_description": "Invalid parameter authData"}


def test_max_results_zero_or_too_large_falls_back_to_the_services_maximum(client, world, ca, alpha_token):
    certificate = active(world.alpha.holder)
    for max_results in (0, -3, 400, 100_000):
        response = csc_post(client, "/csc/v2/credentials/list", {"userID": "mario.rossi", "maxResults": max_results},
                            alpha_token)
        assert response.status_code == 200, response.content
        assert response.json()["credentialIDs"] == [certificate.iut]


def test_v2_only_valid_false_lists_suspended_credentials_too(client, world, ca, alpha_token):
    certificate = active(world.alpha.holder)
    certificate_suspend(certificate=certificate, actor=world.alpha.operator.user, note="test")
    everything = csc_post(client, "/csc/v2/credentials/list",
                          {"userID": "mario.rossi", "onlyValid": False, "credentialInfo": True}, alpha_token).json()
    assert everything["credentialIDs"] == [certificate.iut] and "onlyValid" not in everything
    assert everything["credentialInfos"][0]["key"]["status"] == "disabled"
    assert everything["credentialInfos"][0]["cert"]["status"] == "suspended"
    usable = csc_post(client, "/csc/v2/credentials/list", {"userID": "mario.rossi", "onlyValid": True},
                      alpha_token).json()
    assert usable == {"credentialIDs": [], "onlyValid": True}
    # v1 has no such parameter: it lists what can sign, as before.
    assert csc_post(client, "/csc/v1/credentials/list", {"userID": "mario.rossi"}, alpha_token).json() == {
        "credentialIDs": []}


def test_an_sms_code_from_send_otp_is_checked_against_the_sms_not_the_app(client, world, ca, alpha_token, sms):  # noqa: F811
    holder = world.alpha.holder
    certificate = active(holder)
    _with_app_and_sms(holder)
    app = OtpDevice.objects.get(holder=holder, kind=DeviceKind.APP_TOTP, state=DeviceState.ACTIVE)
    sent = csc_post(client, "/csc/v2/credentials/sendOTP", {"credentialID": certificate.iut}, alpha_token)
    assert sent.status_code == 204, sent.content
    code = deliver(SmsCode.objects.filter(holder=holder, purpose="sign").latest("created_at"))

    response = csc_post(client, "/csc/v2/credentials/authorize", {
        "credentialID": certificate.iut, "numSignatures": 1, "hashes": [HASH],
        "authData": [{"id": "PIN", "value": PIN}, {"id": "OTP", "value": code}]}, alpha_token)

    assert response.status_code == 200, response.content
    app.refresh_from_db()
    assert app.failure_count == 0 and app.locked_at is None


def test_a_page_token_of_unicode_digits_is_an_invalid_parameter_not_a_server_error(client, world, ca, alpha_token):
    response = csc_post(client, "/csc/v2/credentials/list", {"userID": "mario.rossi", "pageToken": "\u00b2"},
                        alpha_token)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": "Invalid parameter pageToken"}

