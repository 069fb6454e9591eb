"""Journey: a holder reads their notifications, an operator sends a dead message again, a developer reads mail."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Holder
from notifications.models import Channel, DeliveryStatus, Message, MessageStatus
from notifications.services import security_notice_send
from tests.conftest import HOLDER_PASSWORD, OPERATOR_PASSWORD, World
from tests.e2e.conftest import ARTIFACTS, english_leftovers, italian, log_in, path_of, screenshot

SECRET_CODE = "918273"


def _assert_fits_the_window(page: Page) -> None:
    """A wide table must not push the page (or a button) past the right edge of a 1280 px window."""
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the window"
    for box in (element.bounding_box() for element in page.locator("main table button, main table td").all()):
        assert box is not None and box["x"] + box["width"] <= page.viewport_size["width"], box


def _notices(holder: Holder, reference: str, **kwargs: object) -> list[Message]:
    return security_notice_send(holder=holder, event="password_changed", reference=reference, **kwargs)


def _set(message: Message, *, status: str, age: timedelta, **fields: object) -> Message:
    values: dict[str, object] = {"status": status, "created_at": timezone.now() - age, **fields}
    if status == MessageStatus.SENT:
        values["sent_at"] = timezone.now() - age
    if status in (MessageStatus.FAILED, MessageStatus.DEAD):
        values.setdefault("attempts", 6)
        values.setdefault("last_error", "SMTP 550 5.1.1 mailbox unavailable")
    Message.objects.filter(pk=message.pk).update(**values)
    message.refresh_from_db()
    return message


def _holder_history(world: World) -> dict[str, Message]:
    holder = world.alpha.holder
    email, sms = _notices(holder, "phone", previous_mobile="+393479876543")
    assert sms.channel == Channel.SMS
    return {
        "delivered_sms": _set(sms, status=MessageStatus.SENT, age=timedelta(days=3),
                              delivery_status=DeliveryStatus.DELIVERED, body_text=f"Codice {SECRET_CODE}"),
        "sent": _set(email, status=MessageStatus.SENT, age=timedelta(days=3)),
        "dead": _set(_notices(holder, "dead")[0], status=MessageStatus.DEAD, age=timedelta(days=2)),
        "failed": _set(_notices(holder, "failed")[0], status=MessageStatus.FAILED, age=timedelta(days=1),
                       attempts=2, last_error="SMTP 421 try again later"),
        "queued": _notices(holder, "queued")[0],
    }


def test_holder_reads_notifications_without_their_content(page: Page, world: World):
    _holder_history(world)
    _notices(world.beta.holder, "beta")

    log_in(page, world.alpha.holder.user.username, HOLDER_PASSWORD)
    page.goto("/notifiche/")
    expect(page.locator("main h1")).to_have_text(italian("Notifications"))
    expect(page.locator("nav.app-side-menu a[aria-current=page]")).to_have_text(italian("Notifications"))
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(5)
    statuses = [text.strip() for text in page.locator("main table tbody tr td:nth-child(5)").all_inner_texts()]
    newest_first = ["Sending", "Retrying", "Not delivered", "Sent", "Delivered"]
    assert statuses == [italian(status) for status in newest_first]
    main = page.locator("main").inner_text()
    assert "+39 347 ••• •543" in main
    assert "+393479876543" not in main and SECRET_CODE not in main
    assert world.beta.holder.email not in main
    assert english_leftovers(page) == []
    _assert_fits_the_window(page)
    screenshot(page, "notifications-holder.png")

    page.goto("/")
    expect(page.get_by_test_id("recent-notifications").locator("li")).to_have_count(3)
    screenshot(page, "profile-notifications.png")
    page.locator("section[aria-labelledby=notifications-data]").screenshot(
        path=str(ARTIFACTS / "profile-notifications-section.png")
    )


def test_operator_sends_a_dead_message_again(page: Page, world: World):
    history = _holder_history(world)
    _set(_notices(world.alpha.holders[1], "sms", previous_mobile="+393470000099")[1], status=MessageStatus.DEAD,
         age=timedelta(hours=5), attempts=1, last_error="21211: invalid 'To' number")
    beta = _set(_notices(world.beta.holder, "beta")[0], status=MessageStatus.DEAD, age=timedelta(hours=1))

    log_in(page, world.alpha.operator.user.username, OPERATOR_PASSWORD, path="/operatore/accesso/")
    page.goto("/operatore/messaggi/")
    expect(page.locator("main h1")).to_have_text(italian("Messages not delivered"))
    expect(page.locator("nav.app-side-menu a[aria-current=page]")).to_have_text(italian("Messages not delivered"))
    expect(page.locator("main table tbody tr")).to_have_count(3)
    assert world.beta.holder.email not in page.locator("main").inner_text()
    assert english_leftovers(page) == []
    _assert_fits_the_window(page)
    screenshot(page, "console-messages.png")

    dead = history["dead"]
    with page.expect_navigation():
        page.click(f"form[action='/operatore/messaggi/{dead.pk}/riprova/'] button")
    assert path_of(page) == "/operatore/messaggi/"
    expect(page.locator("main .alert-success")).to_have_text(italian("The message has been queued again."))
    expect(page.locator("main table tbody tr")).to_have_count(2)
    dead.refresh_from_db()
    assert dead.status == MessageStatus.QUEUED and dead.attempts == 0
    beta.refresh_from_db()
    assert beta.status == MessageStatus.DEAD
    screenshot(page, "console-messages-retried.png")


def test_developer_reads_the_mailbox_with_codes(page: Page, world: World, settings, tmp_path):
    settings.SMS_FILE_PATH = str(tmp_path)
    (tmp_path / "20260101-090000-file-demo.json").write_text(
        json.dumps({"id": "file-demo", "to": "+393471000001", "body": f"Codice di attivazione: {SECRET_CODE}",
                    "sent_at": "2026-01-01T09:00:00+01:00"}),
        encoding="utf-8",
    )
    _holder_history(world)
    _notices(world.beta.holder, "beta")

    response = page.goto("/sviluppo/posta/")
    assert response is not None and response.status == 200
    expect(page.get_by_test_id("development-only")).to_be_visible()
    expect(page.locator("main")).to_contain_text(f"Codice {SECRET_CODE}")
    expect(page.locator("main")).to_contain_text(f"Codice di attivazione: {SECRET_CODE}")
    expect(page.locator("main")).to_contain_text(world.beta.holder.email)
    screenshot(page, "mailbox.png")
    page.locator("main article").first.screenshot(path=str(ARTIFACTS / "mailbox-first-message.png"))
