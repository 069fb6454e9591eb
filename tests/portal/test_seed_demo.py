"""`seed_demo`: the demo world a new user logs into after `make run` (idempotent, JSON on stdout)."""

from __future__ import annotations

import base64
import io
import json
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from accounts.models import Holder, Operator, Organization, User
from audit.services import audit_chain_verify
from core.errors import ApplicationError
from otp.oath import totp
from renewal.selectors import renewal_eligibility
from renewal.services import renewal_start
from tests.certificates.conftest import ca_hierarchy, load_hierarchy  # noqa: F401  (session-built CA)
from tests.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _ca_built_once(request: pytest.FixtureRequest) -> None:
    """The CA's keys are built once per session and loaded here (seed_demo then finds it), except in
    the test that checks seed_demo creates a missing CA."""
    if "lifecycle_with_their_signing_pin" not in request.node.name:
        load_hierarchy(request.getfixturevalue("ca_hierarchy"))


def seed() -> dict:
    out = io.StringIO()
    call_command("seed_demo", "--force", stdout=out)
    return json.loads(out.getvalue())


def test_seed_demo_creates_three_organizations_with_their_renewal_policies():
    summary = seed()
    assert [o["slug"] for o in summary["organizations"]] == ["unimore", "cciaa-mantova", "comune-reggio-emilia"]
    university = Organization.objects.get(slug="unimore")
    chamber = Organization.objects.get(slug="cciaa-mantova")
    municipality = Organization.objects.get(slug="comune-reggio-emilia")
    assert (university.certificate_validity_months, university.renewable, university.renewal_requires_approval) == (
        36, True, True
    )
    assert (chamber.certificate_validity_months, chamber.renewable) == (24, False)
    # The municipality renews automatically: the signed form is enough.
    assert (municipality.renewable, municipality.renewal_requires_approval) == (True, False)
    assert summary["renewal"]["automatic"] == ["comune-reggio-emilia"]
    assert summary["renewal"]["not_renewable"] == [
        {"organization": "cciaa-mantova", "holders": ["lucia.neri", "franco.galli"]}
    ]
    for organization in (university, chamber, municipality):
        roles = set(Operator.objects.filter(organization=organization).values_list("role", flat=True))
        assert roles == {"operator", "org_admin"}
        assert Holder.objects.filter(organization=organization).exists()
    # The chamber of commerce does not renew: its holders are told so, and no renewal starts.
    lucia = Holder.objects.get(user__username="lucia.neri")
    certificate = lucia.certificates.get()
    assert renewal_eligibility(certificate=certificate).verdict == "not_renewable"
    with pytest.raises(ApplicationError) as refused:
        renewal_start(holder=lucia, certificate=certificate)
    assert refused.value.code == "renewal_not_renewable"


def test_every_printed_login_works_in_its_portal():
    summary = seed()
    for organization in summary["organizations"]:
        for holder in organization["holders"]:
            assert login(Client(), holder["username"], holder["password"]).status_code == 302, holder
        for operator in organization["operators"]:
            client = Client()
            password_step = client.post(
                reverse("console:login"), {"username": operator["username"], "password": operator["password"]}
            )
            assert password_step["Location"] == reverse("console:second_factor")
            # The printed secret is what an authenticator app would be given.
            secret = operator["totp_secret"]
            code = totp(base64.b32decode(secret + "=" * (-len(secret) % 8)), time.time())
            signed_in = client.post(reverse("console:second_factor"), {"confirmation_code": code})
            assert signed_in.status_code == 302 and signed_in["Location"] == reverse("console:home"), operator


def test_seed_demo_is_idempotent_and_resets_demo_passwords_and_lockouts():
    from certificates.models import Certificate
    from renewal.models import RenewalRequest

    first = seed()
    request = RenewalRequest.objects.get()
    mario = User.objects.get(username="mario.rossi")
    mario.set_password("Cambiata-Durante-La-Demo-1")
    mario.save()
    for _ in range(5):
        login(Client(), "mario.rossi", "wrong")
    second = seed()
    assert first == second
    assert User.objects.filter(username="mario.rossi").count() == 1
    assert Organization.objects.count() == 3
    assert login(Client(), "mario.rossi", second["organizations"][0]["holders"][0]["password"]).status_code == 302
    # Nothing issued, signed or sent twice: the waiting renewal is the same request.
    assert Certificate.objects.count() == 7
    assert list(RenewalRequest.objects.values_list("pk", "state")) == [(request.pk, "submitted")]
    assert audit_chain_verify().ok


def test_the_demo_chamber_of_commerce_locks_a_login_after_three_failures_the_university_after_five():
    summary = seed()
    passwords = {h["username"]: h["password"] for o in summary["organizations"] for h in o["holders"]}
    for _ in range(3):
        login(Client(), "lucia.neri", "wrong")
        login(Client(), "mario.rossi", "wrong")

    assert login(Client(), "lucia.neri", passwords["lucia.neri"]).status_code != 302  # locked at the chamber
    assert login(Client(), "mario.rossi", passwords["mario.rossi"]).status_code == 302  # 2 attempts still left
    limits = dict(Organization.objects.values_list("slug", "login_max_failures"))
    assert limits == {"unimore": 5, "cciaa-mantova": 3, "comune-reggio-emilia": 5}


def test_seed_demo_refuses_to_run_with_debug_off_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG off"):
        call_command("seed_demo", stdout=io.StringIO())
    assert not Organization.objects.exists()


def test_demo_holders_get_otp_devices_whose_printed_uris_produce_accepted_codes():
    import base64
    import time
    from urllib.parse import parse_qs, urlsplit

    from otp.models import OtpDevice
    from otp.oath import hotp, totp
    from otp.services import device_verify

    summary = seed()
    holders = {h["username"]: h for o in summary["organizations"] for h in o["holders"]}
    code_makers = (
        ("mario.rossi", lambda s: totp(s, time.time())),
        ("laura.bianchi", lambda s: hotp(s, 0)),
        ("elena.ricci", lambda s: totp(s, time.time())),
    )
    for username, make_code in code_makers:
        uri = holders[username]["otp"]["otpauth"]
        assert uri.startswith("otpauth://")
        secret = parse_qs(urlsplit(uri).query)["secret"][0]
        seed_bytes = base64.b32decode(secret + "=" * (-len(secret) % 8))
        device = OtpDevice.objects.get(holder__user__username=username)
        assert device_verify(device=device, code=make_code(seed_bytes), purpose="test").ok
    assert summary["tokens_in_stock"] == ["1000000000002", "1000000000003"]
    assert seed()["tokens_in_stock"] == ["1000000000002", "1000000000003"]  # still idempotent
    assert OtpDevice.objects.filter(staff_user=None).count() == 6  # four holders' devices, two tokens in stock


def test_demo_holders_get_a_published_user_code_that_starts_password_recovery(recaptcha):
    from accounts.models import Holder, RecoveryRequest
    from accounts.services.recovery import password_recovery_start

    summary = seed()
    entry = summary["organizations"][0]["holders"][0]
    assert len(entry["user_code"]) == 10 and entry["user_code"].isdigit()
    holder = Holder.objects.get(user__username=entry["username"])
    assert entry["user_code"] not in holder.user_code_hash
    recovery = password_recovery_start(username=entry["username"], user_code=entry["user_code"])
    assert RecoveryRequest.objects.get(pk=recovery.pk).holder == holder


@pytest.mark.clock
def test_demo_holders_get_certificates_at_several_points_of_the_lifecycle_with_their_signing_pin():
    from datetime import timedelta

    from django.utils import timezone

    from certificates.models import Certificate, CertificateAuthority
    from certificates.services import certificate_key_unlock

    assert not CertificateAuthority.objects.exists()
    summary = seed()
    assert CertificateAuthority.objects.filter(is_current=True).count() == 4  # the CA, created by seed_demo
    holders = {h["username"]: h for o in summary["organizations"] for h in o["holders"]}
    states = {username: entry["certificate"]["state"] for username, entry in holders.items()}
    assert states == {"mario.rossi": "active", "laura.bianchi": "active", "giuseppe.verdi": "suspended",
                      "chiara.romano": "active", "lucia.neri": "active", "franco.galli": "revoked",
                      "elena.ricci": "active"}
    today = timezone.localdate()
    valid_until = {u: e["certificate"]["valid_until"] for u, e in holders.items()}
    assert valid_until["laura.bianchi"] == (today + timedelta(days=45)).isoformat()
    assert valid_until["chiara.romano"] == (today + timedelta(days=20)).isoformat()
    assert valid_until["lucia.neri"] == (today + timedelta(days=6)).isoformat()
    assert valid_until["elena.ricci"] == (today + timedelta(days=30)).isoformat()
    assert valid_until["mario.rossi"] > (today + timedelta(days=365 * 2)).isoformat()
    for username, entry in holders.items():
        certificate = Certificate.objects.get(iut=entry["certificate"]["iut"])
        assert certificate.holder.user.username == username
        assert certificate.key_algorithm == certificate.organization.key_algorithm
        pin = entry["certificate"]["signing_pin"]
        assert len(pin) == 10 and pin.isdigit()
        if certificate.state == "active":  # the printed PIN opens the signing key
            assert certificate_key_unlock(certificate=certificate, pin=pin) is not None
    assert Certificate.objects.get(iut=holders["mario.rossi"]["certificate"]["iut"]).key_algorithm == "ecdsa-p256"
    assert Certificate.objects.get(iut=holders["lucia.neri"]["certificate"]["iut"]).key_algorithm == "rsa-pss-3072"
    # Running it again issues nothing new and creates no second CA.
    assert seed() == summary
    assert Certificate.objects.count() == 7 and CertificateAuthority.objects.count() == 4


@pytest.mark.clock
def test_the_demo_certificates_about_to_expire_get_their_reminders():
    from certificates.services import expiry_reminders_send
    from notifications.models import Message

    summary = seed()
    assert expiry_reminders_send() == 3
    reminders = {m.holder.user.username: m for m in Message.objects.filter(message_type="certificate_expiry_reminder")}
    # chiara.romano (20 days) is not reminded: her renewal is under way.
    assert set(reminders) == {"laura.bianchi", "lucia.neri", "elena.ricci"}
    laura, lucia, elena = reminders["laura.bianchi"], reminders["lucia.neri"], reminders["elena.ricci"]
    assert laura.idempotency_key.endswith(":60") and lucia.idempotency_key.endswith(":7")
    assert elena.idempotency_key.endswith(":30")
    assert f"{summary['panel_url']}rinnovo/" in laura.body_text  # the university renews
    assert "/rinnovo/" not in lucia.body_text  # the chamber of commerce does not


def test_the_demo_api_client_gets_a_token_with_the_printed_secret():
    summary = seed()["api_client"]
    response = Client().post("/oauth2/token", {
        "grant_type": "client_credentials", "client_id": summary["client_id"],
        "client_secret": summary["client_secret"],
    })
    assert response.status_code == 200, response.content
    assert response.json()["access_token"]


# --- Certificates that tell one story, and the renewals the demo shows ----------------------------------


def _holders(summary: dict) -> dict[str, dict]:
    return {h["username"]: h for o in summary["organizations"] for h in o["holders"]}


def _ocsp_status(certificate, issuing_cert) -> str:  # noqa: ANN001
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509 import ocsp

    from certificates.services import ocsp_respond

    cert = x509.load_der_x509_certificate(bytes(certificate.der))
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuing_cert, hashes.SHA1()).build()
    answer = ocsp.load_der_ocsp_response(ocsp_respond(request_der=request.public_bytes(Encoding.DER)))
    return answer.certificate_status.name.lower()


@pytest.mark.clock
def test_every_demo_certificate_says_in_its_x509_what_the_database_crl_and_ocsp_say(
    django_capture_on_commit_callbacks,
):
    from datetime import timedelta

    from cryptography import x509

    from certificates.models import AuthorityRole, Certificate
    from certificates.selectors import authority_current, authority_x509, crl_latest

    with django_capture_on_commit_callbacks(execute=True):  # the CRL is published when the revocation commits
        seed()
    issuing_cert = authority_x509(authority_current(AuthorityRole.ISSUING))
    crl = x509.load_der_x509_crl(bytes(crl_latest(role=AuthorityRole.ISSUING).der))
    certificates = list(Certificate.objects.select_related("holder__user"))
    assert len(certificates) == 7
    for certificate in certificates:
        cert = x509.load_der_x509_certificate(bytes(certificate.der))
        name = certificate.holder.user.username
        assert cert.not_valid_after_utc == certificate.not_after, name
        assert cert.not_valid_before_utc == certificate.not_before, name
        assert str(cert.serial_number) == certificate.serial, name
        # Backdated issuance: the row's dates count from the issuance the certificate carries.
        assert certificate.not_before <= certificate.issued_at < certificate.not_before + timedelta(minutes=6), name
        assert certificate.issued_at < certificate.activated_at < certificate.activation_deadline, name
        listed = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if certificate.state in ("active", "issued"):
            assert listed is None and _ocsp_status(certificate, issuing_cert) == "good", name
        else:  # suspended (on hold) or revoked: on the CRL and revoked for OCSP, after the issuance
            assert listed is not None and listed.revocation_date_utc > certificate.not_before, name
            assert _ocsp_status(certificate, issuing_cert) == "revoked", name


@pytest.mark.clock
def test_laura_is_inside_the_renewal_window_and_renews_end_to_end_with_the_operators_approval():
    from django.utils import timezone

    from certificates.models import Certificate
    from certificates.selectors import certificate_current_for_holder
    from otp.models import OtpDevice
    from otp.oath import hotp
    from renewal.selectors import renewal_eligibility
    from renewal.services import (
        renewal_activate,
        renewal_approve,
        renewal_consents_accept,
        renewal_data_confirm,
        renewal_start,
        renewal_submit,
    )

    summary = seed()
    entry = _holders(summary)["laura.bianchi"]
    laura = Holder.objects.select_related("user", "organization").get(user__username="laura.bianchi")
    assert laura.organization.slug == "unimore" and laura.organization.renewal_requires_approval
    certificate = certificate_current_for_holder(user=laura.user)
    assert (timezone.localdate(certificate.not_after) - timezone.localdate()).days == 45
    eligibility = renewal_eligibility(certificate=certificate)
    assert eligibility.allowed and eligibility.opens_on <= timezone.localdate()
    assert summary["renewal"]["end_to_end"][0] == {
        "holder": "laura.bianchi", "organization": "unimore", "expires_on": entry["certificate"]["valid_until"],
        "eligibility": "allowed", "decision": "operator",
    }
    assert login(Client(), "laura.bianchi", entry["password"]).status_code == 302

    request = renewal_start(holder=laura, certificate=certificate)
    request = renewal_data_confirm(request=request)
    request = renewal_consents_accept(
        request=request, form_sha256=request.form_sha256, data_still_valid=True, conditions_accepted=True
    )
    device = OtpDevice.objects.get(holder=laura)
    code = hotp(b"demo-hotp-laura-2026", device.counter)
    pin = entry["certificate"]["signing_pin"]
    request = renewal_submit(request=request, pin=pin, otp_code=code, otp_device=device)
    assert request.state == "submitted"
    operator = User.objects.get(username="unimore.operatore")
    request = renewal_approve(request=request, actor=operator)
    assert request.state == "issued" and not request.automatic
    request = renewal_activate(request=request, current_pin=pin)
    assert request.state == "activated"
    assert Certificate.objects.get(pk=certificate.pk).state == "revoked"  # superseded
    assert certificate_current_for_holder(user=laura.user).pk == request.new_certificate_id


def test_a_university_holder_has_a_signed_request_waiting_in_the_university_queue():
    from certificates.models import Certificate
    from renewal.models import RenewalRequest
    from renewal.selectors import renewal_queue_for_operator
    from signing.services import pdf_validate

    summary = seed()
    request = RenewalRequest.objects.get()
    assert (request.holder.user.username, request.organization.slug, request.state) == (
        "chiara.romano", "unimore", "submitted"
    )
    assert request.submitted_at is not None and request.consent_conditions_at is not None
    queue = renewal_queue_for_operator(user=User.objects.get(username="unimore.operatore"))
    assert list(queue) == [request]
    assert not renewal_queue_for_operator(user=User.objects.get(username="comune.operatore")).exists()
    # The form was signed for real, with the certificate being renewed, over the generated bytes.
    signed = bytes(request.signed_form_pdf)
    assert signed.startswith(bytes(request.form_pdf))
    report = pdf_validate(data=signed, name=f"{request.number}.pdf")
    assert len(report.signatures) == 1
    signature = report.signatures[0]
    assert signature.intact and signature.valid and signature.trusted and not signature.revoked
    assert signature.signer_serial_number == request.old_certificate.subject_serial_number
    assert Certificate.objects.filter(holder=request.holder).count() == 1  # waits: nothing issued yet
    assert summary["renewal"]["waiting_for_approval"] == [{
        "holder": "chiara.romano", "organization": "unimore", "number": request.number, "state": "submitted",
        "expires_on": _holders(summary)["chiara.romano"]["certificate"]["valid_until"],
        "queue_url": f"{summary['panel_url']}operatore/rinnovi/",
        "operators": ["unimore.operatore", "unimore.admin"],
    }]


def test_the_municipality_holder_renews_automatically():
    import time

    from otp.models import OtpDevice
    from otp.oath import totp
    from renewal.services import renewal_consents_accept, renewal_data_confirm, renewal_start, renewal_submit

    summary = seed()
    entry = _holders(summary)["elena.ricci"]
    assert summary["renewal"]["end_to_end"][1]["decision"] == "automatic"
    elena = Holder.objects.get(user__username="elena.ricci")
    certificate = elena.certificates.get()
    request = renewal_start(holder=elena, certificate=certificate)
    request = renewal_data_confirm(request=request)
    request = renewal_consents_accept(
        request=request, form_sha256=request.form_sha256, data_still_valid=True, conditions_accepted=True
    )
    device = OtpDevice.objects.get(holder=elena)
    request = renewal_submit(request=request, pin=entry["certificate"]["signing_pin"],
                             otp_code=totp(b"demo-totp-elena-2026", time.time()), otp_device=device)
    request.refresh_from_db()
    assert request.state == "issued" and request.automatic and request.decided_by is None
    assert request.new_certificate.state == "issued"
