"""The organization's audit trail in the operator console: who reads it, what they see, the CSV export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Operator, OperatorRole, User
from accounts.services.people import operator_create
from audit.models import AuditEvent, Outcome
from audit.services import audit_record
from audit.views.console import PAGE_SIZE
from tests.audit.test_chain import raw
from tests.conftest import OPERATOR_PASSWORD, World, argon2_hash, login, staff_token

pytestmark = pytest.mark.django_db

AUDIT = reverse("console:audit")
EXPORT = reverse("console:audit_export")


def signed_in(username: str) -> Client:
    client = Client()
    response = login(client, username, OPERATOR_PASSWORD, portal="console")
    assert response.status_code == 302, response.content[:500]
    return client


@pytest.fixture
def auditor(world: World) -> Operator:
    """alpha's auditor: reads the console, changes nothing."""
    operator = operator_create(
        organization=world.alpha.organization, username="alpha.revisore", given_name="Anna", surname="Conti",
        email="revisore@alpha.example.org", role=OperatorRole.AUDITOR,
    )
    User.objects.filter(pk=operator.user.pk).update(password=argon2_hash(OPERATOR_PASSWORD))
    staff_token(operator.user)
    return operator


@pytest.fixture
def trail(world: World) -> dict[str, AuditEvent]:
    """A few events of each organization, with words to look for."""
    alpha, beta = world.alpha, world.beta
    return {
        "alpha_login": audit_record(
            event_type="test.login", actor=alpha.holder.user, organization=alpha.organization, ip="192.0.2.10",
            details={"marker": "alfa-evento"},
        ),
        "alpha_denied": audit_record(
            event_type="test.refused", outcome=Outcome.DENIED, actor=alpha.holders[1].user,
            organization=alpha.organization, subject=alpha.holders[1], details={"marker": "alfa-negato"},
        ),
        "beta_login": audit_record(
            event_type="test.beta_only", actor=beta.holder.user, organization=beta.organization, ip="198.51.100.7",
            details={"marker": "beta-segreto"},
        ),
        "platform": audit_record(event_type="test.platform_only", details={"marker": "solo-piattaforma"}),
    }


def listed(response) -> set[int]:  # noqa: ANN001
    """The numbers (seq) of the events on the page."""
    return {row["event"].seq for row in response.context["rows"]}


def exported(response) -> list[list[str]]:  # noqa: ANN001
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte order mark, for Excel
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def at(moment: datetime, monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> AuditEvent:
    """An event recorded as if the clock said ``moment``."""
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: moment)
        return audit_record(**kwargs)


# --- Who may read it ---------------------------------------------------------------------------------


def test_an_organization_admin_sees_the_organization_events_and_no_other(world, trail):
    client = signed_in(world.alpha.admin.user.username)
    response = client.get(AUDIT)
    assert response.status_code == 200
    seqs = listed(response)
    assert {trail["alpha_login"].seq, trail["alpha_denied"].seq} <= seqs
    assert trail["beta_login"].seq not in seqs and trail["platform"].seq not in seqs
    organizations = set(AuditEvent.objects.filter(seq__in=seqs).values_list("organization_id", flat=True))
    assert organizations == {world.alpha.organization.pk}
    content = response.content.decode()
    assert "alfa-evento" in content and "192.0.2.10" in content and "mario.rossi" in content
    assert "beta-segreto" not in content and "lucia.neri" not in content and "solo-piattaforma" not in content
    # Another organization's event types are not even offered as a filter.
    assert "test.beta_only" not in content and "test.refused" in content


def test_the_other_organization_sees_only_its_own(world, trail):
    response = signed_in(world.beta.admin.user.username).get(AUDIT)
    seqs = listed(response)
    assert trail["beta_login"].seq in seqs
    assert not {trail["alpha_login"].seq, trail["alpha_denied"].seq, trail["platform"].seq} & seqs


def test_filtering_on_another_organizations_person_finds_nothing(world, trail):
    client = signed_in(world.alpha.admin.user.username)
    response = client.get(AUDIT, {"actor": "lucia.neri"})
    assert response.status_code == 200 and listed(response) == set()
    assert b'data-testid="audit-empty"' in response.content
    rows = exported(client.get(EXPORT, {"actor": "lucia.neri"}))
    assert len(rows) == 1  # the header only


def test_an_auditor_reads_and_exports_the_trail(world, trail, auditor):
    client = signed_in(auditor.user.username)
    response = client.get(AUDIT)
    assert response.status_code == 200 and trail["alpha_login"].seq in listed(response)
    assert f'href="{AUDIT}"'.encode() in response.content  # the menu entry
    response = client.get(EXPORT)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert str(trail["alpha_login"].seq) in {row[0] for row in exported(response)}


def test_the_menu_entry_is_for_admins_and_auditors_only(world, operator_client):
    home = reverse("console:home")
    assert f'href="{AUDIT}"'.encode() not in operator_client.get(home).content
    assert f'href="{AUDIT}"'.encode() in signed_in(world.alpha.admin.user.username).get(home).content


@pytest.mark.parametrize("url", [AUDIT, EXPORT])
def test_a_plain_operator_is_refused(operator_client, trail, url):
    assert operator_client.get(url).status_code == 403
    assert not AuditEvent.objects.filter(event_type="audit.exported").exists()


@pytest.mark.parametrize("url", [AUDIT, EXPORT])
def test_anonymous_visitors_are_sent_to_the_console_login(client, world, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login") + "?next=")


def test_a_holder_is_sent_to_the_console_login(holder_client):
    response = holder_client.get(AUDIT)
    assert response.status_code == 302 and response["Location"].startswith(reverse("console:login"))


# --- Filters ----------------------------------------------------------------------------------------


def test_filtering_by_person_ignores_case_and_takes_part_of_the_username(world, trail):
    client = signed_in(world.alpha.admin.user.username)
    for search in ("MARIO.ROSSI", "rossi"):
        seqs = listed(client.get(AUDIT, {"actor": search}))
        assert trail["alpha_login"].seq in seqs and trail["alpha_denied"].seq not in seqs
        assert all(
            "mario.rossi" == username
            for username in AuditEvent.objects.filter(seq__in=seqs).values_list("actor_username", flat=True)
        )


def test_filtering_by_one_type_or_by_a_group_of_types(world, trail):
    client = signed_in(world.alpha.admin.user.username)
    assert listed(client.get(AUDIT, {"event_type": "test.refused"})) == {trail["alpha_denied"].seq}
    assert listed(client.get(AUDIT, {"event_type": "test."})) == {trail["alpha_login"].seq, trail["alpha_denied"].seq}
    auth = listed(client.get(AUDIT, {"event_type": "auth."}))  # the admin's own login, among others
    assert auth and all(
        t.startswith("auth.") for t in AuditEvent.objects.filter(seq__in=auth).values_list("event_type", flat=True)
    )


def test_a_type_the_organization_never_had_is_a_form_error(world, trail):
    response = signed_in(world.alpha.admin.user.username).get(AUDIT, {"event_type": "test.beta_only"})
    assert response.status_code == 400 and response.context["form"].errors["event_type"]
    assert b'data-testid="audit-invalid"' in response.content


def test_days_are_days_in_rome_from_midnight_to_midnight(world, monkeypatch):
    alpha = {"organization": world.alpha.organization, "event_type": "test.clock"}
    # Winter (UTC+1) and summer (UTC+2): the last second of a day and the first of the next, in Rome.
    late_winter = at(datetime(2025, 3, 9, 22, 59, 59, tzinfo=UTC), monkeypatch, **alpha)
    early_winter = at(datetime(2025, 3, 9, 23, 0, 0, tzinfo=UTC), monkeypatch, **alpha)
    late_summer = at(datetime(2025, 7, 14, 21, 59, 59, tzinfo=UTC), monkeypatch, **alpha)
    early_summer = at(datetime(2025, 7, 14, 22, 0, 0, tzinfo=UTC), monkeypatch, **alpha)
    client = signed_in(world.alpha.admin.user.username)

    def days(**filters: str) -> set[int]:
        response = client.get(AUDIT, {"event_type": "test.clock", **filters})
        assert response.status_code == 200, response.context["form"].errors
        return listed(response)

    assert days(date_from="2025-03-10", date_to="2025-03-10") == {early_winter.seq}
    assert days(date_from="2025-03-09", date_to="2025-03-09") == {late_winter.seq}
    assert days(date_to="09/03/2025") == {late_winter.seq}  # typed the Italian way
    assert days(date_from="2025-07-15") == {early_summer.seq}
    assert days(date_from="2025-07-14", date_to="2025-07-14") == {late_summer.seq}
    assert days(date_from="2025-03-10", date_to="2025-07-14") == {early_winter.seq, late_summer.seq}
    shown = client.get(AUDIT, {"event_type": "test.clock", "date_from": "2025-03-10", "date_to": "2025-03-10"})
    assert b"10/03/2025 00:00:00" in shown.content  # the time as read in Rome


@pytest.mark.clock
def test_todays_events_are_found_by_todays_date(world, trail):
    today = timezone.localdate().isoformat()
    client = signed_in(world.alpha.admin.user.username)
    assert trail["alpha_login"].seq in listed(client.get(AUDIT, {"date_from": today, "date_to": today}))
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert trail["alpha_login"].seq not in listed(client.get(AUDIT, {"date_to": yesterday}))


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"date_from": "2025-13-45"}, "date_from"),
        ({"date_to": "ieri"}, "date_to"),
        ({"date_from": "0001-01-01"}, "date_from"),
        ({"date_to": "9999-12-31"}, "date_to"),
        ({"date_from": "2025-03-10", "date_to": "2025-03-09"}, "date_to"),
        ({"actor": "x" * 151}, "actor"),
    ],
)
def test_malformed_filters_are_explained_not_a_crash(world, trail, filters, field):
    client = signed_in(world.alpha.admin.user.username)
    response = client.get(AUDIT, filters)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert 'class="invalid-feedback' in response.content.decode()
    # The export answers the same page, and exports (and audits) nothing.
    response = client.get(EXPORT, filters)
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    assert not AuditEvent.objects.filter(event_type="audit.exported").exists()


def test_a_malformed_date_is_explained_in_italian(world):
    response = signed_in(world.alpha.admin.user.username).get(AUDIT, {"date_from": "31/02/2025"})
    assert response.status_code == 400 and "Inserisci una data valida." in response.content.decode()


@pytest.mark.parametrize("page", ["abc", "0", "-1", "99999", "1e9", ""])
def test_page_numbers_that_are_not_pages_show_a_page(world, trail, page):
    response = signed_in(world.alpha.admin.user.username).get(AUDIT, {"page": page})
    assert response.status_code == 200 and response.context["page"].number == 1


def test_pages_keep_the_filters(world, trail):
    for n in range(PAGE_SIZE + 5):
        audit_record(event_type="test.many", organization=world.alpha.organization, details={"n": n})
    client = signed_in(world.alpha.admin.user.username)
    first = client.get(AUDIT, {"event_type": "test.many"})
    assert len(first.context["rows"]) == PAGE_SIZE and first.context["page"].paginator.num_pages == 2
    assert "?event_type=test.many&amp;page=2" in first.content.decode()
    second = client.get(AUDIT, {"event_type": "test.many", "page": "2"})
    assert len(second.context["rows"]) == 5
    assert min(listed(first)) > max(listed(second))  # newest first


# --- Export ------------------------------------------------------------------------------------------


def test_the_export_is_every_filtered_event_of_the_organization(world, trail):
    for n in range(PAGE_SIZE + 5):
        audit_record(event_type="test.many", organization=world.alpha.organization, details={"n": n})
    audit_record(event_type="test.many", organization=world.beta.organization, details={"n": "beta"})
    client = signed_in(world.alpha.admin.user.username)
    response = client.get(EXPORT, {"event_type": "test."})
    assert response.status_code == 200 and response.streaming
    assert 'attachment; filename="registro-audit-alpha-' in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    header, *rows = exported(response)
    assert header == ["Numero", "Ora (Europe/Rome)", "Tipo di evento", "Esito", "Persona", "Tipo di oggetto",
                      "Id oggetto", "Indirizzo IP", "Dettagli (JSON)"]
    expected = AuditEvent.objects.filter(
        organization_id=world.alpha.organization.pk, event_type__startswith="test."
    ).order_by("-seq")
    assert [int(row[0]) for row in rows] == [event.seq for event in expected]  # all pages, newest first
    assert len(rows) == PAGE_SIZE + 7
    assert all(row[2].startswith("test.") and "beta" not in row[8] for row in rows)
    denied = next(row for row in rows if int(row[0]) == trail["alpha_denied"].seq)
    assert denied[3] == "negato" and denied[4] == "laura.bianchi"
    assert denied[5] == "accounts.holder" and denied[6] == str(world.alpha.holders[1].pk)
    assert json.loads(denied[8]) == {"marker": "alfa-negato"}
    login_row = next(row for row in rows if int(row[0]) == trail["alpha_login"].seq)
    assert login_row[7] == "192.0.2.10"
    when = datetime.fromisoformat(login_row[1])
    assert when == trail["alpha_login"].created_at.replace(microsecond=0)
    assert when.utcoffset() == timezone.localtime(trail["alpha_login"].created_at).utcoffset()  # Rome's offset


def test_the_export_is_audited_with_its_filters_and_row_count(world, trail):
    admin = world.alpha.admin.user
    client = signed_in(admin.username)
    rows = exported(client.get(EXPORT, {"event_type": "test.", "date_from": "2000-01-01"}))
    event = AuditEvent.objects.get(event_type="audit.exported")
    assert event.organization_id == world.alpha.organization.pk and event.actor_username == admin.username
    assert event.details["rows"] == len(rows) - 1 == 2
    assert event.details["filters"] == {
        "actor": "", "event_type": "test.", "date_from": "2000-01-01", "date_to": "",
    }
    # The export's own event is for the next one, not in the file it describes.
    assert event.seq not in {int(row[0]) for row in rows[1:]}
    assert event.seq in listed(client.get(AUDIT, {"event_type": "audit."}))


@pytest.mark.parametrize("username", ["=HYPERLINK(\"http://evil.example\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd"])
def test_the_export_neutralises_spreadsheet_formulas(world, username):
    organization = world.alpha.organization
    audit_record(
        event_type="test.formula", organization=organization, actor=SimpleNamespace(pk=None, username=username),
        ip="=1+1", details={"note": "=cmd|' /C calc'!A0"},
    )
    rows = exported(signed_in(world.alpha.admin.user.username).get(EXPORT, {"event_type": "test.formula"}))
    (row,) = rows[1:]
    assert row[4] == f"'{username}" and row[7] == "'=1+1"
    assert json.loads(row[8]) == {"note": "=cmd|' /C calc'!A0"}  # inside a JSON object: no formula
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)


# --- The chain's status ------------------------------------------------------------------------------


def test_an_intact_chain_is_reported_intact(world, trail):
    response = signed_in(world.alpha.admin.user.username).get(AUDIT)
    assert b'data-testid="audit-chain-intact"' in response.content
    assert "Registro integro" in response.content.decode()
    assert response.context["chain"].ok


def test_a_broken_chain_is_reported_with_where_it_breaks(world, trail):
    seq = trail["beta_login"].seq  # another organization's row: the chain is the platform's
    raw("UPDATE audit_auditevent SET details = %s WHERE seq = %s", ['{"marker": "riscritto"}', seq])
    response = signed_in(world.alpha.admin.user.username).get(AUDIT)
    content = response.content.decode()
    assert response.status_code == 200 and 'data-testid="audit-chain-broken"' in content
    assert f"Registro compromesso all'evento n. {seq}" in content.replace("&#x27;", "'")
    assert "riscritto" not in content  # nothing of the other organization's row is shown


def test_the_chain_is_verified_at_most_every_few_minutes(world, trail):
    client = signed_in(world.alpha.admin.user.username)
    assert client.get(AUDIT).context["chain"].ok
    raw("UPDATE audit_auditevent SET ip = %s WHERE seq = %s", ["203.0.113.9", trail["alpha_login"].seq])
    cached = client.get(AUDIT).context["chain"]
    assert cached.ok  # the verification of a moment ago, and the page says when it ran
    assert cached.checked_at <= timezone.now()
    cache.clear()  # a few minutes later
    status = client.get(AUDIT).context["chain"]
    assert not status.ok and status.broken_at == trail["alpha_login"].seq
