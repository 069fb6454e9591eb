"""The selfcare panel shell: the menus, profile data, honest empty states, Italian and English."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Organization, User
from audit.models import AuditEvent
from tests.conftest import HOLDER_PASSWORD, login, platform_admin

pytestmark = pytest.mark.django_db

PANEL_PAGES = ["profile", "password_change", "phone", "email", "user_code", "devices", "signing", "notifications"]
MENU_IT = [
    "Gestione utenza", "Informazioni profilo", "Cambio password", "Telefono", "Email", "Codice utente",
    "Gestione dispositivi", "Firma", "Notifiche",
]


@pytest.mark.parametrize("name", PANEL_PAGES)
def test_every_panel_page_shows_the_seed_menus_in_italian(holder_client, name):
    response = holder_client.get(reverse(f"panel:{name}"), follow=True)  # phone, e-mail: via the OTP step-up
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="it">' in page
    for label in MENU_IT:
        assert label in page
    assert 'aria-current="page"' in page


@pytest.mark.parametrize("name", PANEL_PAGES)
def test_panel_pages_need_a_login(world, client, name):
    response = client.get(reverse(f"panel:{name}"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_profile_shows_username_holder_and_role_data_and_the_honest_states(world, holder_client):
    holder = world.alpha.holder
    page = holder_client.get(reverse("panel:profile")).content.decode()
    for value in (holder.user.username, holder.codice_fiscale, holder.given_name, holder.surname, holder.email,
                  holder.mobile, "Professore ordinario", "Via Emilia 1"):
        assert value in page
    assert "Certificato non ancora emesso" in page and "Nessun dispositivo OTP associato" in page
    assert "Al momento non ci sono notifiche da visualizzare" in page


def test_switching_to_english_translates_the_panel_and_remembers_the_choice(world, holder_client):
    response = holder_client.post(reverse("accounts:language"), {"language": "en", "next": reverse("panel:email")})
    assert response.status_code == 302 and response["Location"] == reverse("panel:email")
    page = holder_client.get(reverse("panel:profile")).content.decode()
    assert '<html lang="en">' in page
    assert "Profile information" in page and "Account management" in page
    assert "Informazioni profilo" not in page
    assert User.objects.get(pk=world.alpha.holder.user.pk).preferred_language == "en"


def test_the_preferred_language_comes_back_at_the_next_login(world, holder_client, client):
    holder_client.post(reverse("accounts:language"), {"language": "en"})
    holder_client.post(reverse("accounts:logout"))
    holder_client.cookies.clear()
    login(holder_client, world.alpha.holder.user.username, HOLDER_PASSWORD)
    assert "Profile information" in holder_client.get(reverse("panel:profile")).content.decode()


def test_italian_is_the_default_whatever_the_browser_asks(world, client):
    page = client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="it">' in page
    assert "Accedi" in page


def test_language_switch_works_before_login(client, db):
    client.post(reverse("accounts:language"), {"language": "en", "next": reverse("accounts:login")})
    assert '<html lang="en">' in client.get(reverse("accounts:login")).content.decode()


@pytest.mark.parametrize("payload", [{"language": "de"}, {"language": "x" * 500}, {}])
def test_unknown_language_is_a_400_not_a_crash(client, db, payload):
    response = client.post(reverse("accounts:language"), payload)
    assert response.status_code == 400


def test_language_switch_ignores_off_site_next(client, db):
    response = client.post(reverse("accounts:language"), {"language": "en", "next": "//evil.example.com/x"})
    assert response.status_code == 302
    assert "evil" not in response["Location"]


def test_footer_shows_the_organizations_support_contacts(world, holder_client):
    page = holder_client.get(reverse("panel:user_code")).content.decode()
    assert world.alpha.organization.support_email in page


def test_platform_admin_creates_an_organization_in_django_admin_and_it_is_audited(client, db):
    platform_admin(client)
    form = {
        "name": "Politecnico Gamma", "slug": "gamma", "is_active": "on", "support_email": "", "support_url": "",
        "certificate_validity_months": 36, "renewable": "on", "renewal_window_days": 60,
        "renewal_requires_approval": "on", "reminder_days": "[60, 30, 7]", "activation_deadline_days": 120,
        "suspended_auto_revoke_days": 120, "max_active_certificates": 1, "key_algorithm": "rsa-2048",
        "pin_max_retries": 5, "otp_hardware_allowed": "on", "otp_app_allowed": "on", "otp_sms_allowed": "on",
        "password_min_length": 12, "login_max_failures": 5, "login_lockout_minutes": 15,
    }
    response = client.post(reverse("admin:accounts_organization_add"), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    gamma = Organization.objects.get(slug="gamma")
    assert gamma.reminder_days == [60, 30, 7]
    assert AuditEvent.objects.filter(
        event_type="admin.created", details__model="organization", organization_id=gamma.pk
    ).exists()


def test_organization_policy_defaults_are_the_specs(db):
    org = Organization.objects.create(slug="delta", name="Delta")
    assert (org.certificate_validity_months, org.renewal_window_days, org.activation_deadline_days) == (36, 60, 120)
    assert (org.login_max_failures, org.login_lockout_minutes, org.password_min_length) == (5, 15, 12)
    assert org.reminder_days == [60, 30, 7] and org.renewal_requires_approval and org.max_active_certificates == 1


def test_holders_and_operators_cannot_log_in_to_django_admin(world, client):
    response = client.post(
        reverse("admin:login"), {"username": world.alpha.admin.user.username, "password": "Sportello-Aperto-Martedi-17"}
    )
    assert response.status_code == 400
    assert client.get(reverse("admin:index")).status_code == 302
