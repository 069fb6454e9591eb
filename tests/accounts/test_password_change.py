"""Change password from the panel: current + new + confirmation, the organization's policy."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent
from tests.conftest import HOLDER_PASSWORD, login

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Gabbiano-Vola-Basso-Sul-Porto-9"
URL = reverse("panel:password_change")


def change(client: Client, current: str, new: str, confirm: str | None = None):
    return client.post(
        URL, {"current_password": current, "new_password": new, "new_password_confirm": confirm or new}
    )


def field_errors(response, field: str) -> str:
    return " ".join(response.context["form"].errors.get(field, []))


def test_holder_changes_password_and_logs_in_with_the_new_one(world, holder_client):
    response = change(holder_client, HOLDER_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("panel:profile")
    assert holder_client.get(reverse("panel:profile")).status_code == 200  # this session survives
    user = User.objects.get(pk=world.alpha.holder.user.pk)
    assert user.password.startswith("argon2$")
    assert user.check_password(NEW_PASSWORD) and not user.check_password(HOLDER_PASSWORD)
    assert AuditEvent.objects.filter(event_type="auth.password.changed", actor_id=user.pk).count() == 1
    fresh = Client()
    assert login(fresh, user.username, HOLDER_PASSWORD).status_code == 400
    assert login(fresh, user.username, NEW_PASSWORD).status_code == 302


def test_other_sessions_of_the_account_end_when_the_password_changes(world, holder_client):
    other = Client()
    login(other, world.alpha.holder.user.username, HOLDER_PASSWORD)
    assert other.get(reverse("panel:profile")).status_code == 200
    change(holder_client, HOLDER_PASSWORD, NEW_PASSWORD)
    assert other.get(reverse("panel:profile")).status_code == 302
    assert SESSION_KEY not in other.session


def test_wrong_current_password_changes_nothing_and_is_audited(world, holder_client):
    response = change(holder_client, "not-my-password", NEW_PASSWORD)
    assert response.status_code == 400
    assert field_errors(response, "current_password")
    assert User.objects.get(pk=world.alpha.holder.user.pk).check_password(HOLDER_PASSWORD)
    assert AuditEvent.objects.filter(event_type="auth.password.change_failed").count() == 1


def test_confirmation_must_match(world, holder_client):
    response = change(holder_client, HOLDER_PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x")
    assert response.status_code == 400
    assert field_errors(response, "new_password_confirm")
    assert User.objects.get(pk=world.alpha.holder.user.pk).check_password(HOLDER_PASSWORD)


def test_minimum_length_is_the_organizations(world, client):
    thirteen = "Lago-Blu-13ch"
    assert len(thirteen) == 13
    login(client, world.beta.holder.user.username, HOLDER_PASSWORD)  # beta asks for 14
    response = change(client, HOLDER_PASSWORD, thirteen)
    assert response.status_code == 400
    assert "14" in field_errors(response, "new_password")
    client.post(reverse("accounts:logout"))
    login(client, world.alpha.holder.user.username, HOLDER_PASSWORD)  # alpha asks for 12
    assert change(client, HOLDER_PASSWORD, thirteen).status_code == 302


@pytest.mark.parametrize(
    "candidate",
    ["1qaz2wsx3edc4rfv", "123456789012345", "mario.rossi.2026"],
    ids=["common_password", "only_digits", "too_similar_to_username"],
)
def test_weak_passwords_are_refused_with_a_reason(world, holder_client, candidate):
    response = change(holder_client, HOLDER_PASSWORD, candidate)
    assert response.status_code == 400
    assert field_errors(response, "new_password")
    assert User.objects.get(pk=world.alpha.holder.user.pk).check_password(HOLDER_PASSWORD)


def test_new_password_must_differ_from_the_current_one(holder_client):
    response = change(holder_client, HOLDER_PASSWORD, HOLDER_PASSWORD)
    assert response.status_code == 400
    assert field_errors(response, "new_password")


def test_over_long_password_is_a_form_error(holder_client):
    response = change(holder_client, HOLDER_PASSWORD, "x" * 10_000)
    assert response.status_code == 400
    assert field_errors(response, "new_password")


def test_password_change_is_rate_limited_per_account(holder_client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password_change_user": "2/600s"}
    change(holder_client, "wrong-1", NEW_PASSWORD)
    change(holder_client, "wrong-2", NEW_PASSWORD)
    assert change(holder_client, HOLDER_PASSWORD, NEW_PASSWORD).status_code == 429


def test_password_page_needs_a_holder_login(world, client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
