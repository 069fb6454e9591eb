"""SMS one-time codes: hashed at rest, sent sealed, once only, bound to their purpose, throttled."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.db.models import F, QuerySet
from django.utils import timezone, translation

from audit.models import AuditEvent
from core.errors import ApplicationError
from notifications.models import Channel, Message, MessageStatus
from notifications.rendering import message_render
from notifications.sealing import MASK
from notifications.tasks import message_deliver_task
from otp.models import SMS_CODE_MAX_ATTEMPTS, SmsCode
from otp.services import VerifyOutcome
from otp.sms_codes import (
    SMS_CODE_HOURLY_LIMIT,
    SMS_CODE_PURPOSES,
    SMS_CODE_TTL,
    sms_code_check,
    sms_code_hash,
    sms_code_issue,
)
from tests.notifications.backends import ScriptedSmsBackend

pytestmark = pytest.mark.django_db

# GSM 03.38 basic character set (one septet each) and its extension table (two septets each).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


def gsm7_septets(text: str) -> int:
    """Length of ``text`` in GSM-7 septets; fails on a character GSM-7 cannot carry (UCS-2 would halve the SMS)."""
    outside = sorted({c for c in text if c not in GSM7_BASIC | GSM7_EXTENSION})
    assert not outside, f"not GSM-7: {outside!r} in {text!r}"
    return sum(2 if c in GSM7_EXTENSION else 1 for c in text)


@pytest.fixture
def sms(settings):
    settings.SMS_BACKEND = "tests.notifications.backends.ScriptedSmsBackend"
    ScriptedSmsBackend.script = []
    ScriptedSmsBackend.sent = []
    return ScriptedSmsBackend


def message_of(row: SmsCode) -> Message:
    return Message.objects.get(idempotency_key=f"sms-code:{row.public_id}")


def deliver(row: SmsCode) -> str:
    """Send the SMS of ``row`` through the real delivery task; return the code it carried."""
    message = message_of(row)
    assert message_deliver_task(message.pk) == "sent"
    text = ScriptedSmsBackend.sent[-1].text
    [code] = re.findall(r"\b[0-9]{6}\b", text)
    return code


def issue(holder, purpose="change_phone", **kw) -> tuple[SmsCode, str]:
    row = sms_code_issue(holder=holder, purpose=purpose, **kw)
    return row, deliver(row)


def age(rows, seconds: float) -> None:
    """Pretend ``rows`` were issued ``seconds`` earlier (the cooldown and hourly window read created_at)."""
    queryset = rows if isinstance(rows, QuerySet) else SmsCode.objects.filter(pk=rows.pk)
    shift = timedelta(seconds=seconds)
    queryset.update(created_at=F("created_at") - shift, expires_at=F("expires_at") - shift)


def other(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_the_stored_row_never_contains_the_code(world, sms):
    holder = world.alpha.holder
    row, code = issue(holder)
    stored = SmsCode.objects.filter(pk=row.pk).values().get()
    for name, value in stored.items():
        assert value != code and value != int(code), name
        if isinstance(value, str | bytes | memoryview):
            assert code not in (bytes(value).decode("latin-1") if not isinstance(value, str) else value), name
    assert stored["code_hash"] == sms_code_hash(public_id=row.public_id, purpose="change_phone", code=code)
    assert stored["expires_at"] - stored["created_at"] == SMS_CODE_TTL == timedelta(minutes=5)
    for event in AuditEvent.objects.all():
        assert code not in str(event.details), event.event_type
    assert AuditEvent.objects.filter(event_type="otp.sms_code_issued", subject_id=str(row.pk)).exists()


def test_the_sms_sent_carries_the_code_while_the_stored_message_shows_it_masked(world, sms):
    holder = world.alpha.holder
    row = sms_code_issue(holder=holder, purpose="revoke")
    message = message_of(row)
    assert message.channel == Channel.SMS and message.recipient == holder.mobile == row.recipient
    assert message.message_type == "otp_sms_code" and message.status == MessageStatus.QUEUED
    assert MASK in message.body_text and not re.search(r"[0-9]{6}", message.body_text)
    code = deliver(row)
    [sent] = sms.sent
    assert sent.recipient == holder.mobile and code in sent.text
    assert sent.text == message.body_text.replace(MASK, code)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and code not in message.body_text and not message.body_sealed
    assert sms_code_check(holder=holder, purpose="revoke", code=code).ok


def test_a_correct_code_is_accepted_once(world, sms):
    holder = world.alpha.holder
    _, code = issue(holder)
    assert sms_code_check(holder=holder, purpose="change_phone", code=code).ok
    assert sms_code_check(holder=holder, purpose="change_phone", code=code).outcome is VerifyOutcome.REPLAYED
    assert AuditEvent.objects.filter(event_type="otp.sms_code_verified").count() == 1
    assert AuditEvent.objects.filter(event_type="otp.code_replayed").count() == 1


def test_a_used_code_sent_again_is_a_replay_audited_notified_once_and_not_counted(world, sms):
    holder = world.alpha.holder
    first, used = issue(holder)
    assert sms_code_check(holder=holder, purpose="change_phone", code=used).ok
    age(first, 31)
    live, fresh = issue(holder)
    if used == fresh:  # one chance in a million: the replay would be the live code
        return

    outcomes = [sms_code_check(holder=holder, purpose="change_phone", code=used).outcome for _ in range(3)]

    assert outcomes == [VerifyOutcome.REPLAYED] * 3
    live.refresh_from_db()
    assert live.attempts == 0 and live.invalidated_at is None  # the live code lost nothing
    assert AuditEvent.objects.filter(event_type="otp.code_replayed", outcome="denied").count() == 3
    notices = Message.objects.filter(holder=holder, message_type="security_notice")
    assert notices.count() == 1 and "già utilizzato" in notices.get().body_text
    assert sms_code_check(holder=holder, purpose="change_phone", code=fresh).ok


def test_an_expired_code_is_refused(world, sms):
    holder = world.alpha.holder
    row, code = issue(holder)
    age(row, SMS_CODE_TTL.total_seconds() + 1)  # its five minutes are over
    assert SmsCode.objects.get(pk=row.pk).expires_at < timezone.now()
    assert not sms_code_check(holder=holder, purpose="change_phone", code=code).ok
    assert SmsCode.objects.get(pk=row.pk).used_at is None


def test_a_code_is_still_accepted_just_before_it_expires(world, sms):
    holder = world.alpha.holder
    row, code = issue(holder)
    age(row, SMS_CODE_TTL.total_seconds() - 5)
    assert sms_code_check(holder=holder, purpose="change_phone", code=code).ok


def test_a_code_only_confirms_the_operation_that_asked_for_it(world, sms):
    holder = world.alpha.holder
    _, code = issue(holder, purpose="change_phone")
    assert not sms_code_check(holder=holder, purpose="revoke", code=code).ok
    assert not sms_code_check(holder=holder, purpose="password_recovery", code=code).ok
    assert sms_code_check(holder=holder, purpose="change_phone", code=code).ok


def test_a_code_only_works_for_its_holder(world, sms):
    _, code = issue(world.alpha.holder)
    assert not sms_code_check(holder=world.beta.holder, purpose="change_phone", code=code).ok
    assert not sms_code_check(holder=world.alpha.holders[1], purpose="change_phone", code=code).ok
    assert sms_code_check(holder=world.alpha.holder, purpose="change_phone", code=code).ok


def test_a_code_sent_to_a_new_number_confirms_only_that_number(world, sms):
    holder = world.alpha.holder
    row, code = issue(holder, recipient="+39 347 555 0101")
    assert row.recipient == "+393475550101" and sms.sent[-1].recipient == "+393475550101"
    assert not sms_code_check(holder=holder, purpose="change_phone", code=code, recipient="+393475550102").ok
    assert not sms_code_check(holder=holder, purpose="change_phone", code=code, recipient="+39٣٤٧5550101").ok
    assert sms_code_check(holder=holder, purpose="change_phone", code=code, recipient="+393475550101").ok


def test_wrong_codes_invalidate_the_code_at_the_limit(world, sms):
    holder = world.alpha.holder
    row, code = issue(holder)
    for _ in range(SMS_CODE_MAX_ATTEMPTS - 1):
        assert not sms_code_check(holder=holder, purpose="change_phone", code=other(code)).ok
    assert SmsCode.objects.get(pk=row.pk).attempts == SMS_CODE_MAX_ATTEMPTS - 1
    assert not sms_code_check(holder=holder, purpose="change_phone", code=other(code)).ok
    row.refresh_from_db()
    assert row.attempts == SMS_CODE_MAX_ATTEMPTS and row.invalidated_at is not None
    assert not sms_code_check(holder=holder, purpose="change_phone", code=code).ok  # even the right one
    assert SmsCode.objects.get(pk=row.pk).attempts == SMS_CODE_MAX_ATTEMPTS  # bounded, no further counting


def test_a_right_code_after_a_few_wrong_ones_still_works(world, sms):
    holder = world.alpha.holder
    _, code = issue(holder)
    for _ in range(SMS_CODE_MAX_ATTEMPTS - 1):
        assert not sms_code_check(holder=holder, purpose="change_phone", code=other(code)).ok
    assert sms_code_check(holder=holder, purpose="change_phone", code=code).ok


def test_a_new_code_is_refused_within_30_seconds_with_a_retry_message(world, sms):
    holder = world.alpha.holder
    first, _ = issue(holder)
    with pytest.raises(ApplicationError) as refused, translation.override("en"):
        sms_code_issue(holder=holder, purpose="change_phone")
    assert refused.value.code == "sms_code_cooldown"
    seconds = int(re.search(r"in (\d+) seconds?", str(refused.value.message)).group(1))
    assert 1 <= seconds <= 30
    assert SmsCode.objects.filter(holder=holder).count() == 1
    assert AuditEvent.objects.filter(event_type="otp.sms_code_refused", details__reason="cooldown").exists()
    # Another operation is not held back by this one's cooldown…
    sms_code_issue(holder=holder, purpose="revoke")
    # …and once 30 seconds have passed, the same operation may ask again.
    age(first, 31)
    sms_code_issue(holder=holder, purpose="change_phone")


@pytest.mark.clock
def test_the_hourly_limit_says_when_to_retry(world, sms):
    holder = world.alpha.holder
    for _ in range(SMS_CODE_HOURLY_LIMIT):
        sms_code_issue(holder=holder, purpose="change_phone")
        age(SmsCode.objects.filter(holder=holder), 31)  # past the cooldown, well within the hour
    with pytest.raises(ApplicationError) as refused, translation.override("en"):
        sms_code_issue(holder=holder, purpose="change_phone")
    assert refused.value.code == "sms_code_hourly_limit"
    oldest = SmsCode.objects.filter(holder=holder).order_by("created_at").first()
    retry_at = timezone.localtime(oldest.created_at + timedelta(hours=1)).strftime("%H:%M")
    assert f"at {retry_at}" in str(refused.value.message)
    # The limit is per holder, across operations…
    with pytest.raises(ApplicationError):
        sms_code_issue(holder=holder, purpose="revoke")
    # …and others are not affected.
    sms_code_issue(holder=world.alpha.holders[1], purpose="change_phone")
    # Once the oldest code is an hour old, one more may be sent.
    age(oldest, 3600)
    sms_code_issue(holder=holder, purpose="change_phone")


def test_a_new_code_invalidates_the_previous_one(world, sms):
    holder = world.alpha.holder
    first, old_code = issue(holder)
    other_purpose, revoke_code = issue(holder, purpose="revoke")
    age(first, 31)
    second, new_code = issue(holder)
    first.refresh_from_db()
    assert first.invalidated_at is not None
    if old_code != new_code:
        assert not sms_code_check(holder=holder, purpose="change_phone", code=old_code).ok
    assert sms_code_check(holder=holder, purpose="change_phone", code=new_code).ok
    # The code of the other operation was left alone.
    assert sms_code_check(holder=holder, purpose="revoke", code=revoke_code).ok


@pytest.mark.parametrize("bad", ["12a456", "", "1234567", "12345", "١٢٣٤٥٦", "0" * 10_000, None, "12\x00456"])
def test_malformed_codes_are_refused_without_crashing(world, sms, bad):
    holder = world.alpha.holder
    row, code = issue(holder)
    assert not sms_code_check(holder=holder, purpose="change_phone", code=bad).ok
    assert SmsCode.objects.get(pk=row.pk).used_at is None
    assert sms_code_check(holder=holder, purpose="change_phone", code=code).ok


def test_spaces_around_a_code_are_forgiven(world, sms):
    holder = world.alpha.holder
    _, code = issue(holder)
    assert sms_code_check(holder=holder, purpose="change_phone", code=f" {code[:3]} {code[3:]} ").ok


def test_verifying_without_any_code_issued_is_a_plain_refusal(world):
    assert not sms_code_check(holder=world.alpha.holder, purpose="change_phone", code="123456").ok


def test_a_malformed_recipient_is_refused_and_nothing_is_sent(world):
    with pytest.raises(ApplicationError) as refused, translation.override("it"):
        sms_code_issue(holder=world.alpha.holder, purpose="change_phone", recipient="347 555 0101")
    assert refused.value.field == "recipient"
    with translation.override("it"):
        assert str(refused.value.message).startswith("Inserisci un numero di cellulare valido")
    assert not SmsCode.objects.exists() and not Message.objects.exists()


def test_an_unknown_purpose_is_a_programming_error(world):
    with pytest.raises(ValueError):
        sms_code_issue(holder=world.alpha.holder, purpose="coffee")


@pytest.mark.parametrize("language", ["it", "en"])
def test_the_sms_is_one_gsm7_segment_in_every_language_and_purpose(world, language, sms):
    for purpose, words in SMS_CODE_PURPOSES.items():
        text = message_render(
            message_type="otp_sms_code", channel=Channel.SMS, language=language,
            context={"code": "123456", "purpose_text": words},
        ).text
        assert "123456" in text and "5" in text
        assert gsm7_septets(text) <= 160, (purpose, len(text), text)
    # And the SMS as really sent to a holder who reads this language.
    holder = world.alpha.holder
    holder.user.preferred_language = language
    holder.user.save()
    row, code = issue(holder, purpose="password_recovery")
    sent = sms.sent[-1].text
    assert message_of(row).language == language
    assert gsm7_septets(sent) <= 160 and code in sent


def _race(target, count: int = 2) -> list:
    """Run ``target`` in ``count`` threads released together; their results."""
    barrier = threading.Barrier(count)
    results: list = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(target())
        except ApplicationError as exc:
            results.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_checks_of_the_same_code_accept_it_once(world, sms, monkeypatch):
    monkeypatch.setattr(message_deliver_task, "apply_async", lambda *_, **__: None)  # delivered by hand below
    holder = world.alpha.holder
    _, code = issue(holder)
    results = _race(lambda: sms_code_check(holder=holder, purpose="change_phone", code=code).ok)
    assert sorted(results) == [False, True], (connection.vendor, results)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_for_a_code_send_one(world, sms, monkeypatch):
    monkeypatch.setattr(message_deliver_task, "apply_async", lambda *_, **__: None)
    holder = world.alpha.holder
    results = _race(lambda: sms_code_issue(holder=holder, purpose="change_phone").pk)
    assert len(results) == 2 and results.count("sms_code_cooldown") == 1, (connection.vendor, results)
    assert SmsCode.objects.filter(holder=holder).count() == 1 and Message.objects.count() == 1
