"""Issuance at the registration office: register + issue + activation messages, all or nothing; resend;
the console pages, and tenant isolation of every certificate action."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
from django.contrib.auth.hashers import check_password
from django.urls import reverse
from django.utils import timezone

from accounts.models import ContactOwnership, Holder, User
from audit.models import AuditEvent
from certificates.models import Activation, ActivationState, Certificate, CertificateKey, CertificateState
from certificates.services.issuance import (
    activation_resend,
    certificate_issue_for_holder,
    holder_register_and_issue,
    username_generate,
)
from certificates.services.lifecycle import certificate_revoke
from core.errors import ApplicationError
from notifications.models import Channel, Message
from notifications.sealing import MASK, unseal
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.services import device_create
from tests.certificates.conftest import active, issued
from tests.conftest import OPERATOR_PASSWORD, confirmed, login

pytestmark = pytest.mark.both_vaults

SERIAL = "4000000000001"
TEMPORARY = re.compile(r"\b([A-Za-z2-9]{4}(?:-[A-Za-z2-9]{4}){3,})\b")  # the shape, whatever the language


def person(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "given_name": "Giulia",
        "surname": "Verdi",
        "codice_fiscale": "VRDGLI85C41F257N",
        "email": "giulia.verdi@alpha.example.org",
        "mobile": "+39 347 200 0001",
        "birth_date": date(1985, 3, 1),
        "birth_place": "Modena",
        "id_document_type": "identity_card",
        "id_document_number": "CA12345AB",
        "id_document_issuer": "Comune di Modena",
        "id_document_expiry": timezone.localdate() + timedelta(days=700),
        "residence_address": "Via Giardini 10",
        "residence_postal_code": "41124",
        "residence_city": "Modena",
        "residence_province": "MO",
        "role_organization": "Università Alfa",
        "role_title": "Ricercatrice",
    }
    data.update(overrides)
    return data


def register(world, otp_choice: str = "sms", **overrides: object) -> Certificate:
    data = person(**overrides)
    serial = str(data.pop("token_serial", ""))
    return holder_register_and_issue(
        organization=world.alpha.organization, actor=world.alpha.operator.user, otp_choice=otp_choice,
        token_serial=serial, ip="10.0.0.1", **data,
    )


def sealed_text(message: Message) -> str:
    return json.loads(unseal(message.body_sealed))["text"]


def activation_messages(holder: Holder) -> tuple[Message, Message]:
    email = Message.objects.get(holder=holder, message_type="certificate_activation", channel=Channel.EMAIL)
    sms = Message.objects.get(holder=holder, message_type="certificate_activation_password", channel=Channel.SMS)
    return email, sms


def test_it_registers_the_holder_issues_the_certificate_and_queues_the_activation(world, ca):
    certificate = register(world)
    holder = Holder.objects.select_related("user").get(pk=certificate.holder_id)
    assert holder.user.username == "giulia.verdi"
    assert not holder.user.has_usable_password()  # only the activation gives the account a password
    assert holder.codice_fiscale == "VRDGLI85C41F257N" and holder.mobile == "+393472000001"
    assert holder.id_document_number == "CA12345AB" and holder.role_title == "Ricercatrice"
    assert certificate.state == CertificateState.ISSUED and certificate.issued_by == world.alpha.operator.user
    key = CertificateKey.objects.get(certificate=certificate)
    assert key.awaiting_pin and key.destroyed_at is None
    assert holder.user_code_hash

    activation = Activation.objects.get(certificate=certificate)
    assert activation.state == ActivationState.SENT and activation.expires_at == certificate.activation_deadline

    email, sms = activation_messages(holder)
    assert email.recipient == holder.email and sms.recipient == holder.mobile
    # Stored bodies are masked; the secrets are only in the sealed copy the worker sends.
    assert MASK in email.body_text and "giulia.verdi" in email.body_text
    assert "/attivazione/link/" not in email.body_text and "/attivazione/link/" not in email.body_html
    mail = sealed_text(email)
    user_code = re.search(r"\b(\d{10})\b", mail).group(1)
    assert check_password(user_code, Holder.objects.get(pk=holder.pk).user_code_hash)
    assert re.search(r"/attivazione/link/[\w-]{20,}/", mail)
    temporary = TEMPORARY.search(sealed_text(sms)).group(1)
    assert len(temporary.replace("-", "")) >= 16
    assert temporary not in sms.body_text
    assert check_password(temporary, activation.temporary_password_hash)

    events = set(AuditEvent.objects.values_list("event_type", flat=True))
    assert {"holder.created", "certificate.requested", "certificate.issued", "certificate.activation_sent",
            "operator.holder_registered", "holder.user_code_issued"} <= events


def test_usernames_are_generated_from_the_name_and_made_unique(world, ca):
    assert username_generate(given_name="Mario", surname="Rossi") == "mario.rossi1"  # mario.rossi is in the world
    assert username_generate(given_name="Nicolò", surname="D'Angelo De Luca") == "nicolo.dangelodeluca"


def test_it_assigns_the_hardware_token_by_serial(world, ca):
    device_create(kind=DeviceKind.HARDWARE_HOTP, seed=b"12345678901234567890", serial=SERIAL,
                  state=DeviceState.AVAILABLE)
    certificate = register(world, otp_choice="hardware", token_serial=SERIAL)
    token = OtpDevice.objects.get(serial=SERIAL)
    assert token.holder == certificate.holder and token.state == DeviceState.ACTIVE


def _nothing_was_created() -> None:
    assert not Holder.objects.filter(codice_fiscale="VRDGLI85C41F257N").exists()
    assert not User.objects.filter(username__startswith="giulia").exists()
    assert not Certificate.objects.filter(subject_surname="Verdi").exists()
    assert not Message.objects.filter(message_type__startswith="certificate_activation").exists()
    assert not Activation.objects.exists()
    assert not ContactOwnership.objects.filter(codice_fiscale="VRDGLI85C41F257N").exists()


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"codice_fiscale": "VRDGLI85C41F257X"}, "invalid_codice_fiscale"),  # checksum
        ({"email": "mario.rossi@alpha.example.org"}, "contact_taken"),  # another person's e-mail
        ({"mobile": "+393471000001"}, "contact_taken"),  # another person's mobile
        ({"id_document_expiry": date(2020, 1, 1)}, "id_document_expired"),
        ({"token_serial": "9999999999999"}, "serial_unknown"),
        ({"token_serial": "12345"}, "serial_format"),
    ],
)
def test_a_refusal_leaves_nothing_behind(world, ca, overrides, code):
    choice = "hardware" if "token_serial" in overrides else "sms"
    with pytest.raises(ApplicationError) as refused:
        register(world, otp_choice=choice, **overrides)
    assert refused.value.code == code
    assert str(refused.value.message)
    _nothing_was_created()


def test_an_already_assigned_token_is_refused_and_nothing_is_created(world, ca):
    device_create(kind=DeviceKind.HARDWARE_HOTP, seed=b"12345678901234567890", serial=SERIAL,
                  holder=world.alpha.holder)
    with pytest.raises(ApplicationError) as refused:
        register(world, otp_choice="hardware", token_serial=SERIAL)
    assert refused.value.code == "serial_assigned"
    _nothing_was_created()


def test_without_a_ca_nothing_is_created(world):
    with pytest.raises(ApplicationError) as refused:
        register(world)
    assert refused.value.code == "ca_not_ready"
    _nothing_was_created()


def test_a_device_kind_the_organization_does_not_use_is_refused(world, ca):
    world.alpha.organization.otp_app_allowed = False
    world.alpha.organization.save()
    with pytest.raises(ApplicationError) as refused:
        register(world, otp_choice="app")
    assert refused.value.code == "otp_choice_not_allowed"
    _nothing_was_created()


def test_a_second_live_certificate_is_refused_and_sends_nothing(world, ca):
    holder = world.alpha.holder
    active(holder)
    with pytest.raises(ApplicationError) as refused:
        certificate_issue_for_holder(holder=holder, actor=world.alpha.operator.user, otp_choice="sms")
    assert refused.value.code == "certificate_limit"
    assert Certificate.objects.filter(holder=holder).count() == 1
    assert not Message.objects.filter(holder=holder, message_type__startswith="certificate_activation").exists()


def test_a_new_certificate_after_revocation_is_issued_with_its_activation(world, ca):
    holder = world.alpha.holder
    certificate_revoke(certificate=active(holder), reason="superseded", actor=world.alpha.operator.user)
    certificate = certificate_issue_for_holder(holder=holder, actor=world.alpha.operator.user, otp_choice="app")
    assert certificate.state == CertificateState.ISSUED
    assert Activation.objects.get(certificate=certificate).otp_choice == "app"
    activation_messages(holder)


def test_resend_kills_the_old_link_and_temporary_password(world, ca):
    certificate = register(world)
    first = Activation.objects.get(certificate=certificate)
    second = activation_resend(certificate=certificate, actor=world.alpha.operator.user)
    first.refresh_from_db()
    assert first.state == ActivationState.SUPERSEDED and first.temporary_password_hash == ""
    assert second.state == ActivationState.SENT and second.link_hash != first.link_hash
    assert Message.objects.filter(holder=certificate.holder, message_type="certificate_activation").count() == 2
    assert AuditEvent.objects.filter(event_type="operator.activation_resent").exists()


def test_resend_is_refused_for_an_active_certificate(world, ca):
    certificate = active(world.alpha.holder)
    with pytest.raises(ApplicationError):
        activation_resend(certificate=certificate, actor=world.alpha.operator.user)


# --- Console pages -------------------------------------------------------------------------------------


def _form(**overrides: object) -> dict[str, object]:
    data = {key: (value.isoformat() if isinstance(value, date) else value) for key, value in person().items()}
    data.update(otp_choice="sms", token_serial="")
    data.update(overrides)
    return data


def test_the_console_form_registers_and_issues(operator_client, world, ca):
    response = operator_client.get(reverse("console:holder_new"))
    assert response.status_code == 200
    response = operator_client.post(reverse("console:holder_new"), confirmed(operator_client, _form()))
    holder = Holder.objects.get(codice_fiscale="VRDGLI85C41F257N")
    assert response.status_code == 302 and response["Location"] == reverse("console:holder_detail", args=[holder.pk])
    page = operator_client.get(response["Location"])
    assert b'data-testid="certificate-history"' in page.content
    assert Certificate.objects.get(holder=holder).iut.encode() in page.content


def test_the_console_form_shows_the_refusal_on_its_field(operator_client, world, ca):
    response = operator_client.post(
        reverse("console:holder_new"), confirmed(operator_client, _form(email="laura@alpha.example.org"))
    )
    assert response.status_code == 400
    assert response.context["form"].errors["email"]
    _nothing_was_created()


def test_the_console_revokes_only_after_confirmation(operator_client, world, ca):
    holder = world.alpha.holder
    certificate = active(holder)
    url = reverse("console:certificate_revoke", args=[holder.pk, certificate.pk])
    assert operator_client.get(url).status_code == 200
    response = operator_client.post(url, confirmed(operator_client, {"reason": "key_compromise"}))  # not ticked
    assert response.status_code == 400
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ACTIVE
    response = operator_client.post(url, {"reason": "key_compromise", "confirm": "on"})
    assert response.status_code == 302
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.REVOKED and certificate.revocation_reason == "key_compromise"

    # A new certificate, from the holder detail.
    detail = operator_client.get(reverse("console:holder_detail", args=[holder.pk]))
    assert b'data-testid="certificate-issue-form"' in detail.content
    operator_client.post(
        reverse("console:certificate_issue", args=[holder.pk]), confirmed(operator_client, {"issue-otp_choice": "app"})
    )
    new = Certificate.objects.filter(holder=holder).latest("pk")
    assert new.pk != certificate.pk and new.state == CertificateState.ISSUED
    detail = operator_client.get(reverse("console:holder_detail", args=[holder.pk]))
    assert b'data-testid="certificate-issue-form"' not in detail.content
    assert b'data-testid="activation-resend"' in detail.content


def test_the_console_suspends_and_reactivates(operator_client, world, ca):
    holder = world.alpha.holder
    certificate = active(holder)
    operator_client.post(reverse("console:certificate_suspend", args=[holder.pk, certificate.pk]), {"note": "x"})
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.SUSPENDED
    operator_client.post(
        reverse("console:certificate_reactivate", args=[holder.pk, certificate.pk]), confirmed(operator_client)
    )
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ACTIVE


def test_another_organizations_operator_gets_404_everywhere(client, world, ca):
    holder = world.alpha.holder
    certificate = issued(holder)
    assert login(client, world.beta.operator.user.username, OPERATOR_PASSWORD, portal="console").status_code == 302
    posts = [
        reverse("console:certificate_issue", args=[holder.pk]),
        reverse("console:activation_resend", args=[holder.pk, certificate.pk]),
        reverse("console:certificate_suspend", args=[holder.pk, certificate.pk]),
        reverse("console:certificate_reactivate", args=[holder.pk, certificate.pk]),
        reverse("console:certificate_revoke", args=[holder.pk, certificate.pk]),
        # beta's own holder with alpha's certificate: still 404
        reverse("console:certificate_revoke", args=[world.beta.holder.pk, certificate.pk]),
    ]
    data = {"reason": "unspecified", "confirm": "on", "issue-otp_choice": "sms"}
    for url in posts:  # confirmed with the operator's factor: the refusal is the tenancy's, not the confirmation's
        assert client.post(url, confirmed(client, data)).status_code == 404, url
    assert client.get(reverse("console:certificate_revoke", args=[holder.pk, certificate.pk])).status_code == 404
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ISSUED
    assert Activation.objects.count() == 0 and Certificate.objects.filter(holder=holder).count() == 1


def test_an_organization_allowing_two_certificates_is_offered_the_second_one(operator_client, world, ca):
    """The console offers issuance exactly when the service would accept it: the organization's limit."""
    from tests.certificates.conftest import active

    holder = world.alpha.holder
    active(holder)
    detail = reverse("console:holder_detail", args=[holder.pk])
    assert b'data-testid="certificate-issue-form"' not in operator_client.get(detail).content  # 1 of 1
    world.alpha.organization.max_active_certificates = 2
    world.alpha.organization.save(update_fields=["max_active_certificates"])
    assert b'data-testid="certificate-issue-form"' in operator_client.get(detail).content  # 1 of 2
    response = operator_client.post(
        reverse("console:certificate_issue", args=[holder.pk]), confirmed(operator_client, {"issue-otp_choice": "app"})
    )
    assert response.status_code == 302
    assert Certificate.objects.filter(holder=holder).count() == 2
    assert b'data-testid="certificate-issue-form"' not in operator_client.get(detail).content  # 2 of 2
