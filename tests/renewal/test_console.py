"""The registration office's renewal pages: the approval queue, a request's page, approve (one or many),
reject with a reason, and what the console home says needs attention."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from audit.models import AuditEvent
from certificates.models import Certificate, CertificateState
from notifications.models import Message, MessageStatus
from renewal.models import RenewalRequest, RenewalState
from renewal.services import renewal_reject
from tests.certificates.conftest import issued
from tests.conftest import OPERATOR_PASSWORD, confirmed, login, platform_admin
from tests.renewal.conftest import submitted

pytestmark = pytest.mark.django_db

APPROVE = {"approve-confirm": "on"}
REASON = "Il documento di identità allegato è scaduto: presentarsi allo sportello."


def reject_data(reason: str = REASON) -> dict[str, str]:
    return {"reject-reason": reason, "reject-confirm": "on"}


def url(name: str, renewal: RenewalRequest) -> str:
    return reverse(f"console:{name}", kwargs={"request_id": renewal.pk})


def in_language(response, message) -> str:  # noqa: ANN001
    """``message`` as the page shows it (the console speaks the operator's language)."""
    with translation.override(response["Content-Language"]):
        return str(message)


def flashed(response) -> list[str]:  # noqa: ANN001
    return [str(message) for message in get_messages(response.wsgi_request)]


def main(response) -> str:  # noqa: ANN001
    """The page's own content (the frame around it carries a fresh CSRF token and the path)."""
    return re.search(r"<main.*?</main>", response.content.decode(), re.S).group(0)


def state_of(renewal: RenewalRequest) -> str:
    return RenewalRequest.objects.get(pk=renewal.pk).state


# --- The queue -----------------------------------------------------------------------------------------


def test_queue_lists_only_the_own_organizations_waiting_requests_oldest_first(world, ca, operator_client):
    newer = submitted(world.alpha.holders[1])
    older = submitted(world.alpha.holder, residence_address="Via Roma 2")
    RenewalRequest.objects.filter(pk=older.pk).update(submitted_at=timezone.now() - timedelta(days=3))
    foreign = submitted(world.beta.holder)

    response = operator_client.get(reverse("console:renewals"))

    assert response.status_code == 200
    assert [row["renewal"].pk for row in response.context["rows"]] == [older.pk, newer.pk]
    page = response.content.decode()
    assert foreign.number not in page and world.beta.holder.codice_fiscale not in page
    first, second = response.context["rows"]
    assert first["age_days"] == 3 and second["age_days"] == 0
    assert first["changed"] and second["changed"] == []
    assert page.count('data-testid="renewal-changed"') == 1
    expires = timezone.localtime(older.old_certificate.not_after).strftime("%d/%m/%Y")
    assert expires in page and world.alpha.holder.codice_fiscale in page


def test_decided_requests_are_listed_apart_and_read_only(world, ca, operator_client):
    waiting = submitted(world.alpha.holders[1])
    rejected = renewal_reject(request=submitted(world.alpha.holder), actor=world.alpha.operator.user, reason=REASON)

    queue = operator_client.get(reverse("console:renewals"))
    decided = operator_client.get(reverse("console:renewals_decided"))

    assert [row["renewal"].pk for row in queue.context["rows"]] == [waiting.pk]
    assert [row["renewal"].pk for row in decided.context["rows"]] == [rejected.pk]
    assert 'data-testid="renewals-bulk-form"' not in decided.content.decode()
    page = operator_client.get(url("renewal_detail", rejected)).content.decode()
    assert 'data-testid="renewal-approve-form"' not in page and 'data-testid="renewal-reject-form"' not in page
    assert REASON in page and "Paola Ferri" in page


# --- A request's page ----------------------------------------------------------------------------------


def test_request_page_shows_the_changes_consents_form_hash_and_the_validation_of_the_signed_form(
    world, ca, operator_client
):
    renewal = submitted(world.alpha.holder, residence_address="Via Roma 2")

    response = operator_client.get(url("renewal_detail", renewal))

    assert response.status_code == 200
    page = response.content.decode()
    assert renewal.form_sha256 in page and renewal.signed_form_sha256 in page
    assert "<del" in page and "Via Emilia 1" in page and "Via Roma 2" in page
    assert page.count('data-testid="renewal-data-changed"') == 1
    consent_time = timezone.localtime(renewal.consent_conditions_at).strftime("%d/%m/%Y %H:%M:%S")
    assert consent_time in page
    signature = response.context["report"].signatures[0]
    assert (signature.signer, signature.intact, signature.valid, signature.trusted) == ("Mario Rossi", True, True, True)
    assert signature.timestamp_at is not None
    assert 'data-testid="signature-verdict">' in page and "Mario Rossi" in page
    assert reverse("console:renewal_signed_form", kwargs={"request_id": renewal.pk}) in page


def test_a_signed_form_that_cannot_be_read_is_reported_on_the_page_not_a_crash(world, ca, operator_client):
    renewal = submitted(world.alpha.holder)
    RenewalRequest.objects.filter(pk=renewal.pk).update(signed_form_pdf=b"%PDF-1.7 this is not a PDF after all")

    response = operator_client.get(url("renewal_detail", renewal))

    assert response.status_code == 200
    assert response.context["report"] is None and response.context["report_error"]
    assert 'data-testid="validation-error"' in response.content.decode()


def test_the_signed_form_downloads_as_an_attachment_never_cached(world, ca, operator_client):
    renewal = submitted(world.alpha.holder)

    response = operator_client.get(url("renewal_signed_form", renewal))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content == bytes(RenewalRequest.objects.get(pk=renewal.pk).signed_form_pdf)
    assert response["Content-Disposition"].startswith("attachment;")
    assert f"{renewal.number}-modulo-firmato.pdf" in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]


# --- Approve -------------------------------------------------------------------------------------------


def test_approving_from_the_page_issues_a_new_certificate_that_renews_the_old_one(world, ca, operator_client):
    renewal = submitted(world.alpha.holder)
    old = renewal.old_certificate

    response = operator_client.post(url("renewal_approve", renewal), confirmed(operator_client, APPROVE))

    assert response.status_code == 302 and response["Location"] == url("renewal_detail", renewal)
    renewal.refresh_from_db()
    new = renewal.new_certificate
    assert renewal.state == RenewalState.ISSUED and renewal.decided_by == world.alpha.operator.user
    assert new.state == CertificateState.ISSUED and new.replaces == old
    assert new.serial != old.serial and new.iut != old.iut
    assert Certificate.objects.get(pk=old.pk).state == CertificateState.ACTIVE  # until the new one is activated
    assert Message.objects.filter(holder=world.alpha.holder, message_type="renewal_approved").count() == 1
    assert any(new.iut in text for text in flashed(response))
    page = operator_client.get(url("renewal_detail", renewal)).content.decode()
    assert 'data-testid="renewal-new-iut">' + new.iut in page and "Paola Ferri" in page


def test_approval_needs_the_confirmation(world, ca, operator_client):
    renewal = submitted(world.alpha.holder)

    response = operator_client.post(url("renewal_approve", renewal), confirmed(operator_client, {}))

    assert response.status_code == 400
    assert response.context["approve_form"].errors["confirm"]
    assert 'data-testid="decision-form-error"' in response.content.decode()
    assert state_of(renewal) == RenewalState.SUBMITTED


def test_a_request_already_decided_answers_with_a_clear_message_never_a_server_error(world, ca, operator_client):
    renewal = submitted(world.alpha.holder)
    assert operator_client.post(url("renewal_approve", renewal), confirmed(operator_client, APPROVE)).status_code == 302

    again = operator_client.post(url("renewal_approve", renewal), confirmed(operator_client, APPROVE))
    rejected_after = operator_client.post(url("renewal_reject", renewal), confirmed(operator_client, reject_data()))

    from renewal.services import _REFUSED

    for response in (again, rejected_after):
        assert response.status_code == 409
        assert in_language(response, _REFUSED["approve"]) in response.content.decode()
        assert 'data-testid="renewal-error"' in response.content.decode()
    renewal.refresh_from_db()
    assert renewal.state == RenewalState.ISSUED and renewal.decision_reason == ""
    assert Certificate.objects.filter(replaces=renewal.old_certificate).count() == 1


# --- Reject --------------------------------------------------------------------------------------------


def test_rejecting_requires_a_reason_and_tells_the_holder_why(world, ca, operator_client):
    renewal = submitted(world.alpha.holder)

    blank = operator_client.post(url("renewal_reject", renewal), confirmed(operator_client, reject_data("   ")))
    unconfirmed = operator_client.post(
        url("renewal_reject", renewal), confirmed(operator_client, {"reject-reason": REASON})
    )

    assert blank.status_code == 400 and blank.context["reject_form"].errors["reason"]
    assert unconfirmed.status_code == 400 and unconfirmed.context["reject_form"].errors["confirm"]
    assert state_of(renewal) == RenewalState.SUBMITTED

    response = operator_client.post(url("renewal_reject", renewal), confirmed(operator_client, reject_data()))

    assert response.status_code == 302
    renewal.refresh_from_db()
    assert renewal.state == RenewalState.REJECTED and renewal.decision_reason == REASON
    assert renewal.decided_by == world.alpha.operator.user and renewal.new_certificate is None
    notice = Message.objects.get(holder=world.alpha.holder, message_type="renewal_rejected")
    assert REASON in notice.body_text
    assert AuditEvent.objects.filter(event_type="renewal.rejected").count() == 1


@pytest.mark.parametrize("reason", ["x" * 10_000, "Motivo\x00nascosto"], ids=["10000-characters", "nul-byte"])
def test_an_overlong_reason_or_one_with_nul_bytes_is_a_form_error_and_changes_nothing(
    world, ca, operator_client, reason
):
    renewal = submitted(world.alpha.holder)

    response = operator_client.post(url("renewal_reject", renewal), confirmed(operator_client, reject_data(reason)))

    assert response.status_code == 400
    assert response.context["reject_form"].errors["reason"]
    renewal.refresh_from_db()
    assert renewal.state == RenewalState.SUBMITTED and renewal.decision_reason == "" and renewal.decided_at is None
    assert not Message.objects.filter(message_type="renewal_rejected").exists()
    assert not AuditEvent.objects.filter(event_type="renewal.rejected").exists()


# --- Approve many --------------------------------------------------------------------------------------


def test_bulk_approval_issues_each_selected_request_and_names_the_refusals(world, ca, operator_client):
    first = submitted(world.alpha.holder)
    second = submitted(world.alpha.holders[1])
    foreign = submitted(world.beta.holder)
    renewal_reject(request=second, actor=world.alpha.admin.user, reason=REASON)  # decided meanwhile

    response = operator_client.post(
        reverse("console:renewals_approve"),
        confirmed(operator_client, {"requests": [str(first.pk), str(second.pk), str(foreign.pk)], "confirm": "on"}),
    )

    assert response.status_code == 302 and response["Location"] == reverse("console:renewals")
    assert state_of(first) == RenewalState.ISSUED
    assert state_of(second) == RenewalState.REJECTED
    assert state_of(foreign) == RenewalState.SUBMITTED  # another organization's: "not found", untouched
    texts = flashed(response)
    assert len(texts) == 3
    assert texts[0].startswith("1 ")
    assert second.number in texts[1]
    assert foreign.number not in " ".join(texts) and texts[2].startswith("1 ")


def test_bulk_approval_of_two_waiting_requests_approves_both(world, ca, operator_client):
    first = submitted(world.alpha.holder)
    second = submitted(world.alpha.holders[1])

    response = operator_client.post(
        reverse("console:renewals_approve"),
        confirmed(operator_client, {"requests": [str(first.pk), str(second.pk)], "confirm": "on"}),
    )

    assert response.status_code == 302
    assert state_of(first) == state_of(second) == RenewalState.ISSUED
    assert flashed(response)[0].startswith("2 ")
    assert not operator_client.get(reverse("console:renewals")).context["rows"]


@pytest.mark.parametrize(
    "data",
    [{"requests": ["REQUEST"]}, {"confirm": "on"}, {"requests": ["REQUEST", "1; drop"], "confirm": "on"}],
    ids=["without-confirmation", "nothing-selected", "malformed-id"],
)
def test_bulk_approval_needs_a_selection_and_the_confirmation(world, ca, operator_client, data):
    renewal = submitted(world.alpha.holder)
    data = {key: [str(renewal.pk) if v == "REQUEST" else v for v in value] if isinstance(value, list) else value
            for key, value in data.items()}

    response = operator_client.post(reverse("console:renewals_approve"), confirmed(operator_client, data))

    assert response.status_code == 400
    assert response.context["form"].errors
    assert state_of(renewal) == RenewalState.SUBMITTED


def test_the_bulk_endpoint_approves_only_by_post_and_sends_a_get_back_to_the_queue(world, ca, operator_client):
    renewal = submitted(world.alpha.holder)

    response = operator_client.get(reverse("console:renewals_approve"), {"page": "2", "requests": str(renewal.pk)})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:renewals") + "?")
    assert state_of(renewal) == RenewalState.SUBMITTED


# --- Another organization ------------------------------------------------------------------------------


def test_another_organizations_request_is_not_found_exactly_like_a_missing_one(world, ca, operator_client):
    foreign = submitted(world.beta.holder)
    missing_id = RenewalRequest.objects.order_by("-pk").first().pk + 1000

    for name, method, data in [
        ("renewal_detail", "get", {}),
        ("renewal_signed_form", "get", {}),
        ("renewal_approve", "post", APPROVE),
        ("renewal_reject", "post", reject_data()),
    ]:
        call = getattr(operator_client, method)
        if method == "post":  # confirmed: the answer is the tenancy's, not the confirmation's
            data = confirmed(operator_client, data)
        answer = call(reverse(f"console:{name}", kwargs={"request_id": foreign.pk}), data)
        absent = call(reverse(f"console:{name}", kwargs={"request_id": missing_id}), data)
        assert answer.status_code == absent.status_code == 404, name
        assert main(answer) == main(absent), name
    foreign.refresh_from_db()
    assert foreign.state == RenewalState.SUBMITTED and foreign.decided_at is None

    beta = Client()
    assert login(beta, world.beta.operator.user.username, OPERATOR_PASSWORD, portal="console").status_code == 302
    assert beta.get(url("renewal_detail", foreign)).status_code == 200


def test_holders_are_sent_to_the_console_login(world, ca, holder_client):
    renewal = submitted(world.alpha.holder)

    response = holder_client.get(url("renewal_detail", renewal))

    assert response.status_code == 302 and response["Location"].startswith(reverse("console:login"))


# --- The console home ----------------------------------------------------------------------------------


def test_console_home_counts_what_needs_attention_in_the_own_organization(world, ca, operator_client):
    renewal = submitted(world.alpha.holder)  # one request waiting
    Certificate.objects.filter(pk=renewal.old_certificate_id).update(not_after=timezone.now() + timedelta(days=10))
    not_activated = issued(world.alpha.holders[1])  # one activation not completed
    Message.objects.filter(pk=Message.objects.filter(holder=world.alpha.holder).first().pk).update(
        status=MessageStatus.DEAD, attempts=3, last_error="SMTP 550"
    )
    # The other organization has one of each too, none of which counts here.
    foreign = submitted(world.beta.holder)
    Certificate.objects.filter(pk=foreign.old_certificate_id).update(not_after=timezone.now() + timedelta(days=5))
    issued(world.beta.holders[1])
    Message.objects.filter(holder=world.beta.holder).update(status=MessageStatus.FAILED, attempts=1)

    response = operator_client.get(reverse("console:home"))

    assert response.context["attention"] == {"renewals": 1, "expiring": 1, "to_activate": 1, "undelivered": 1}
    page = response.content.decode()
    for name in ("renewals", "certificates_expiring", "certificates_to_activate", "messages"):
        assert f'href="{reverse(f"console:{name}")}"' in page

    expiring = operator_client.get(reverse("console:certificates_expiring"))
    assert [row["certificate"].pk for row in expiring.context["rows"]] == [renewal.old_certificate_id]
    assert expiring.context["rows"][0]["renewal"].pk == renewal.pk
    assert reverse("console:holder_detail", args=[world.alpha.holder.pk]) in expiring.content.decode()
    to_activate = operator_client.get(reverse("console:certificates_to_activate"))
    assert [row["certificate"].pk for row in to_activate.context["rows"]] == [not_activated.pk]


def test_the_console_menu_leads_to_the_renewals(world, operator_client):
    page = operator_client.get(reverse("console:home")).content.decode()
    assert f'href="{reverse("console:renewals")}"' in page


# --- Django admin --------------------------------------------------------------------------------------


def test_platform_admins_see_renewal_requests_read_only(world, ca, client):
    renewal = submitted(world.alpha.holder)
    platform_admin(client, "piattaforma", "Radice-Sicura-Del-Sistema-7")

    listing = client.get(reverse("admin:renewal_renewalrequest_changelist"))
    detail = client.get(reverse("admin:renewal_renewalrequest_change", args=[renewal.pk]))

    assert listing.status_code == 200 and renewal.number in listing.content.decode()
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert client.get(reverse("admin:renewal_renewalrequest_add")).status_code == 403
    delete = reverse("admin:renewal_renewalrequest_delete", args=[renewal.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert state_of(renewal) == RenewalState.SUBMITTED


def test_the_holders_page_shows_which_certificate_a_renewal_renews(world, ca, operator_client):
    from renewal.services import renewal_approve
    from tests.renewal.conftest import submitted

    request = submitted(world.alpha.holder)
    renewal_approve(request=request, actor=world.alpha.operator.user)
    request.refresh_from_db()
    page = operator_client.get(f"/operatore/titolari/{world.alpha.holder.pk}/").content.decode()
    assert 'data-testid="certificate-renews"' in page and request.old_certificate.iut in page
    assert request.new_certificate.iut in page
    assert 'data-testid="activation-resend"' not in page  # a renewal is activated in the holder's panel


def test_the_renewal_queue_selection_refuses_unicode_digits_as_invalid():
    from django.core.exceptions import ValidationError

    from renewal.forms import RequestIdsField

    field = RequestIdsField()
    assert field.clean(["12", "7"]) == [7, 12]
    try:
        field.clean(["\u00b2"])
    except ValidationError as exc:
        assert exc.code == "invalid"
    else:
        raise AssertionError("a superscript digit was accepted")
