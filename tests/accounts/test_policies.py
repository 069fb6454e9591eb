"""Organization admins change their organization's policies in the console, within the platform's bounds."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.confirmation import GRANTS_SESSION_KEY, confirmation_grant
from accounts.models import Operator, OperatorRole, Organization, PolicyBounds
from accounts.services.people import operator_create
from accounts.services.policies import organization_policies_update
from audit.models import AuditEvent
from core.errors import ApplicationError
from notifications.models import Message
from tests.conftest import OPERATOR_PASSWORD, _with_password, login, platform_admin, staff_code, staff_token

PAGE = reverse("console:organization")
EVENT = "organization.policies_changed"


def _form(organization: Organization, **overrides: object) -> dict[str, object]:
    """The policies form as the browser sends it: unticked boxes are absent."""
    organization.refresh_from_db()
    values: dict[str, object] = {
        "certificate_validity_months": organization.certificate_validity_months,
        "renewal_window_days": organization.renewal_window_days,
        "renewal_requires_approval": organization.renewal_requires_approval,
        "reminder_days": ", ".join(str(day) for day in organization.reminder_days),
        "activation_deadline_days": organization.activation_deadline_days,
        "otp_hardware_allowed": organization.otp_hardware_allowed,
        "otp_app_allowed": organization.otp_app_allowed,
        "otp_sms_allowed": organization.otp_sms_allowed,
        "password_min_length": organization.password_min_length,
        "login_max_failures": organization.login_max_failures,
        "csc_direct_authorization_allowed": organization.csc_direct_authorization_allowed,
        "login_lockout_minutes": organization.login_lockout_minutes,
    }
    values.update(overrides)
    return {
        name: ("on" if value is True else value)
        for name, value in values.items()
        if value is not False and value is not None
    }


def _signed_in(client: Client, operator: Operator) -> Client:
    response = login(client, operator.user.username, OPERATOR_PASSWORD, portal="console")
    assert response.status_code == 302, response.content[:500]
    return client


def _post(client: Client, operator: Operator, data: dict[str, object], *, confirm: bool = True):
    payload = dict(data)
    if confirm:
        payload["confirmation_code"] = staff_code(operator.user)
    return client.post(PAGE, payload)


def _staff(organization: Organization, username: str, role: str, *, active: bool = True) -> Operator:
    person = operator_create(
        organization=organization, username=username, given_name="Giulia", surname="Conti",
        email=f"{username}@{organization.slug}.example.org", role=role,
    )
    _with_password(person.user, OPERATOR_PASSWORD)
    staff_token(person.user)
    if not active:
        person.user.is_active = False
        person.user.save(update_fields=["is_active"])
    return person


def _snapshot(organization: Organization) -> dict[str, object]:
    organization.refresh_from_db()
    return {field.name: getattr(organization, field.name) for field in Organization._meta.fields}


@pytest.fixture
def admin_console(world, client: Client) -> Client:
    return _signed_in(client, world.alpha.admin)


# --- Changing within the bounds --------------------------------------------------------------------


def test_an_admin_changes_policies_within_bounds_and_the_other_admins_are_emailed(world, admin_console):
    alpha = world.alpha.organization
    other_admin = _staff(alpha, "alpha.admin2", OperatorRole.ORGANIZATION_ADMIN)
    _staff(alpha, "alpha.admin.old", OperatorRole.ORGANIZATION_ADMIN, active=False)

    response = _post(admin_console, world.alpha.admin, _form(
        alpha, certificate_validity_months=24, reminder_days="7, 60 ,30;14", otp_sms_allowed=False,
    ))

    assert response.status_code == 302 and response["Location"] == PAGE
    alpha.refresh_from_db()
    assert alpha.certificate_validity_months == 24
    assert alpha.reminder_days == [60, 30, 14, 7]
    assert alpha.otp_sms_allowed is False
    event = AuditEvent.objects.get(event_type=EVENT)
    assert event.organization_id == alpha.pk and event.actor_id == world.alpha.admin.user_id
    assert event.details == {"changes": {
        "certificate_validity_months": {"before": 36, "after": 24},
        "reminder_days": {"before": [60, 30, 7], "after": [60, 30, 14, 7]},
        "otp_sms_allowed": {"before": True, "after": False},
    }}
    # Every other active admin is told; not the author, not a deactivated admin, not the operators.
    sent = Message.objects.filter(message_type="organization_policies_changed")
    assert [message.recipient for message in sent] == [other_admin.email]
    body = sent.get().body_text
    assert "Marco Galli (alpha.admin)" in body
    assert "36 → 24" in body and "60, 30, 7 → 60, 30, 14, 7" in body and "sì → no" in body
    assert f"{settings.SITE_URL}/operatore/organizzazione/" in body

    page = admin_console.get(PAGE).content.decode()
    assert "Le politiche dell&#x27;organizzazione sono state salvate." in page
    assert 'data-testid="policy-changes"' in page and "Marco Galli" in page
    assert "36 → 24" in page and "60, 30, 7 → 60, 30, 14, 7" in page


def test_the_other_admins_see_the_change_listed_on_their_page(world, admin_console, client):
    alpha = world.alpha.organization
    other_admin = _staff(alpha, "alpha.admin2", OperatorRole.ORGANIZATION_ADMIN)
    assert _post(admin_console, world.alpha.admin, _form(alpha, login_lockout_minutes=30)).status_code == 302

    other = _signed_in(Client(), other_admin)
    page = other.get(PAGE).content.decode()
    assert "15 → 30" in page and "Marco Galli" in page and "alpha.admin" in page


def test_submitting_the_same_values_changes_nothing_and_records_nothing(world, admin_console):
    alpha = world.alpha.organization
    _staff(alpha, "alpha.admin2", OperatorRole.ORGANIZATION_ADMIN)
    response = _post(admin_console, world.alpha.admin, _form(alpha, reminder_days="7, 30, 60"))
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(event_type=EVENT).exists()
    assert not Message.objects.filter(message_type="organization_policies_changed").exists()
    assert "Nessuna modifica: le politiche sono rimaste invariate." in admin_console.get(PAGE).content.decode()


def test_a_value_left_outside_the_bounds_by_the_platform_does_not_block_other_changes(world, admin_console):
    alpha = world.alpha.organization
    Organization.objects.filter(pk=alpha.pk).update(certificate_validity_months=60)  # set in Django admin
    response = _post(admin_console, world.alpha.admin, _form(alpha, login_max_failures=4))
    assert response.status_code == 302
    alpha.refresh_from_db()
    assert (alpha.certificate_validity_months, alpha.login_max_failures) == (60, 4)


# --- Refusals ---------------------------------------------------------------------------------------


def test_values_outside_the_bounds_are_refused_with_the_range_and_nothing_is_saved(world, admin_console):
    alpha = world.alpha.organization
    before = _snapshot(alpha)
    response = _post(admin_console, world.alpha.admin, _form(
        alpha, certificate_validity_months=48, login_lockout_minutes=2, reminder_days="200, 30",
    ))
    assert response.status_code == 400
    page = response.content.decode()
    # Every error at once, each naming the platform's range.
    assert "La piattaforma consente valori tra 12 e 36." in page
    assert "La piattaforma consente valori tra 5 e 1440." in page
    assert "La piattaforma consente giorni di avviso tra 1 e 120." in page
    assert _snapshot(alpha) == before
    assert not AuditEvent.objects.filter(event_type=EVENT).exists()


def test_the_service_refuses_out_of_bounds_naming_the_field_and_the_range(world):
    alpha = world.alpha.organization
    with pytest.raises(ApplicationError) as refused:
        organization_policies_update(
            actor=world.alpha.admin.user, organization=alpha,
            changes={"login_max_failures": 4, "password_min_length": 100},
        )
    assert refused.value.code == "out_of_bounds" and refused.value.field == "password_min_length"
    assert "12" in str(refused.value.message) and "64" in str(refused.value.message)
    alpha.refresh_from_db()
    assert (alpha.login_max_failures, alpha.password_min_length) == (5, 12)


def test_too_many_reminder_days_are_refused(world, admin_console):
    PolicyBounds.objects.filter(pk=PolicyBounds.current().pk).update(reminder_days_max_count=2)
    response = _post(admin_console, world.alpha.admin, _form(world.alpha.organization, reminder_days="60, 30, 14"))
    assert response.status_code == 400
    assert "La piattaforma consente al massimo 2 giorni di avviso." in response.content.decode()


@pytest.mark.parametrize(
    "changes",
    [
        {"certificate_validity_months": "24"},
        {"certificate_validity_months": 24.0},
        {"login_max_failures": True},
        {"otp_sms_allowed": 1},
        {"renewal_requires_approval": "false"},
        {"reminder_days": "60, 30"},
        {"reminder_days": [60, "30"]},
        {"reminder_days": [60, True]},
        {"reminder_days": []},
        {"reminder_days": [30, 30]},
        {"key_algorithm": "ecdsa-p256"},
        {"max_active_certificates": 2},
    ],
)
def test_values_of_the_wrong_type_or_policies_not_editable_here_are_refused(world, changes):
    alpha = world.alpha.organization
    before = _snapshot(alpha)
    with pytest.raises(ApplicationError):
        organization_policies_update(actor=world.alpha.admin.user, organization=alpha, changes=changes)
    assert _snapshot(alpha) == before
    assert not AuditEvent.objects.filter(event_type=EVENT).exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("certificate_validity_months", "ventiquattro"),
        ("certificate_validity_months", "24.5"),
        ("certificate_validity_months", "9" * 5000),
        ("renewal_window_days", "99999999999999999999999"),
        ("login_max_failures", "-3"),
        ("password_min_length", ""),
        ("reminder_days", "60, trenta, 7"),
        ("reminder_days", "60, -7"),
        ("reminder_days", "60,, 1e3"),
        ("reminder_days", ", ,"),
        ("reminder_days", "30, 30"),
        ("reminder_days", "x" * 5000),
    ],
)
def test_malformed_input_is_a_form_error_never_a_crash(world, admin_console, field, value):
    alpha = world.alpha.organization
    before = _snapshot(alpha)
    response = _post(admin_console, world.alpha.admin, _form(alpha, **{field: value}))
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-testid="policies-form-error"' in page and f'id="id_{field}_error"' in page
    assert _snapshot(alpha) == before


def test_missing_fields_are_form_errors(world, admin_console):
    alpha = world.alpha.organization
    before = _snapshot(alpha)
    response = _post(admin_console, world.alpha.admin, {"login_max_failures": 4})
    assert response.status_code == 400
    assert 'id="id_certificate_validity_months_error"' in response.content.decode()
    assert _snapshot(alpha) == before


def test_automatic_renewal_is_refused_when_the_platform_forbids_it(world, admin_console):
    alpha = world.alpha.organization
    PolicyBounds.objects.filter(pk=PolicyBounds.current().pk).update(automatic_renewal_allowed=False)
    response = _post(admin_console, world.alpha.admin, _form(alpha, renewal_requires_approval=False))
    assert response.status_code == 400
    assert "La piattaforma non consente il rinnovo automatico" in response.content.decode()
    alpha.refresh_from_db()
    assert alpha.renewal_requires_approval is True
    with pytest.raises(ApplicationError) as refused:
        organization_policies_update(
            actor=world.alpha.admin.user, organization=alpha, changes={"renewal_requires_approval": False}
        )
    assert refused.value.code == "automatic_renewal_forbidden"


def test_automatic_renewal_is_saved_when_the_platform_allows_it(world, admin_console):
    alpha = world.alpha.organization
    assert _post(admin_console, world.alpha.admin, _form(alpha, renewal_requires_approval=False)).status_code == 302
    alpha.refresh_from_db()
    assert alpha.renewal_requires_approval is False


def test_disabling_every_otp_kind_is_refused(world, admin_console):
    alpha = world.alpha.organization
    response = _post(admin_console, world.alpha.admin, _form(
        alpha, otp_hardware_allowed=False, otp_app_allowed=False, otp_sms_allowed=False,
    ))
    assert response.status_code == 400
    assert "Consenti almeno un tipo di dispositivo OTP." in response.content.decode()
    alpha.refresh_from_db()
    assert alpha.otp_hardware_allowed and alpha.otp_app_allowed and alpha.otp_sms_allowed
    # One at a time, too: the last one left cannot go.
    Organization.objects.filter(pk=alpha.pk).update(otp_hardware_allowed=False, otp_sms_allowed=False)
    with pytest.raises(ApplicationError) as refused:
        organization_policies_update(
            actor=world.alpha.admin.user, organization=alpha, changes={"otp_app_allowed": False}
        )
    assert refused.value.code == "no_otp_kind"


def test_an_otp_kind_the_platform_does_not_offer_cannot_be_enabled_but_can_be_disabled(world, admin_console):
    alpha = world.alpha.organization
    PolicyBounds.objects.filter(pk=PolicyBounds.current().pk).update(otp_sms_available=False,
                                                                     otp_hardware_available=False)
    Organization.objects.filter(pk=alpha.pk).update(otp_sms_allowed=False)
    response = _post(admin_console, world.alpha.admin, _form(alpha, otp_sms_allowed=True))
    assert response.status_code == 400
    assert "La piattaforma non offre questo tipo di dispositivo OTP" in response.content.decode()
    alpha.refresh_from_db()
    assert alpha.otp_sms_allowed is False
    # A kind already allowed may be switched off even if the platform no longer offers it.
    assert _post(admin_console, world.alpha.admin, _form(alpha, otp_hardware_allowed=False)).status_code == 302
    alpha.refresh_from_db()
    assert alpha.otp_hardware_allowed is False


# --- Who may change what ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [OperatorRole.OPERATOR, OperatorRole.AUDITOR])
def test_operators_and_auditors_read_the_policies_but_cannot_change_them(world, client, role):
    alpha = world.alpha.organization
    person = world.alpha.operator if role == OperatorRole.OPERATOR else _staff(alpha, "alpha.revisore", role)
    _signed_in(client, person)
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="policies-form"' not in html and 'data-testid="policies"' in html
    assert "Durata del blocco (minuti)" in html
    before = _snapshot(alpha)
    response = _post(client, person, _form(alpha, certificate_validity_months=24))
    assert response.status_code == 403
    assert _snapshot(alpha) == before
    assert not AuditEvent.objects.filter(event_type=EVENT).exists()


def test_the_admin_sees_the_form_with_each_bound(world, admin_console):
    html = admin_console.get(PAGE).content.decode()
    assert 'data-testid="policies-form"' in html
    assert "Tra 12 e 36." in html  # certificate validity
    assert "al massimo 5, ciascuno tra 1 e 120" in html  # reminder days


def test_an_admin_of_beta_changes_only_beta(world, client):
    alpha, beta = world.alpha.organization, world.beta.organization
    alpha_before = _snapshot(alpha)
    _signed_in(client, world.beta.admin)
    # The form is filled in with alpha's values: still, only beta's row changes.
    response = _post(client, world.beta.admin, _form(alpha, certificate_validity_months=18))
    assert response.status_code == 302
    assert _snapshot(alpha) == alpha_before
    beta.refresh_from_db()
    assert beta.certificate_validity_months == 18
    event = AuditEvent.objects.get(event_type=EVENT)
    assert event.organization_id == beta.pk


def test_the_service_refuses_an_admin_of_another_organization(world):
    alpha = world.alpha.organization
    before = _snapshot(alpha)
    for actor in (world.beta.admin.user, world.alpha.operator.user):
        with pytest.raises(ApplicationError) as refused:
            organization_policies_update(actor=actor, organization=alpha, changes={"login_max_failures": 4})
        assert refused.value.code == "forbidden"
    assert _snapshot(alpha) == before


# --- Confirmation with a fresh second factor ------------------------------------------------------------


def test_without_the_confirmation_code_nothing_changes_and_the_confirmation_page_is_shown(world, admin_console):
    alpha = world.alpha.organization
    before = _snapshot(alpha)
    response = _post(admin_console, world.alpha.admin, _form(alpha, certificate_validity_months=24), confirm=False)
    assert response.status_code == 403
    page = response.content.decode()
    assert 'name="confirmation_code"' in page and 'name="certificate_validity_months" value="24"' in page
    assert _snapshot(alpha) == before
    # A wrong code does not do it either.
    response = admin_console.post(PAGE, {**_form(alpha, certificate_validity_months=24), "confirmation_code": "000000"})
    assert response.status_code == 400
    assert _snapshot(alpha) == before


def test_a_confirmation_for_another_operation_does_not_change_the_policies(world, admin_console):
    alpha = world.alpha.organization
    before = _snapshot(alpha)
    session = admin_console.session
    confirmation_grant(request=SimpleNamespace(session=session), operation="api_client_create")
    session.save()
    response = _post(admin_console, world.alpha.admin, _form(alpha, certificate_validity_months=24), confirm=False)
    assert response.status_code == 403
    assert _snapshot(alpha) == before


def test_the_confirmation_is_spent_by_the_change_it_allowed(world, admin_console):
    alpha = world.alpha.organization
    assert _post(admin_console, world.alpha.admin, _form(alpha, certificate_validity_months=24)).status_code == 302
    assert "policy_change" not in admin_console.session.get(GRANTS_SESSION_KEY, {})
    response = _post(admin_console, world.alpha.admin, _form(alpha, certificate_validity_months=12), confirm=False)
    assert response.status_code == 403
    alpha.refresh_from_db()
    assert alpha.certificate_validity_months == 24


# --- Django admin: the bounds ------------------------------------------------------------------------


def _bounds_form(**overrides: object) -> dict[str, object]:
    bounds = PolicyBounds.current()
    data: dict[str, object] = {}
    for field in PolicyBounds._meta.fields:
        if field.name in ("id", "updated_at"):
            continue
        value = getattr(bounds, field.name)
        data[field.name] = value
    data.update(overrides)
    return {name: ("on" if value is True else value) for name, value in data.items() if value is not False}


def test_platform_admin_edits_the_bounds_and_the_change_is_audited(client, db):
    platform_admin(client)
    bounds = PolicyBounds.current()
    url = reverse("admin:accounts_policybounds_change", args=[bounds.pk])
    response = client.post(url, _bounds_form(certificate_validity_months_max=48, automatic_renewal_allowed=False))
    assert response.status_code == 302, response.content.decode()[:3000]
    bounds.refresh_from_db()
    assert bounds.certificate_validity_months_max == 48 and bounds.automatic_renewal_allowed is False
    assert AuditEvent.objects.filter(event_type="admin.changed", details__model="policybounds").exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"certificate_validity_months_min": 40, "certificate_validity_months_max": 30},
        {"reminder_day_min": 90, "reminder_day_max": 60},
        {"login_max_failures_min": 12, "login_max_failures_max": 4},
    ],
)
def test_the_bounds_form_refuses_a_minimum_above_the_maximum(client, db, overrides):
    platform_admin(client)
    bounds = PolicyBounds.current()
    response = client.post(reverse("admin:accounts_policybounds_change", args=[bounds.pk]), _bounds_form(**overrides))
    assert response.status_code == 200
    assert "Il massimo non può essere inferiore al minimo" in response.content.decode()
    assert PolicyBounds.objects.get(pk=bounds.pk).updated_at == bounds.updated_at


def test_the_bounds_form_refuses_values_organizations_do_not_accept_and_no_otp_kind(client, db):
    platform_admin(client)
    bounds = PolicyBounds.current()
    url = reverse("admin:accounts_policybounds_change", args=[bounds.pk])
    page = client.post(url, _bounds_form(password_min_length_min=4)).content.decode()
    assert "Le organizzazioni accettano solo valori tra 8 e 64." in page
    page = client.post(url, _bounds_form(otp_hardware_available=False, otp_app_available=False,
                                         otp_sms_available=False)).content.decode()
    assert "Offri almeno un tipo di dispositivo OTP." in page
    assert PolicyBounds.objects.get(pk=bounds.pk).updated_at == bounds.updated_at


def test_the_bounds_are_one_row_never_added_twice_nor_deleted(client, db):
    platform_admin(client)
    bounds = PolicyBounds.current()
    assert client.get(reverse("admin:accounts_policybounds_add")).status_code == 403
    assert client.get(reverse("admin:accounts_policybounds_delete", args=[bounds.pk])).status_code == 403
    assert PolicyBounds.objects.count() == 1
