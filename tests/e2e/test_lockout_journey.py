"""Journey 2: a holder locks the account with wrong passwords; their organization's operator unlocks it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone, translation
from playwright.sync_api import Page, expect

from accounts.services.authentication import login_locked_until
from accounts.views.auth import locked_message
from tests.conftest import HOLDER_PASSWORD, OPERATOR_PASSWORD, World
from tests.e2e.conftest import confirm_with_code, italian, log_in, path_of, screenshot


@pytest.mark.clock
def test_locked_holder_is_refused_even_with_the_right_password_until_the_operator_unlocks(
    open_page: Callable[[], Page], world: World
):
    holder = world.beta.holder  # beta: 3 failures, then 30 minutes
    username = holder.user.username
    person = open_page()

    # Two wrong passwords: the attempts left count down.
    for left in (2, 1):
        response = log_in(person, username, "Non-E-La-Mia-Password-1")
        assert response is not None and response.status == 400
        expect(person.locator("main .alert-danger")).to_have_text(
            f"Nome utente o password non validi. Tentativi rimasti: {left}"
        )

    # The third locks the account; the page says until when (local time and date, Italian wording).
    before = timezone.now()
    log_in(person, username, "Non-E-La-Mia-Password-1")
    locked_until = login_locked_until(user=holder.user)
    assert locked_until is not None
    assert timedelta(minutes=29) < locked_until - before <= timedelta(minutes=31)
    with translation.override("it"):
        expected = locked_message(locked_until)
    with translation.override("en"):
        assert expected != locked_message(locked_until), "the lockout message has no Italian translation"
    local = timezone.localtime(locked_until)
    assert local.strftime("%H:%M") in expected and local.strftime("%d/%m/%Y") in expected
    alert = person.locator("main .alert-danger")
    expect(alert).to_have_text(expected)
    expect(alert).not_to_contain_text("Tentativi rimasti")

    # While locked even the right password is refused, with the same message.
    response = log_in(person, username, HOLDER_PASSWORD)
    assert response is not None and response.status == 400
    assert path_of(person) == "/accesso/"
    expect(person.locator("main .alert-danger")).to_have_text(expected)

    # Beta's operator, on another computer, finds the holder and lifts the lockout.
    operator = open_page()
    log_in(operator, world.beta.operator.user.username, OPERATOR_PASSWORD, path="/operatore/accesso/")
    assert path_of(operator) == "/operatore/"
    with operator.expect_navigation():
        operator.locator("main table").get_by_role("link", name=holder.surname, exact=True).click()
    assert path_of(operator) == f"/operatore/titolari/{holder.pk}/"
    expect(operator.locator("main h1")).to_have_text(f"{holder.surname} {holder.given_name}")
    with translation.override("it"):
        locked_text = italian("Locked until %(until)s after too many failed logins") % {
            "until": local.strftime("%d/%m/%Y %H:%M")
        }
    expect(operator.locator("main")).to_contain_text(locked_text)
    unlock = operator.locator("main").get_by_role("button", name=italian("Unlock access"), exact=True)
    expect(unlock).to_have_count(1)
    screenshot(operator, "console-holder.png")

    with operator.expect_navigation():
        unlock.click()
    confirm_with_code(operator, world.beta.operator.user.username)  # unlocking asks for the factor again
    assert path_of(operator) == f"/operatore/titolari/{holder.pk}/"
    expect(operator.locator("main .alert-success")).to_have_text(italian("The account can log in again."))
    expect(operator.locator("main")).to_contain_text(italian("Not locked"))
    expect(operator.locator("main").get_by_role("button", name=italian("Unlock access"), exact=True)).to_have_count(0)
    assert login_locked_until(user=holder.user) is None

    # The holder logs in at once.
    log_in(person, username, HOLDER_PASSWORD)
    assert path_of(person) == "/"
    expect(person.locator("main h1")).to_have_text("Informazioni profilo")
