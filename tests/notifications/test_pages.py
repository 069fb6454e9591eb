"""The pages over the outbox: the holder's "Notifiche", the console's undelivered messages, the developer mailbox."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from html import unescape

import pytest
from django.conf import settings
from django.http import Http404
from django.test import Client, RequestFactory, override_settings
from django.urls import NoReverseMatch, clear_url_caches, reverse
from django.utils import timezone, translation

from accounts.models import Holder
from accounts.selectors import holder_for_user
from audit.models import AuditEvent
from notifications.display import mobile_masked
from notifications.models import Channel, DeliveryStatus, Message, MessageStatus
from notifications.selectors import (
    message_get_for_organization,
    message_list_failed_for_organization,
    message_list_for_holder,
)
from notifications.services import message_enqueue, security_notice_send
from notifications.views.devtools import mailbox_view
from tests.conftest import World

pytestmark = pytest.mark.django_db

SECRET_CODE = "918273"


def _notice(holder: Holder, reference: str, **kwargs: object) -> list[Message]:
    return security_notice_send(holder=holder, event="password_changed", reference=reference, **kwargs)


def _email(holder: Holder, reference: str, *, status: str = MessageStatus.SENT, **fields: object) -> Message:
    """One security notice by e-mail to the holder, moved to ``status`` as the delivery task would."""
    message = _notice(holder, reference)[0]
    _set(message, status=status, **fields)
    return message


def _set(message: Message, *, status: str, **fields: object) -> None:
    values: dict[str, object] = {"status": status, **fields}
    if status == MessageStatus.SENT:
        values.setdefault("sent_at", timezone.now())
    if status in (MessageStatus.FAILED, MessageStatus.DEAD):
        values.setdefault("attempts", 3)
        values.setdefault("last_error", "SMTP 550 mailbox unavailable")
    Message.objects.filter(pk=message.pk).update(**values)
    message.refresh_from_db()


def _text(response) -> str:
    """The page as a person reads it: tags removed, entities decoded, spaces collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _rows(response) -> list[str]:
    """The text of each body row of the page's table."""
    html = response.content.decode()
    tbody = re.search(r"<tbody>(.*?)</tbody>", html, flags=re.S)
    if tbody is None:
        return []
    rows = re.findall(r"<tr>(.*?)</tr>", tbody.group(1), flags=re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", row)).split()) for row in rows]


# ------------------------------------------------------------------------------ holder: Notifiche


def test_holder_sees_only_their_own_messages_newest_first(world: World, holder_client: Client):
    mario, laura, lucia = world.alpha.holder, world.alpha.holders[1], world.beta.holder
    older = _email(mario, "first")
    newer = _email(mario, "second")
    Message.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=2))
    _email(laura, "laura")
    _email(lucia, "lucia")

    assert list(message_list_for_holder(holder=mario)) == [newer, older]
    response = holder_client.get(reverse("panel:notifications"))

    assert response.status_code == 200
    rows = _rows(response)
    assert len(rows) == 2
    assert all(mario.email in row for row in rows)
    page = _text(response)
    assert laura.email not in page and lucia.email not in page
    assert newer.subject in rows[0]


def test_holder_resolution_refuses_operators(world: World):
    """The panel reads the messages of the holder resolved from the acting user: an operator is none."""
    with pytest.raises(Http404):
        message_list_for_holder(holder=holder_for_user(user=world.alpha.operator.user))


def test_holder_page_never_shows_a_message_body(world: World, holder_client: Client):
    message = _email(world.alpha.holder, "code")
    Message.objects.filter(pk=message.pk).update(
        body_text=f"Il tuo codice è {SECRET_CODE}", body_html=f"<p>Il tuo codice è {SECRET_CODE}</p>"
    )
    notice = _notice(world.alpha.holder, "other")[0]
    event_line = notice.body_text.splitlines()[2]
    assert event_line and notice.subject

    for url in (reverse("panel:notifications"), reverse("panel:profile")):
        response = holder_client.get(url)
        assert SECRET_CODE not in response.content.decode(), url
        assert event_line not in _text(response), url
        assert notice.subject in _text(response), url  # the message is listed, only its content is not


def test_holder_sees_the_mobile_partly_masked(world: World, holder_client: Client):
    holder = world.alpha.holder
    sms = [m for m in _notice(holder, "phone", previous_mobile="+393479876543") if m.channel == Channel.SMS]
    assert len(sms) == 1

    page = _text(holder_client.get(reverse("panel:notifications")))

    assert "+39 347 ••• •543" in page
    assert "+393479876543" not in page and "9876543" not in page
    assert holder.email in page  # e-mail addresses are shown as they are


def test_mobile_mask_keeps_the_country_code_the_first_three_and_the_last_three_digits():
    assert mobile_masked("+393471000001") == "+39 347 ••• •001"
    assert mobile_masked("+39 333 100 0002") == "+39 333 ••• •002"
    assert mobile_masked("3471000001") == "347 ••• •001"
    assert "1000" not in mobile_masked("+4915112345678")
    assert mobile_masked("+3912") == "+39 ••• •12"


@pytest.mark.parametrize(
    ("status", "delivery_status", "italian"),
    [
        (MessageStatus.QUEUED, "", "In invio"),
        (MessageStatus.SENDING, "", "In invio"),
        (MessageStatus.SENT, "", "Inviato"),
        (MessageStatus.SENT, DeliveryStatus.DELIVERED, "Consegnato"),
        (MessageStatus.SENT, DeliveryStatus.UNDELIVERED, "Non recapitato"),
        (MessageStatus.FAILED, "", "Nuovo tentativo in corso"),
        (MessageStatus.DEAD, "", "Non recapitato"),
    ],
)
def test_holder_reads_the_status_in_italian_words(
    world: World, holder_client: Client, status: str, delivery_status: str, italian: str
):
    message = _notice(world.alpha.holder, "status")[0]
    _set(message, status=status, delivery_status=delivery_status)

    response = holder_client.get(reverse("panel:notifications"))

    assert '<html lang="it">' in response.content.decode()
    [row] = _rows(response)
    assert row.endswith(italian), row


def test_holder_without_messages_gets_the_empty_state(world: World, holder_client: Client):
    _email(world.beta.holder, "someone-else")

    response = holder_client.get(reverse("panel:notifications"))

    assert response.status_code == 200
    assert "<table" not in response.content.decode()
    with translation.override("it"):
        empty_state = translation.gettext("There are no notifications to show at the moment.")
    assert empty_state != "There are no notifications to show at the moment."
    assert empty_state in _text(response)


def test_holder_page_is_paginated_by_25(world: World, holder_client: Client):
    for n in range(27):
        _notice(world.alpha.holder, f"n{n}")

    first = holder_client.get(reverse("panel:notifications"))
    second = holder_client.get(reverse("panel:notifications"), {"page": 2})

    assert len(_rows(first)) == 25
    assert len(_rows(second)) == 2
    assert holder_client.get(reverse("panel:notifications"), {"page": "x"}).status_code == 200


def test_profile_shows_the_latest_three_with_a_link_to_the_page(world: World, holder_client: Client):
    for n in range(5):
        _notice(world.alpha.holder, f"p{n}")
    _email(world.beta.holder, "foreign")

    content = holder_client.get(reverse("panel:profile")).content.decode()

    recent = re.search(r'data-testid="recent-notifications">(.*?)</ul>', content, flags=re.S)
    assert recent is not None
    assert recent.group(1).count("<li") == 3
    assert f'href="{reverse("panel:notifications")}"' in content


# ------------------------------------------------------------------------ console: not delivered


def _undelivered_world(world: World) -> dict[str, Message]:
    alpha, beta = world.alpha, world.beta
    return {
        "alpha_dead": _email(alpha.holder, "a-dead", status=MessageStatus.DEAD),
        "alpha_failed": _email(alpha.holders[1], "a-failed", status=MessageStatus.FAILED),
        "alpha_sent": _email(alpha.holders[1], "a-sent", status=MessageStatus.SENT),
        "alpha_queued": _email(alpha.holder, "a-queued", status=MessageStatus.QUEUED),
        "beta_dead": _email(beta.holder, "b-dead", status=MessageStatus.DEAD, last_error="beta's own error"),
    }


def test_operator_sees_only_failed_and_dead_messages_of_their_organization(world: World, operator_client: Client):
    messages = _undelivered_world(world)

    listed = set(message_list_failed_for_organization(organization=world.alpha.operator.organization))
    assert listed == {messages["alpha_dead"], messages["alpha_failed"]}
    assert set(message_list_failed_for_organization(organization=world.beta.operator.organization)) == {
        messages["beta_dead"]
    }

    response = operator_client.get(reverse("console:messages"))
    assert response.status_code == 200
    rows = _rows(response)
    assert len(rows) == 2
    page = _text(response)
    assert world.alpha.holder.email in page and world.alpha.holders[1].email in page
    assert world.beta.holder.email not in page and "beta's own error" not in page
    assert "SMTP 550 mailbox unavailable" in page
    # A retry button only where a retry makes sense: the dead message, not the one already retrying.
    content = response.content.decode()
    assert reverse("console:message_retry", args=[messages["alpha_dead"].pk]) in content
    assert reverse("console:message_retry", args=[messages["alpha_failed"].pk]) not in content
    assert 'aria-current="page"' in re.search(r'href="/operatore/messaggi/"[^>]*>', content).group(0)


def test_operator_sees_a_message_that_could_not_even_be_rendered(world: World, operator_client: Client):
    broken = message_enqueue(
        message_type="security_notice", channel=Channel.EMAIL, recipient=world.alpha.holder.email,
        context={}, holder=world.alpha.holder, idempotency_key="broken-template",
    )
    assert broken.status == MessageStatus.DEAD

    response = operator_client.get(reverse("console:messages"))

    [row] = _rows(response)
    assert "missing template variables" in row
    assert reverse("console:message_retry", args=[broken.pk]) in response.content.decode()


def test_operator_page_without_undelivered_messages_says_so(world: World, operator_client: Client):
    _email(world.alpha.holder, "fine")

    response = operator_client.get(reverse("console:messages"))

    assert response.status_code == 200
    assert "<table" not in response.content.decode()


def test_holders_cannot_open_the_console_messages(world: World, holder_client: Client):
    response = holder_client.get(reverse("console:messages"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login"))


def test_foreign_and_missing_messages_are_the_same_404(world: World, operator_client: Client):
    messages = _undelivered_world(world)
    foreign = messages["beta_dead"]
    with pytest.raises(Http404):
        message_get_for_organization(organization=world.alpha.operator.organization, message_id=foreign.pk)
    assert message_get_for_organization(
        organization=world.alpha.operator.organization, message_id=messages["alpha_dead"].pk
    )

    audit_before = AuditEvent.objects.count()
    foreign_response = operator_client.post(reverse("console:message_retry", args=[foreign.pk]))
    missing_response = operator_client.post(reverse("console:message_retry", args=[999_999]))

    assert foreign_response.status_code == missing_response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == MessageStatus.DEAD and foreign.attempts == 3
    assert AuditEvent.objects.count() == audit_before


def test_retry_of_a_dead_message_queues_it_again_and_is_audited(
    world: World, operator_client: Client, django_capture_on_commit_callbacks: Callable
):
    message = _undelivered_world(world)["alpha_dead"]

    with django_capture_on_commit_callbacks() as callbacks:
        response = operator_client.post(reverse("console:message_retry", args=[message.pk]), follow=True)

    assert response.redirect_chain[-1][0] == reverse("console:messages")
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and message.attempts == 0
    audit = AuditEvent.objects.filter(event_type="operator.message_retried").get()
    assert audit.actor_id == world.alpha.operator.user.pk
    assert audit.organization_id == world.alpha.organization.pk
    assert audit.subject_id == str(message.pk)
    assert len(callbacks) == 1  # the delivery task is dispatched once the retry commits
    with translation.override("it"):
        assert translation.gettext("The message has been queued again.") in _text(response)
    assert reverse("console:message_retry", args=[message.pk]) not in response.content.decode()


def test_retry_of_a_message_that_is_not_dead_does_nothing(world: World, operator_client: Client):
    messages = _undelivered_world(world)
    for key in ("alpha_sent", "alpha_failed"):
        message = messages[key]
        before = Message.objects.values().get(pk=message.pk)

        response = operator_client.post(reverse("console:message_retry", args=[message.pk]))

        assert response.status_code == 302
        assert Message.objects.values().get(pk=message.pk) == before
    assert not AuditEvent.objects.filter(event_type="operator.message_retried").exists()


def test_retry_needs_post(world: World, operator_client: Client):
    message = _undelivered_world(world)["alpha_dead"]

    assert operator_client.get(reverse("console:message_retry", args=[message.pk])).status_code == 405
    message.refresh_from_db()
    assert message.status == MessageStatus.DEAD


# ------------------------------------------------------------------------------ developer mailbox


@pytest.fixture
def reload_urlconf() -> Iterator[Callable[[], None]]:
    """Re-import the root urlconf under the current settings; the real one is restored afterwards."""

    def reload() -> None:
        clear_url_caches()
        importlib.reload(importlib.import_module(settings.ROOT_URLCONF))
        clear_url_caches()

    yield reload
    reload()  # outside any override_settings by now: the urlconf the rest of the run expects


def test_mailbox_shows_subject_and_full_body_of_every_organization(world: World, tmp_path, reload_urlconf):
    alpha = _notice(world.alpha.holder, "mailbox")[0]
    Message.objects.filter(pk=alpha.pk).update(body_text=f"Il tuo codice è {SECRET_CODE}\nSeconda riga")
    beta = _notice(world.beta.holder, "mailbox")[0]
    (tmp_path / "20260101-000000-file-x.json").write_text(
        json.dumps({"id": "file-x", "to": "+393470000009", "body": "Codice 445566", "sent_at": "2026-01-01"}),
        encoding="utf-8",
    )

    with override_settings(DEVELOPER_MAILBOX=True, SMS_FILE_PATH=str(tmp_path)):
        reload_urlconf()
        response = Client().get(reverse("devtools:mailbox"))  # no login: a local developer tool

    assert response.status_code == 200
    content = response.content.decode()
    page = _text(response)
    assert alpha.subject in page and beta.subject in page
    assert f"Il tuo codice è {SECRET_CODE}<br>Seconda riga" in content
    assert beta.body_text.splitlines()[2] in page
    assert world.beta.holder.email in page
    assert "Codice 445566" in page and "+393470000009" in page
    assert 'data-testid="development-only"' in content


def test_mailbox_view_refuses_when_the_setting_is_off(world: World):
    _notice(world.alpha.holder, "off")
    request = RequestFactory().get("/sviluppo/posta/")

    with override_settings(DEVELOPER_MAILBOX=False), pytest.raises(Http404):
        mailbox_view(request)
    with override_settings(DEVELOPER_MAILBOX=True):
        assert mailbox_view(request).status_code == 200


def test_mailbox_is_not_mounted_when_the_setting_is_off(world: World, reload_urlconf):
    with override_settings(DEVELOPER_MAILBOX=False):
        reload_urlconf()
        with pytest.raises(NoReverseMatch):
            reverse("devtools:mailbox")
        response = Client().get("/sviluppo/posta/")
        assert response.status_code == 404
        assert reverse("panel:notifications")  # the rest of the site is still there
