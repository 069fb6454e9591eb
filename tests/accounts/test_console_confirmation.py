"""Sensitive console actions run only with a fresh second factor bound to that action.

Every action is tried the way a browser does it: the form's POST first, which (without a grant for
that operation) answers with the confirmation page and changes nothing; then the page's own form,
sent back with the fields it carries and the code read on the operator's token. The grant allows one
action of that kind: it is spent by the action, and never allows another kind of action.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.confirmation import CONFIRMATION_SECONDS, GRANTS_SESSION_KEY, OPERATIONS
from accounts.models import ApiClient, Holder, OperatorRole, User
from accounts.services.authentication import Portal, login_attempt, login_locked_until
from accounts.services.people import operator_create
from audit.models import AuditEvent
from certificates.models import Certificate, CertificateState
from certificates.services.lifecycle import certificate_suspend
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.oath import hotp
from otp.services import HOTP_LOOK_AHEAD, device_create, device_verify
from renewal.models import RenewalRequest, RenewalState
from tests.certificates.conftest import active, ca, ca_hierarchy  # noqa: F401  (fixtures)
from tests.conftest import (
    CODE_REPLAYED_IT,
    HOLDER_PASSWORD,
    OPERATOR_PASSWORD,
    STAFF_TOKEN_SEED,
    World,
    argon2_hash,
    login,
    staff_code,
    staff_token,
)
from tests.renewal.conftest import submitted
from tests.signing.conftest import api_client_for

pytestmark = pytest.mark.django_db

CONFIRM_TEMPLATE = "console/confirm.html"
SERIAL = "4000000000017"
SEED = b"12345678901234567890"


@dataclass
class Action:
    """One console action ready to be tried: where it posts, what, and whether it has happened."""

    url: str
    data: dict[str, str | list[str]]
    done: Callable[[], bool]


@dataclass(frozen=True)
class Case:
    name: str
    operation: str
    prepare: Callable[[World], Action]
    admin: bool = False  # API clients are the organization administrator's
    needs_ca: bool = False


# --- The actions -------------------------------------------------------------------------------------


def _certificate_state(certificate: Certificate) -> str:
    return Certificate.objects.get(pk=certificate.pk).state


def _issue(world: World) -> Action:
    holder = world.alpha.holder
    return Action(
        reverse("console:certificate_issue", args=[holder.pk]), {"issue-otp_choice": "app"},
        lambda: Certificate.objects.filter(holder=holder).exists(),
    )


def _holder_new(world: World) -> Action:
    data = {
        "given_name": "Giulia", "surname": "Verdi", "codice_fiscale": "VRDGLI85C41F257N",
        "email": "giulia.verdi@alpha.example.org", "mobile": "+39 347 200 0001", "birth_date": "1985-03-01",
        "birth_place": "Modena", "id_document_type": "identity_card", "id_document_number": "CA12345AB",
        "id_document_issuer": "Comune di Modena",
        "id_document_expiry": (timezone.localdate() + timedelta(days=700)).isoformat(),
        "residence_address": "Via Giardini 10", "residence_postal_code": "41124", "residence_city": "Modena",
        "residence_province": "MO", "role_organization": "Università Alfa", "role_title": "Ricercatrice",
        "otp_choice": "sms", "token_serial": "",
    }
    return Action(
        reverse("console:holder_new"), data,
        lambda: Holder.objects.filter(codice_fiscale="VRDGLI85C41F257N").exists(),
    )


def _revoke(world: World) -> Action:
    holder = world.alpha.holder
    certificate = active(holder)
    return Action(
        reverse("console:certificate_revoke", args=[holder.pk, certificate.pk]),
        {"reason": "key_compromise", "confirm": "on"},
        lambda: _certificate_state(certificate) == CertificateState.REVOKED,
    )


def _reactivate(world: World) -> Action:
    holder = world.alpha.holder
    certificate = certificate_suspend(certificate=active(holder), actor=world.alpha.operator.user)
    return Action(
        reverse("console:certificate_reactivate", args=[holder.pk, certificate.pk]), {},
        lambda: _certificate_state(certificate) == CertificateState.ACTIVE,
    )


def _lock_login(holder: Holder) -> None:
    for _ in range(holder.organization.login_max_failures):
        login_attempt(username=holder.user.username, password="x", portal=Portal.PANEL)
    assert login_locked_until(user=holder.user) is not None


def _login_unlock(world: World) -> Action:
    holder = world.alpha.holder
    _lock_login(holder)
    return Action(
        reverse("console:holder_unlock", args=[holder.pk]), {},
        lambda: login_locked_until(user=holder.user) is None,
    )


def _device_unlock(world: World) -> Action:
    holder = world.alpha.holder
    device = device_create(kind=DeviceKind.APP_TOTP, seed=SEED, holder=holder)
    while not OtpDevice.objects.get(pk=device.pk).is_locked:
        device_verify(device=device, code="000000", purpose="test")
    return Action(
        reverse("console:device_unlock", args=[holder.pk, device.public_id]), {},
        lambda: not OtpDevice.objects.get(pk=device.pk).is_locked,
    )


def _token_assign(world: World) -> Action:
    holder = world.alpha.holder
    token = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, serial=SERIAL, state=DeviceState.AVAILABLE)
    return Action(
        reverse("console:token_assign", args=[holder.pk]), {"serial": SERIAL},
        lambda: OtpDevice.objects.get(pk=token.pk).holder_id == holder.pk,
    )


def _renewal_state(renewal: RenewalRequest) -> str:
    return RenewalRequest.objects.get(pk=renewal.pk).state


def _renewal_approve(world: World) -> Action:
    renewal = submitted(world.alpha.holder)
    return Action(
        reverse("console:renewal_approve", args=[renewal.pk]), {"approve-confirm": "on"},
        lambda: _renewal_state(renewal) == RenewalState.ISSUED,
    )


def _renewals_approve(world: World) -> Action:
    renewals = [submitted(holder) for holder in world.alpha.holders]
    return Action(
        reverse("console:renewals_approve"), {"requests": [str(r.pk) for r in renewals], "confirm": "on"},
        lambda: all(_renewal_state(r) == RenewalState.ISSUED for r in renewals),
    )


def _renewal_reject(world: World) -> Action:
    renewal = submitted(world.alpha.holder)
    return Action(
        reverse("console:renewal_reject", args=[renewal.pk]),
        {"reject-reason": "Il documento di identità allegato è scaduto.", "reject-confirm": "on"},
        lambda: _renewal_state(renewal) == RenewalState.REJECTED,
    )


def _api_client_create(world: World) -> Action:
    return Action(
        reverse("console:api_client_create"), {"name": "Registro esami", "scopes": ["batch", "validation"]},
        lambda: ApiClient.objects.filter(organization=world.alpha.organization, name="Registro esami").exists(),
    )


def _api_client_revoke(world: World) -> Action:
    api_client, _secret = api_client_for(world.alpha)
    return Action(
        reverse("console:api_client_revoke", args=[api_client.pk]), {},
        lambda: ApiClient.objects.get(pk=api_client.pk).revoked_at is not None,
    )


CASES = [
    Case("certificate-issue", "certificate_issue", _issue, needs_ca=True),
    Case("holder-new-and-issue", "certificate_issue", _holder_new, needs_ca=True),
    Case("certificate-revoke", "certificate_revoke", _revoke, needs_ca=True),
    Case("certificate-reactivate", "certificate_reactivate", _reactivate, needs_ca=True),
    Case("login-unlock", "login_unlock", _login_unlock),
    Case("device-unlock", "device_unlock", _device_unlock),
    Case("token-assign", "token_assign", _token_assign),
    Case("renewal-approve", "renewal_approve", _renewal_approve, needs_ca=True),
    Case("renewals-approve-batch", "renewal_approve", _renewals_approve, needs_ca=True),
    Case("renewal-reject", "renewal_reject", _renewal_reject, needs_ca=True),
    Case("api-client-create", "api_client_create", _api_client_create, admin=True),
    Case("api-client-revoke", "api_client_revoke", _api_client_revoke, admin=True),
]


def test_every_case_names_an_operation_of_the_catalogue():
    assert {case.operation for case in CASES} <= set(OPERATIONS)


# --- Helpers -----------------------------------------------------------------------------------------


@dataclass
class Acting:
    client: Client
    user: User
    action: Action
    operation: str
    sign_in_code: str  # the code the person signed in with (already used)


@pytest.fixture(params=CASES, ids=lambda case: case.name)
def acting(request: pytest.FixtureRequest, world: World) -> Acting:
    """The case's action prepared, and the right person signed in to the console (no grant yet)."""
    case: Case = request.param
    if case.needs_ca:
        request.getfixturevalue("ca")
    user = (world.alpha.admin if case.admin else world.alpha.operator).user
    action = case.prepare(world)
    assert not action.done()
    client = Client()
    sign_in_code = staff_code(user)
    assert login(client, user.username, OPERATOR_PASSWORD, portal="console").status_code == 302
    return Acting(client=client, user=user, action=action, operation=case.operation, sign_in_code=sign_in_code)


def is_confirmation_page(response) -> bool:  # noqa: ANN001
    return CONFIRM_TEMPLATE in [template.name for template in response.templates]


def staff_device(user: User) -> OtpDevice:
    return OtpDevice.objects.get(staff_user=user, kind=DeviceKind.HARDWARE_HOTP)


def wrong_code(user: User) -> str:
    """A code this person's token will not show soon, nor showed lately (so: wrong, not a replay)."""
    device = staff_device(user)
    near = {hotp(STAFF_TOKEN_SEED, counter) for counter in range(0, device.counter + HOTP_LOOK_AHEAD + 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in near)


def with_code(data: dict, code: str) -> dict:
    return {**data, "confirmation_code": code}


def grant_in_session(client: Client, operations: list[str]) -> None:
    session = client.session
    session[GRANTS_SESSION_KEY] = {operation: int(time.time()) + CONFIRMATION_SECONDS for operation in operations}
    session.save()


def resubmit(client: Client, page, code: str):  # noqa: ANN001
    """Send the confirmation page's form as a browser would: the fields it carries, and the code."""
    data: dict[str, list[str]] = {}
    for name, value in page.context["carried"]:
        data.setdefault(name, []).append(value)
    return client.post(page.context["action"], {**data, "confirmation_code": code})


def verified(user: User, operation: str) -> int:
    """How many factors this person confirmed ``operation`` with."""
    return AuditEvent.objects.filter(
        event_type="otp.verify_succeeded", actor_id=user.pk, details__purpose=f"confirm:{operation}"
    ).count()


# --- Every sensitive action --------------------------------------------------------------------------


def test_without_a_fresh_factor_nothing_happens_and_the_page_asks_for_it_carrying_the_form(acting: Acting):
    response = acting.client.post(acting.action.url, acting.action.data)

    assert response.status_code == 403 and is_confirmation_page(response)
    assert not acting.action.done()
    assert response.context["operation_text"] == OPERATIONS[acting.operation]
    assert response.context["action"] == acting.action.url
    expected = [
        (name, value)
        for name, values in acting.action.data.items()
        for value in (values if isinstance(values, list) else [values])
    ]
    assert sorted(response.context["carried"]) == sorted(expected)
    page = response.content.decode()
    assert 'name="confirmation_code"' in page and f'action="{acting.action.url}"' in page
    for name, value in expected:
        if value:
            assert f'<input type="hidden" name="{name}" value="{value}">' in page, name


def test_a_grant_for_every_other_operation_does_not_allow_it(acting: Acting):
    grant_in_session(acting.client, [operation for operation in OPERATIONS if operation != acting.operation])

    response = acting.client.post(acting.action.url, acting.action.data)

    assert response.status_code == 403 and is_confirmation_page(response)
    assert not acting.action.done()


def test_with_the_code_the_action_happens_once_and_the_next_one_asks_again(acting: Acting):
    page = acting.client.post(acting.action.url, acting.action.data)

    response = resubmit(acting.client, page, staff_code(acting.user))

    assert acting.action.done()
    assert not is_confirmation_page(response)
    if acting.operation == "api_client_create":  # the secret is shown once, on the answer itself
        assert response.status_code == 200 and response.context["client_secret"]
    else:
        assert response.status_code == 302
    assert verified(acting.user, acting.operation) == 1
    assert acting.operation not in acting.client.session.get(GRANTS_SESSION_KEY, {})  # spent

    again = acting.client.post(acting.action.url, acting.action.data)

    assert again.status_code == 403 and is_confirmation_page(again)


def test_a_wrong_code_is_refused_counted_on_the_device_and_changes_nothing(acting: Acting):
    failures = staff_device(acting.user).failure_count

    response = acting.client.post(acting.action.url, with_code(acting.action.data, wrong_code(acting.user)))

    assert response.status_code == 400 and is_confirmation_page(response)
    assert response.context["error"]
    assert not acting.action.done()
    assert staff_device(acting.user).failure_count == failures + 1
    assert acting.operation not in acting.client.session.get(GRANTS_SESSION_KEY, {})


def test_a_code_already_used_is_refused_and_changes_nothing(acting: Acting):
    # The code the operator signed in with, typed again.
    response = acting.client.post(acting.action.url, with_code(acting.action.data, acting.sign_in_code))

    assert response.status_code == 400 and is_confirmation_page(response)
    assert CODE_REPLAYED_IT in response.content.decode()
    assert not acting.action.done()
    assert AuditEvent.objects.filter(event_type="otp.code_replayed", actor_id=acting.user.pk).count() == 1


# --- Who is asked at all -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_someone_not_signed_in_to_the_console_is_sent_to_its_login_never_asked_for_a_factor(
    world: World, request: pytest.FixtureRequest, case: Case
):
    if case.needs_ca:
        request.getfixturevalue("ca")
    action = case.prepare(world)
    anonymous = Client()
    holder = Client()  # another organization's holder: alpha's may be the one locked out by the case
    assert login(holder, world.beta.holder.user.username, HOLDER_PASSWORD).status_code == 302

    for client in (anonymous, holder):
        response = client.post(action.url, action.data)
        assert response.status_code == 302 and response["Location"].startswith(reverse("console:login"))
    assert not action.done()


def test_an_auditor_is_refused_not_asked_for_a_factor(world: World):
    auditor = operator_create(
        organization=world.alpha.organization, username="alpha.revisore", given_name="Anna", surname="Conti",
        email="revisore@alpha.example.org", role=OperatorRole.AUDITOR,
    )
    User.objects.filter(pk=auditor.user.pk).update(password=argon2_hash(OPERATOR_PASSWORD))
    staff_token(auditor.user)
    client = Client()
    assert login(client, auditor.user.username, OPERATOR_PASSWORD, portal="console").status_code == 302
    action = _login_unlock(world)

    response = client.post(action.url, with_code(action.data, staff_code(auditor.user)))

    assert response.status_code == 403 and not is_confirmation_page(response)
    assert not action.done()


# --- Grants and batches ------------------------------------------------------------------------------


def test_a_grant_kept_after_a_form_error_allows_only_its_own_operation(world: World, ca, operator_client):  # noqa: F811
    holder, other = world.alpha.holders
    to_revoke = active(holder)
    suspended = certificate_suspend(certificate=active(other), actor=world.alpha.operator.user)
    revoke_url = reverse("console:certificate_revoke", args=[holder.pk, to_revoke.pk])
    user = world.alpha.operator.user

    # Confirmed, but the box is not ticked: the form comes back, and the grant for revoking stays.
    response = operator_client.post(revoke_url, {"reason": "key_compromise", "confirmation_code": staff_code(user)})
    assert response.status_code == 400 and not is_confirmation_page(response)
    assert response.context["form"].errors["confirm"]

    # Reactivating is another operation: asked for its own factor.
    reactivate = operator_client.post(reverse("console:certificate_reactivate", args=[other.pk, suspended.pk]))
    assert reactivate.status_code == 403 and is_confirmation_page(reactivate)
    assert _certificate_state(suspended) == CertificateState.SUSPENDED

    # The revocation, corrected, needs no new code.
    response = operator_client.post(revoke_url, {"reason": "key_compromise", "confirm": "on"})
    assert response.status_code == 302
    assert _certificate_state(to_revoke) == CertificateState.REVOKED
    assert verified(user, "certificate_revoke") == 1


def test_a_code_that_confirmed_one_action_cannot_confirm_the_next(world: World, operator_client):
    first, second = world.alpha.holders
    _lock_login(first)
    _lock_login(second)
    code = staff_code(world.alpha.operator.user)

    done = operator_client.post(reverse("console:holder_unlock", args=[first.pk]), {"confirmation_code": code})
    replayed = operator_client.post(reverse("console:holder_unlock", args=[second.pk]), {"confirmation_code": code})

    assert done.status_code == 302 and login_locked_until(user=first.user) is None
    assert replayed.status_code == 400 and is_confirmation_page(replayed)
    assert CODE_REPLAYED_IT in replayed.content.decode()
    assert login_locked_until(user=second.user) is not None


def test_a_batch_approval_is_confirmed_once_for_all_its_requests(world: World, ca, operator_client):  # noqa: F811
    renewals = [submitted(holder) for holder in world.alpha.holders]
    data = {"requests": [str(renewal.pk) for renewal in renewals], "confirm": "on"}

    page = operator_client.post(reverse("console:renewals_approve"), data)

    assert page.status_code == 403 and is_confirmation_page(page)
    assert sorted(value for name, value in page.context["carried"] if name == "requests") == sorted(data["requests"])
    assert {_renewal_state(renewal) for renewal in renewals} == {RenewalState.SUBMITTED}

    response = resubmit(operator_client, page, staff_code(world.alpha.operator.user))

    assert response.status_code == 302 and response["Location"] == reverse("console:renewals")
    assert {_renewal_state(renewal) for renewal in renewals} == {RenewalState.ISSUED}
    assert verified(world.alpha.operator.user, "renewal_approve") == 1
