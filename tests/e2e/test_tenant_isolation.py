"""Journey 3: each organization sees only its own people, in the browser too."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.db.models import Max
from playwright.sync_api import Page, expect

from accounts.models import Holder
from tests.conftest import HOLDER_PASSWORD, OPERATOR_PASSWORD, World, staff_code
from tests.e2e.conftest import italian, log_in, path_of


def _beta_traces(world: World) -> list[str]:
    traces = [world.beta.organization.name]
    for holder in world.beta.holders:
        traces += [holder.user.username, holder.codice_fiscale, holder.email, holder.mobile]
    return traces


def test_operator_console_lists_only_the_holders_of_their_own_organization(page: Page, world: World):
    log_in(page, world.alpha.operator.user.username, OPERATOR_PASSWORD, path="/operatore/accesso/")
    assert path_of(page) == "/operatore/"
    expect(page.locator("main h1")).to_have_text(italian("Holders"))

    usernames = page.locator("main table tbody tr td:nth-child(4)").all_inner_texts()
    assert sorted(u.strip() for u in usernames) == sorted(h.user.username for h in world.alpha.holders)
    body = page.locator("body").inner_text()
    leaked = [trace for trace in _beta_traces(world) if trace in body]
    assert not leaked, f"alpha's console shows beta's data: {leaked}"

    # Searching for a beta holder by exact codice fiscale or username finds nothing either.
    for needle in (world.beta.holder.codice_fiscale, world.beta.holder.user.username):
        page.fill("#q", needle)
        with page.expect_navigation():
            page.click("main form[role=search] button[type=submit]")
        expect(page.locator("main")).to_contain_text(italian("No holder found."))
        expect(page.locator("main table")).to_have_count(0)


def test_holder_of_another_organization_is_a_404_page_like_a_missing_one(page: Page, world: World):
    log_in(page, world.alpha.operator.user.username, OPERATOR_PASSWORD, path="/operatore/accesso/")

    # Sanity: the operator's own holder opens, so the 404s below are about tenancy, not a broken page.
    own = page.goto(f"/operatore/titolari/{world.alpha.holder.pk}/")
    assert own is not None and own.status == 200

    missing_id = (Holder.objects.aggregate(top=Max("pk"))["top"] or 0) + 1000
    missing = page.goto(f"/operatore/titolari/{missing_id}/")
    assert missing is not None and missing.status == 404
    missing_page = (page.title(), page.locator("main").inner_text())
    expect(page.locator("main h1")).to_have_text(italian("Page not found"))

    other = page.goto(f"/operatore/titolari/{world.beta.holder.pk}/")
    assert other is not None and other.status == 404
    assert (page.title(), page.locator("main").inner_text()) == missing_page
    body = page.locator("body").inner_text()
    leaked = [trace for trace in _beta_traces(world) + [world.beta.holder.surname] if trace in body]
    assert not leaked, f"the 404 page shows beta's data: {leaked}"

    # Nor can the operator unlock a beta holder by posting to its URL by hand, even with a fresh
    # second factor for the action: 404 too.
    csrf = page.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value")
    unlock = page.context.request.post(
        f"/operatore/titolari/{world.beta.holder.pk}/sblocca-accesso/",
        form={"csrfmiddlewaretoken": csrf or "", "confirmation_code": staff_code(world.alpha.operator.user)},
        headers={"Referer": page.url},
        max_redirects=0,
    )
    assert unlock.status == 404


def test_holder_opening_the_console_is_sent_to_the_console_login(page: Page, world: World):
    log_in(page, world.alpha.holder.user.username, HOLDER_PASSWORD)
    assert path_of(page) == "/"

    page.goto("/operatore/")
    url = urlsplit(page.url)
    assert url.path == "/operatore/accesso/"
    assert parse_qs(url.query).get("next") == ["/operatore/"]
    expect(page.locator("main h1")).to_have_text(italian("Operator console"))
    expect(page.locator("#id_username")).to_be_visible()
    expect(page.locator("main table")).to_have_count(0)
    body = page.locator("body").inner_text()
    assert world.alpha.holders[1].codice_fiscale not in body
    assert world.alpha.holders[1].user.username not in body
