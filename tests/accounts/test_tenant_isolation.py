"""Tenant isolation as a mechanism: selectors take the acting user; foreign looks exactly like missing."""

from __future__ import annotations

import re

import pytest
from django.http import Http404
from django.urls import reverse

from accounts.selectors import (
    holder_for_user,
    holder_get_for_operator,
    holder_list_for_operator,
    operator_for_user,
    organization_for_operator,
)
from tests.conftest import HOLDER_PASSWORD, login

pytestmark = pytest.mark.django_db


def test_operator_lists_only_holders_of_their_organization(world):
    listed = set(holder_list_for_operator(user=world.alpha.operator.user))
    assert listed == set(world.alpha.holders)
    assert set(holder_list_for_operator(user=world.beta.admin.user)) == set(world.beta.holders)


def test_search_never_crosses_organizations(world):
    foreign = world.beta.holder
    for term in (foreign.surname, foreign.codice_fiscale, foreign.user.username):
        assert list(holder_list_for_operator(user=world.alpha.operator.user, search=term)) == []
    assert list(holder_list_for_operator(user=world.beta.operator.user, search=foreign.codice_fiscale)) == [foreign]


def test_foreign_and_missing_holders_are_the_same_404(world):
    with pytest.raises(Http404):
        holder_get_for_operator(user=world.alpha.operator.user, holder_id=world.beta.holder.pk)
    with pytest.raises(Http404):
        holder_get_for_operator(user=world.alpha.operator.user, holder_id=999_999)
    own = holder_get_for_operator(user=world.alpha.operator.user, holder_id=world.alpha.holder.pk)
    assert own == world.alpha.holder


def test_selectors_refuse_the_wrong_kind_of_user(world):
    with pytest.raises(Http404):
        operator_for_user(user=world.alpha.holder.user)
    with pytest.raises(Http404):
        holder_for_user(user=world.alpha.operator.user)
    with pytest.raises(Http404):
        holder_list_for_operator(user=world.alpha.holder.user)
    assert organization_for_operator(user=world.beta.admin.user) == world.beta.organization


def test_console_answers_foreign_holder_pages_like_missing_ones(world, operator_client):
    foreign_url = reverse("console:holder_detail", args=[world.beta.holder.pk])
    missing_url = reverse("console:holder_detail", args=[999_999])
    foreign, missing = operator_client.get(foreign_url), operator_client.get(missing_url)
    assert foreign.status_code == missing.status_code == 404

    def normalized(content: bytes, url: str) -> bytes:
        # Identical but for the echoed path and the per-response masking of the CSRF token.
        content = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", content)
        return content.replace(url.encode(), b"<url>")

    assert normalized(foreign.content, foreign_url) == normalized(missing.content, missing_url)
    assert world.beta.holder.surname.encode() not in foreign.content


def test_console_list_shows_no_foreign_names(world, operator_client):
    page = operator_client.get(reverse("console:home")).content.decode()
    assert all(h.surname in page for h in world.alpha.holders)
    assert not any(h.codice_fiscale in page for h in world.beta.holders)
    search = operator_client.get(reverse("console:home"), {"q": world.beta.holder.codice_fiscale}).content.decode()
    assert world.beta.holder.surname not in search


def test_holder_cannot_reach_the_console(world, holder_client):
    response = holder_client.get(reverse("console:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login"))
    assert holder_client.get(reverse("console:holder_detail", args=[world.alpha.holder.pk])).status_code == 302


def test_operator_cannot_reach_the_panel(world, operator_client):
    response = operator_client.get(reverse("panel:profile"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_holder_sees_only_their_own_profile(world, client):
    login(client, world.beta.holder.user.username, HOLDER_PASSWORD)
    page = client.get(reverse("panel:profile")).content.decode()
    assert world.beta.holder.codice_fiscale in page
    assert world.alpha.holder.codice_fiscale not in page
    assert world.beta.organization.name in page


def test_console_organization_page_shows_the_operators_own_policy(world, client):
    login(client, world.beta.operator.user.username, "Sportello-Aperto-Martedi-17", portal="console")
    page = client.get(reverse("console:organization")).content.decode()
    assert world.beta.organization.name in page
    assert world.alpha.organization.name not in page
