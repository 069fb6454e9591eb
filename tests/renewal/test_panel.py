"""The renewal wizard in the panel, through its pages: what the holder sees at each step, steps
that cannot be skipped, the new certificate's activation, and someone else's request."""

from __future__ import annotations

import re
import subprocess

import pytest
from django.urls import reverse

from certificates.models import CertificateState, RevocationReason
from otp.stepup import STEPUP_SESSION_KEY
from renewal.models import RenewalRequest, RenewalState
from renewal.services import renewal_approve
from tests.certificates.conftest import PIN

NEW_PIN = "Rinnovo-2026x"


def _grant(client, operation: str) -> None:
    """A step-up grant, as the OTP page leaves it (that page has its own tests)."""
    import time

    session = client.session
    session[STEPUP_SESSION_KEY] = {operation: int(time.time()) + 300}
    session.save()


def _start(client) -> RenewalRequest:
    response = client.post(reverse("renewal:start"))
    assert response.status_code == 302
    request = RenewalRequest.objects.get()
    assert response["Location"] == reverse("renewal:data", args=[request.pk])
    return request


def _submit(client, renewable) -> RenewalRequest:
    request = _start(client)
    assert client.post(reverse("renewal:data", args=[request.pk]))["Location"] == reverse(
        "renewal:consents", args=[request.pk]
    )
    request.refresh_from_db()
    response = client.post(reverse("renewal:consents", args=[request.pk]), {
        "form_sha256": request.form_sha256, "data_still_valid": "on", "conditions_accepted": "on",
    })
    assert response["Location"] == reverse("renewal:sign", args=[request.pk])
    response = client.post(reverse("renewal:sign", args=[request.pk]), {
        "pin": PIN, "device": str(renewable.device.public_id), "code": renewable.otp(),
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == reverse("renewal:outcome", args=[request.pk])
    request.refresh_from_db()
    return request


def test_the_renewal_page_offers_renewal_with_the_expiry_date(renewable, holder_client):
    page = holder_client.get(reverse("renewal:home")).content.decode()
    assert 'data-testid="renewal-start"' in page
    assert "nuovo codice identificativo" in page or "new identifier" in page


def test_a_holder_renews_through_the_pages_and_activates_the_new_certificate(world, renewable, holder_client):
    request = _submit(holder_client, renewable)
    assert request.state == RenewalState.SUBMITTED
    outcome = holder_client.get(reverse("renewal:outcome", args=[request.pk])).content.decode()
    assert 'data-state="submitted"' in outcome

    renewal_approve(request=request, actor=world.alpha.operator.user)
    request.refresh_from_db()
    assert holder_client.get(reverse("renewal:home"))["Location"] == reverse("renewal:activate", args=[request.pk])

    _grant(holder_client, "renewal_activate")
    response = holder_client.post(reverse("renewal:activate", args=[request.pk]), {
        "choice": "new", "new_pin": NEW_PIN, "new_pin_confirm": NEW_PIN,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    request.refresh_from_db()
    old, new = request.old_certificate, request.new_certificate
    old.refresh_from_db()
    new.refresh_from_db()
    assert request.state == RenewalState.ACTIVATED
    assert new.state == CertificateState.ACTIVE and new.iut != old.iut and new.serial != old.serial
    assert old.state == CertificateState.REVOKED and old.revocation_reason == RevocationReason.SUPERSEDED
    certificate_page = holder_client.get(reverse("panel:certificate")).content.decode()
    assert f"{old.iut} → {new.iut}" in certificate_page


def test_a_later_step_asked_for_early_sends_the_holder_to_the_step_that_is_due(renewable, holder_client):
    request = _start(holder_client)
    for name in ("renewal:consents", "renewal:sign"):
        response = holder_client.post(reverse(name, args=[request.pk]), {
            "form_sha256": "0" * 64, "data_still_valid": "on", "conditions_accepted": "on",
            "pin": PIN, "device": str(renewable.device.public_id), "code": "123456",
        })
        assert response.status_code == 302
        assert response["Location"] == reverse("renewal:data", args=[request.pk])
    request.refresh_from_db()
    assert request.state == RenewalState.DRAFT and request.consent_conditions_at is None
    renewable.certificate.refresh_from_db()
    assert renewable.certificate.pin_failures == 0


def test_a_tampered_form_hash_is_refused_in_words_and_nothing_is_recorded(renewable, holder_client):
    request = _start(holder_client)
    holder_client.post(reverse("renewal:data", args=[request.pk]))
    response = holder_client.post(reverse("renewal:consents", args=[request.pk]), {
        "form_sha256": "a" * 64, "data_still_valid": "on", "conditions_accepted": "on",
    })
    assert response.status_code == 400
    assert "modulo di rinnovo è cambiato" in response.content.decode() or "has changed" in response.content.decode()
    request.refresh_from_db()
    assert request.consent_conditions_at is None


@pytest.mark.parametrize("pin", ["", "x" * 65, "12\x0034"])
def test_a_pin_of_the_wrong_shape_is_a_form_error_not_a_500(renewable, holder_client, pin):
    request = _start(holder_client)
    holder_client.post(reverse("renewal:data", args=[request.pk]))
    request.refresh_from_db()
    holder_client.post(reverse("renewal:consents", args=[request.pk]), {
        "form_sha256": request.form_sha256, "data_still_valid": "on", "conditions_accepted": "on",
    })
    response = holder_client.post(reverse("renewal:sign", args=[request.pk]), {
        "pin": pin, "device": str(renewable.device.public_id), "code": "12ab",
    })
    assert response.status_code == 400
    request.refresh_from_db()
    assert request.state == RenewalState.DRAFT


def test_the_form_pdf_is_downloadable_before_acceptance_and_names_the_holder(renewable, holder_client):
    request = _start(holder_client)
    holder_client.post(reverse("renewal:data", args=[request.pk]))
    response = holder_client.get(reverse("renewal:document", args=[request.pk, "modulo"]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF") and "attachment" in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    text = subprocess.run(["pdftotext", "-", "-"], input=response.content, capture_output=True, check=True).stdout
    words = " ".join(text.decode().split())
    holder, certificate = renewable.holder, renewable.certificate
    assert "Mario Rossi" in words and holder.codice_fiscale in words and certificate.iut in words
    assert request.number in words


def test_another_holders_request_answers_404_like_a_missing_one(world, renewable, holder_client, client):
    request = _start(holder_client)
    holder_client.post(reverse("renewal:data", args=[request.pk]))
    from tests.conftest import HOLDER_PASSWORD, login

    holder_client.post(reverse("accounts:logout"))
    login(client, world.alpha.holders[1].user.username, HOLDER_PASSWORD)
    for url in (
        reverse("renewal:data", args=[request.pk]), reverse("renewal:consents", args=[request.pk]),
        reverse("renewal:document", args=[request.pk, "modulo"]), reverse("renewal:outcome", args=[request.pk]),
        reverse("renewal:document", args=[request.pk + 1000, "modulo"]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("renewal:cancel", args=[request.pk])).status_code == 404


def test_a_not_renewable_organization_shows_no_renew_button_only_the_explanation(world, renewable, holder_client):
    organization = world.alpha.organization
    organization.renewable = False
    organization.save(update_fields=["renewable"])
    page = holder_client.get(reverse("renewal:home")).content.decode()
    assert 'data-testid="renewal-start"' not in page and 'data-testid="renewal-unavailable"' in page
    profile = holder_client.get(reverse("panel:profile")).content.decode()
    assert 'data-testid="renew-link"' not in profile
    assert holder_client.post(reverse("renewal:start")).status_code == 302
    assert not RenewalRequest.objects.exists()


def test_the_residence_is_changed_with_the_password_after_an_otp(world, renewable, holder_client):
    request = _start(holder_client)
    url = reverse("renewal:residence", args=[request.pk])
    assert holder_client.get(url)["Location"].startswith(reverse("otp:stepup"))
    _grant(holder_client, "change_residence")
    from tests.conftest import HOLDER_PASSWORD

    response = holder_client.post(url, {
        "current_password": HOLDER_PASSWORD, "residence_address": "Via Roma 2", "residence_postal_code": "41100",
        "residence_city": "Modena", "residence_province": "mo",
    })
    assert response["Location"] == reverse("renewal:data", args=[request.pk])
    page = holder_client.get(reverse("renewal:data", args=[request.pk])).content.decode()
    assert "Via Roma 2" in page and re.search(r"badge[^>]*>\s*(modificato|changed)", page)


def test_after_activation_csc_lists_the_new_credential_and_not_the_old(world, renewable, holder_client, client):
    from tests.signing.conftest import api_client_for, csc_post, token_for

    request = _submit(holder_client, renewable)
    renewal_approve(request=request, actor=world.alpha.operator.user)
    api_client, secret = api_client_for(world.alpha)
    token = token_for(client, api_client, secret)["access_token"]

    def listed() -> list[str]:
        body = csc_post(client, "/csc/v1/credentials/list", {"userID": "mario.rossi"}, token).json()
        return body["credentialIDs"]

    request.refresh_from_db()
    old_iut, new_iut = request.old_certificate.iut, request.new_certificate.iut
    assert listed() == [old_iut]  # the renewal is issued but not active yet: the old key still signs
    _grant(holder_client, "renewal_activate")
    holder_client.post(reverse("renewal:activate", args=[request.pk]), {
        "choice": "new", "new_pin": NEW_PIN, "new_pin_confirm": NEW_PIN,
    })
    assert listed() == [new_iut]
    info = csc_post(client, "/csc/v1/credentials/info", {"credentialID": old_iut}, token)
    assert info.status_code == 400
