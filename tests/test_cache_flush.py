"""The cache (Redis in production) emptied — flushed, restarted without persistence, evicted: nothing a
holder relies on is lost. Sessions and login lockouts live in the database; what the cache held (rate
limit windows, cached figures) starts afresh, which only ever lets a few more requests through."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from accounts.services.authentication import LoginOutcome, Portal, login_attempt
from tests.conftest import HOLDER_PASSWORD, login

pytestmark = pytest.mark.django_db


def test_a_logged_in_holder_stays_logged_in_when_the_cache_is_flushed(world, holder_client):
    assert holder_client.get(reverse("panel:profile")).status_code == 200

    cache.clear()

    assert holder_client.get(reverse("panel:profile")).status_code == 200


def test_a_locked_login_stays_locked_when_the_cache_is_flushed(world, client):
    username = world.beta.holder.user.username  # beta: 3 failures lock the username
    for _ in range(3):
        login_attempt(username=username, password="wrong", portal=Portal.PANEL)

    cache.clear()

    attempt = login_attempt(username=username, password=HOLDER_PASSWORD, portal=Portal.PANEL)
    assert attempt.outcome is LoginOutcome.LOCKED
    assert login(client, username, HOLDER_PASSWORD).status_code == 400


def test_pages_answer_normally_right_after_the_cache_is_flushed(world, client):
    cache.clear()
    assert client.get(reverse("accounts:login")).status_code == 200
    assert client.get("/readyz").status_code in (200, 503)  # no CA in this test: red, but an answer
    assert login(client, world.alpha.holder.user.username, HOLDER_PASSWORD).status_code == 302
