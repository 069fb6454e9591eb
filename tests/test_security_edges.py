"""Hostile and malformed requests get a clear answer in the user's language, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

from tests.conftest import HOLDER_PASSWORD, login

pytestmark = pytest.mark.django_db


def test_forged_cross_site_post_gets_the_403_page_in_italian(world):
    browser = Client(enforce_csrf_checks=True)
    response = browser.post(
        reverse("accounts:login"), {"username": world.alpha.holder.user.username, "password": HOLDER_PASSWORD}
    )
    assert response.status_code == 403
    assert '<html lang="it">' in response.content.decode()
    assert "_auth_user_id" not in browser.session


def test_logged_in_forged_password_change_is_refused(world):
    logged_in = Client()
    login(logged_in, world.alpha.holder.user.username, HOLDER_PASSWORD)
    browser = Client(enforce_csrf_checks=True)
    browser.cookies = logged_in.cookies  # a real session, but the forged form carries no CSRF token
    assert browser.get(reverse("panel:profile")).status_code == 200
    response = browser.post(
        reverse("panel:password_change"),
        {"current_password": HOLDER_PASSWORD, "new_password": "Nuova-Password-Forzata-1",
         "new_password_confirm": "Nuova-Password-Forzata-1"},
    )
    assert response.status_code == 403
    world.alpha.holder.user.refresh_from_db()
    assert world.alpha.holder.user.check_password(HOLDER_PASSWORD)


@pytest.mark.parametrize(
    "cookie", ["garbage", "x" * 5000, "'; DROP TABLE django_session; --", "..%2f..%2f", "abcdefgh\x00ijklmnop"]
)
def test_tampered_session_cookie_is_just_an_anonymous_visitor(world, client, cookie):
    client.cookies["sessionid"] = cookie
    response = client.get(reverse("panel:profile"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_security_headers_are_on_every_page(client, db):
    response = client.get(reverse("accounts:login"))
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]


def test_unknown_page_is_the_404_page_in_the_users_language(client, db):
    response = client.get("/non-esiste/")
    assert response.status_code == 404
    assert '<html lang="it">' in response.content.decode()
    client.post(reverse("accounts:language"), {"language": "en"})
    assert "Page not found" in client.get("/does-not-exist/").content.decode()


@pytest.mark.parametrize("holder_id", ["abc", "-1", "9" * 30])
def test_malformed_ids_in_urls_are_404(operator_client, holder_id):
    assert operator_client.get(f"/operatore/titolari/{holder_id}/").status_code == 404


def test_absurd_page_and_search_parameters_do_not_crash_the_console(operator_client):
    for params in ({"page": "-5"}, {"page": "x"}, {"page": "9" * 40}, {"q": "%" * 50}):
        assert operator_client.get(reverse("console:home"), params).status_code == 200


@pytest.mark.parametrize("query", ["rossi\x00", "x" * 101])
def test_a_search_the_database_cannot_take_is_explained_not_run(operator_client, query):
    response = operator_client.get(reverse("console:home"), {"q": query})
    assert response.status_code == 200
    assert response.context["search_errors"]
    assert 'aria-invalid="true"' in response.content.decode()


def test_non_utf8_and_multipart_junk_get_a_form_error(client, db):
    response = client.post(
        reverse("accounts:login"), data=b"\xff\xfe\xfd=\x00", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    response = client.post(reverse("accounts:login"), data="--broken", content_type="multipart/form-data; boundary=z")
    assert response.status_code == 400


def test_too_many_form_fields_are_a_400(client, db):
    payload = "&".join(f"f{i}=1" for i in range(500))
    response = client.post(reverse("accounts:login"), data=payload, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400


def test_unsupported_methods_are_405(holder_client):
    assert holder_client.put(reverse("accounts:login")).status_code == 405
    assert holder_client.delete(reverse("panel:password_change")).status_code == 405
    assert holder_client.get(reverse("accounts:language")).status_code == 405


def test_the_500_page_renders_standalone_in_both_languages(db):
    response = server_error(RequestFactory().get("/"))
    page = response.content.decode()
    assert response.status_code == 500
    assert "Errore" in page and "Error" in page


def test_private_pages_are_never_cached_and_logout_clears_the_browser_cache(holder_client):
    profile = holder_client.get(reverse("panel:profile"))
    assert "no-store" in profile["Cache-Control"] and "private" in profile["Cache-Control"]
    logout = holder_client.post(reverse("accounts:logout"))
    assert logout["Clear-Site-Data"] == '"cache"'
    assert "no-store" in logout["Cache-Control"]
