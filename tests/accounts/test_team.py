"""Organization admins manage their own team in the console: invite, roles, deactivate, reset factors."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Operator, OperatorRole, StaffEnrolment, User
from audit.models import AuditEvent
from notifications.models import Message
from otp.models import DeviceState, OtpDevice
from tests.conftest import OPERATOR_PASSWORD, login, staff_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(world) -> Client:
    client = Client()
    assert login(client, world.alpha.admin.user.username, OPERATOR_PASSWORD, portal="console").status_code == 302
    return client


def confirmed(world, data: dict) -> dict:
    return {**data, "confirmation_code": staff_code(world.alpha.admin.user)}


INVITE = {"given_name": "Anna", "surname": "Verdi", "email": "anna.verdi@alpha.example.org", "role": "operator"}


def test_an_admin_invites_a_person_who_gets_a_link_by_e_mail(world, admin_client):
    response = admin_client.post(reverse("console:team_invite"), confirmed(world, INVITE))
    assert response.status_code == 302 and response["Location"] == reverse("console:team")
    operator = Operator.objects.get(email="anna.verdi@alpha.example.org")
    assert operator.organization == world.alpha.organization and operator.user.username == operator.email
    assert not operator.user.has_usable_password()  # nobody signs in before the link is used
    assert Message.objects.filter(message_type="staff_invitation", recipient=operator.email).count() == 1
    assert AuditEvent.objects.filter(event_type="operator.invited", organization_id=world.alpha.organization.pk)
    listing = admin_client.get(reverse("console:team")).content.decode()
    assert "Anna Verdi" in listing and "Paola Ferri" in listing and "Lucia" not in listing


def test_an_invitation_needs_a_fresh_second_factor(world, admin_client):
    response = admin_client.post(reverse("console:team_invite"), INVITE)
    carried = 'name="email" value="anna.verdi@alpha.example.org"'
    assert response.status_code == 403 and carried in response.content.decode()
    assert not Operator.objects.filter(email=INVITE["email"]).exists()


@pytest.mark.parametrize(
    "email", ["mario.rossi@alpha.example.org", "operatore@beta.example.org", "admin@alpha.example.org"]
)
def test_an_invitation_to_an_address_already_used_elsewhere_is_refused_and_nothing_is_created(
    world, admin_client, email
):
    before = (User.objects.count(), Operator.objects.count(), StaffEnrolment.objects.count())
    response = admin_client.post(reverse("console:team_invite"), confirmed(world, {**INVITE, "email": email}))
    assert response.status_code == 400 and "appartiene già" in response.content.decode()
    assert (User.objects.count(), Operator.objects.count(), StaffEnrolment.objects.count()) == before


@pytest.mark.parametrize("data", [
    {**INVITE, "email": "not-an-address"}, {**INVITE, "role": "superuser"}, {**INVITE, "given_name": ""},
    {"email": "x" * 500}, {},
])
def test_a_malformed_invitation_is_a_form_error(world, admin_client, data):
    before = User.objects.count()
    response = admin_client.post(reverse("console:team_invite"), confirmed(world, data))
    assert response.status_code == 400
    assert User.objects.count() == before


def test_another_organizations_operator_is_the_same_404_as_a_missing_one(world, admin_client):
    foreign = world.beta.operator
    assert admin_client.get(reverse("console:team_member", args=[foreign.pk])).status_code == 404
    assert admin_client.get(reverse("console:team_member", args=[999999])).status_code == 404
    response = admin_client.post(reverse("console:team_member_action", args=[foreign.pk, "deactivate"]),
                                 confirmed(world, {}))
    assert response.status_code == 404
    assert User.objects.get(pk=foreign.user_id).is_active


def test_an_admin_deactivates_and_reactivates_an_operator_whose_sessions_end(world, admin_client, operator_client):
    target = world.alpha.operator
    assert operator_client.get(reverse("console:home")).status_code == 200
    url = reverse("console:team_member_action", args=[target.pk, "deactivate"])
    assert admin_client.post(url, confirmed(world, {})).status_code == 302
    assert not User.objects.get(pk=target.user_id).is_active
    assert operator_client.get(reverse("console:home")).status_code == 302  # signed out
    assert login(Client(), target.user.username, OPERATOR_PASSWORD, portal="console").status_code == 400
    url = reverse("console:team_member_action", args=[target.pk, "reactivate"])
    assert admin_client.post(url, confirmed(world, {})).status_code == 302
    assert login(Client(), target.user.username, OPERATOR_PASSWORD, portal="console").status_code == 302
    events = set(AuditEvent.objects.filter(subject_id=str(target.user_id)).values_list("event_type", flat=True))
    assert {"operator.deactivated", "operator.reactivated"} <= events


def test_the_last_admin_cannot_be_deactivated_or_demoted(world, admin_client):
    second = Client()
    # Make the operator an admin, then let them try to remove the first admin: one must remain.
    role = reverse("console:team_member_action", args=[world.alpha.operator.pk, "role"])
    assert admin_client.post(role, confirmed(world, {"role": OperatorRole.ORGANIZATION_ADMIN})).status_code == 302
    assert login(second, world.alpha.operator.user.username, OPERATOR_PASSWORD, portal="console").status_code == 302
    code = {"confirmation_code": staff_code(world.alpha.operator.user)}
    demote = reverse("console:team_member_action", args=[world.alpha.admin.pk, "role"])
    assert second.post(demote, {**code, "role": OperatorRole.OPERATOR}).status_code == 302
    assert Operator.objects.get(pk=world.alpha.admin.pk).role == OperatorRole.OPERATOR
    # Now the former operator is the only admin: nobody can deactivate or demote them.
    from accounts.services.staff import operator_deactivate, operator_role_change
    from core.errors import ApplicationError

    only = Operator.objects.get(pk=world.alpha.operator.pk)
    with pytest.raises(ApplicationError) as refused:
        operator_deactivate(actor=world.beta.admin.user, operator=only)
    assert refused.value.code == "last_admin"
    with pytest.raises(ApplicationError):
        operator_role_change(actor=world.beta.admin.user, operator=only, role=OperatorRole.AUDITOR)
    assert User.objects.get(pk=only.user_id).is_active


def test_an_admin_cannot_deactivate_themself(world, admin_client):
    url = reverse("console:team_member_action", args=[world.alpha.admin.pk, "deactivate"])
    assert admin_client.post(url, confirmed(world, {})).status_code == 302
    assert User.objects.get(pk=world.alpha.admin.user_id).is_active


def test_an_admin_resets_an_operators_lost_factor_and_the_operator_is_e_mailed_a_link(world, admin_client):
    target = world.alpha.operator
    url = reverse("console:team_member_action", args=[target.pk, "reset"])
    assert admin_client.post(url, confirmed(world, {})).status_code == 302
    assert not OtpDevice.objects.filter(staff_user=target.user, state=DeviceState.ACTIVE).exists()
    assert Message.objects.filter(message_type="staff_factor_reset", recipient=target.email).count() == 1
    assert AuditEvent.objects.filter(event_type="staff.second_factor_reset", subject_id=str(target.user_id))


def test_plain_operators_and_auditors_cannot_manage_the_team(world, operator_client):
    assert operator_client.get(reverse("console:team")).status_code == 403
    response = operator_client.post(reverse("console:team_invite"),
                                    {**INVITE, "confirmation_code": staff_code(world.alpha.operator.user)})
    assert response.status_code == 403 and not Operator.objects.filter(email=INVITE["email"]).exists()


def test_an_auditor_reads_the_console_but_changes_nothing(world, admin_client):
    from accounts.services.staff import enrolment_link_issue  # noqa: F401
    from tests.conftest import staff_token

    admin_client.post(reverse("console:team_invite"), confirmed(world, {**INVITE, "role": OperatorRole.AUDITOR}))
    auditor = Operator.objects.get(email=INVITE["email"])
    auditor.user.set_password(OPERATOR_PASSWORD)
    auditor.user.save()
    staff_token(auditor.user)
    client = Client()
    assert login(client, auditor.user.username, OPERATOR_PASSWORD, portal="console").status_code == 302
    assert client.get(reverse("console:home")).status_code == 200
    holder = world.alpha.holder
    unlock = client.post(reverse("console:holder_unlock", args=[holder.pk]),
                         {"confirmation_code": staff_code(auditor.user)})
    assert unlock.status_code == 403
    assert client.get(reverse("console:security")).status_code == 200  # their own factors, though
