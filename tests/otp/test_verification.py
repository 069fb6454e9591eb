"""Verification of HOTP/TOTP codes: RFC vectors, once only, look-ahead, drift, lockout, resync."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from audit.models import AuditEvent
from notifications.models import Message
from otp.crypto import SeedDecryptionError, seed_open
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.oath import hotp, totp
from otp.services import VerifyOutcome, device_create, device_resynchronize, device_unlock, device_verify

pytestmark = pytest.mark.django_db

RFC_SEED = b"12345678901234567890"
RFC4226_CODES = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]
RFC6238_SEEDS = {
    "sha1": RFC_SEED,
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238 = [  # time, SHA-1, SHA-256, SHA-512 (8 digits)
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
T0 = 1_800_000_000.0  # a fixed "now" for the TOTP tests


def hotp_token(holder, **kw) -> OtpDevice:
    return device_create(kind=DeviceKind.HARDWARE_HOTP, seed=RFC_SEED, holder=holder, serial="1234567890123", **kw)


def app(holder, **kw) -> OtpDevice:
    return device_create(kind=DeviceKind.APP_TOTP, seed=RFC_SEED, holder=holder, **kw)


def test_rfc4226_appendix_d_vectors():
    assert [hotp(RFC_SEED, counter) for counter in range(10)] == RFC4226_CODES


@pytest.mark.parametrize(("unix_time", "sha1", "sha256", "sha512"), RFC6238)
def test_rfc6238_appendix_b_vectors(unix_time, sha1, sha256, sha512):
    for algorithm, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        assert totp(RFC6238_SEEDS[algorithm], unix_time, digits=8, algorithm=algorithm) == expected


def test_rfc4226_vectors_pass_through_the_verification_service_in_order(world):
    device = hotp_token(world.alpha.holder)
    for code in RFC4226_CODES:
        assert device_verify(device=device, code=code, purpose="test").ok
    device.refresh_from_db()
    assert device.counter == 10


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_rfc6238_vectors_pass_through_the_verification_service(world, algorithm):
    device = device_create(kind=DeviceKind.HARDWARE_TOTP, seed=RFC6238_SEEDS[algorithm], holder=world.alpha.holder,
                           algorithm=algorithm, digits=8)
    column = {"sha1": 1, "sha256": 2, "sha512": 3}[algorithm]
    for row in RFC6238:
        assert device_verify(device=device, code=row[column], purpose="test", now=row[0]).ok, row


def test_the_seed_is_stored_only_encrypted_and_bound_to_its_row(world):
    device = hotp_token(world.alpha.holder)
    raw = OtpDevice.objects.filter(pk=device.pk).values("seed_ciphertext", "seed_nonce", "seed_key_id").get()
    assert RFC_SEED not in bytes(raw["seed_ciphertext"]) and len(bytes(raw["seed_nonce"])) == 12
    assert seed_open(device.sealed_seed, binding=device.seed_binding) == RFC_SEED
    other = app(world.alpha.holders[1])
    with pytest.raises(SeedDecryptionError):  # the ciphertext moved onto another row does not open
        seed_open(device.sealed_seed, binding=other.seed_binding)


def test_a_hotp_code_is_accepted_once(world):
    device = hotp_token(world.alpha.holder)
    assert device_verify(device=device, code="755224", purpose="test").ok
    again = device_verify(device=device, code="755224", purpose="test")
    assert again.outcome is VerifyOutcome.REPLAYED
    assert AuditEvent.objects.filter(event_type="otp.code_replayed").count() == 1
    notice = Message.objects.get(holder=world.alpha.holder)
    assert notice.message_type == "security_notice" and "già utilizzato" in notice.body_text


def test_a_replayed_code_is_refused_audited_and_notified_once_but_not_counted(world):
    device = hotp_token(world.alpha.holder)
    device_verify(device=device, code="000000", purpose="test")  # one real failure before
    assert device_verify(device=device, code="755224", purpose="test").ok  # resets it
    device_verify(device=device, code="000000", purpose="test")

    replays = [device_verify(device=device, code="755224", purpose="test") for _ in range(12)]

    assert {r.outcome for r in replays} == {VerifyOutcome.REPLAYED}  # never LOCKED, however many
    assert {r.failures_left for r in replays} == {9}
    device.refresh_from_db()
    assert device.failure_count == 1 and not device.is_locked  # neither counted nor reset
    assert AuditEvent.objects.filter(event_type="otp.code_replayed", outcome="denied").count() == 12
    assert Message.objects.filter(holder=world.alpha.holder, message_type="security_notice").count() == 1
    assert device_verify(device=device, code="287082", purpose="test").ok


def test_a_resynchronization_with_codes_already_used_is_a_replay_not_counted(world):
    device = hotp_token(world.alpha.holder)
    assert device_resynchronize(device=device, first_code=hotp(RFC_SEED, 500), second_code=hotp(RFC_SEED, 501)).ok

    again = device_resynchronize(device=device, first_code=hotp(RFC_SEED, 500), second_code=hotp(RFC_SEED, 501))

    assert again.outcome is VerifyOutcome.REPLAYED
    device.refresh_from_db()
    assert device.counter == 502 and device.failure_count == 0
    assert AuditEvent.objects.filter(event_type="otp.code_replayed").count() == 1


def test_a_verify_result_cannot_be_read_as_a_boolean(world):
    result = device_verify(device=hotp_token(world.alpha.holder), code="000000", purpose="test")
    with pytest.raises(TypeError):
        bool(result)


def test_hotp_look_ahead_is_ten(world):
    device = hotp_token(world.alpha.holder)
    assert device_verify(device=device, code=hotp(RFC_SEED, 10), purpose="test").ok  # 10 ahead: accepted
    device.refresh_from_db()
    assert device.counter == 11
    assert not device_verify(device=device, code=hotp(RFC_SEED, 22), purpose="test").ok  # 11 ahead: refused


def test_totp_accepts_one_step_either_side_and_remembers_the_drift(world):
    device = app(world.alpha.holder)
    assert device_verify(device=device, code=totp(RFC_SEED, T0 + 30), purpose="test", now=T0).ok
    device.refresh_from_db()
    assert device.drift == 1
    # With the drift remembered, a code two steps ahead of the server clock is now inside the window.
    assert device_verify(device=device, code=totp(RFC_SEED, T0 + 90), purpose="test", now=T0 + 30).ok
    assert not device_verify(device=device, code=totp(RFC_SEED, T0 + 300), purpose="test", now=T0 + 60).ok


def test_a_totp_code_is_accepted_once_and_older_codes_are_replays(world):
    device = app(world.alpha.holder)
    assert device_verify(device=device, code=totp(RFC_SEED, T0), purpose="test", now=T0).ok
    assert device_verify(device=device, code=totp(RFC_SEED, T0), purpose="test", now=T0 + 5).outcome is (
        VerifyOutcome.REPLAYED
    )
    assert device_verify(device=device, code=totp(RFC_SEED, T0 - 30), purpose="test", now=T0 + 5).outcome is (
        VerifyOutcome.REPLAYED
    )


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "", "12 34 5x", "9" * 40])
def test_malformed_codes_are_refused_without_counting(world, code):
    device = hotp_token(world.alpha.holder)
    assert device_verify(device=device, code=code, purpose="test").outcome is VerifyOutcome.MALFORMED
    device.refresh_from_db()
    assert device.failure_count == 0


def test_spaces_inside_a_code_are_ignored(world):
    assert device_verify(device=hotp_token(world.alpha.holder), code=" 755 224 ", purpose="test").ok


def test_ten_consecutive_failures_lock_the_device_and_an_operator_unlocks_it(world):
    device = hotp_token(world.alpha.holder)
    results = [device_verify(device=device, code="000000", purpose="test") for _ in range(10)]
    assert [r.failures_left for r in results[:9]] == list(range(9, 0, -1))
    assert results[9].outcome is VerifyOutcome.LOCKED
    # Locked: even the right code is refused.
    assert device_verify(device=device, code="755224", purpose="test").outcome is VerifyOutcome.LOCKED
    device_unlock(device=device, actor=world.alpha.operator.user)
    assert device_verify(device=device, code="755224", purpose="test").ok
    assert AuditEvent.objects.filter(event_type="otp.device_locked").count() == 1
    assert AuditEvent.objects.filter(event_type="operator.otp_device_unlocked").count() == 1


def test_a_success_resets_the_failure_count(world):
    device = hotp_token(world.alpha.holder)
    for _ in range(9):
        device_verify(device=device, code="000000", purpose="test")
    assert device_verify(device=device, code="755224", purpose="test").ok
    assert device_verify(device=device, code="000000", purpose="test").failures_left == 9


def test_resynchronizing_with_two_consecutive_codes_realigns_and_unlocks(world):
    device = hotp_token(world.alpha.holder)
    for _ in range(10):
        device_verify(device=device, code="000000", purpose="test")
    assert device_resynchronize(device=device, first_code=hotp(RFC_SEED, 500), second_code=hotp(RFC_SEED, 501)).ok
    device.refresh_from_db()
    assert device.counter == 502 and not device.is_locked
    assert device_verify(device=device, code=hotp(RFC_SEED, 502), purpose="test").ok


def test_two_non_consecutive_codes_do_not_resynchronize(world):
    device = hotp_token(world.alpha.holder)
    assert not device_resynchronize(device=device, first_code=hotp(RFC_SEED, 500), second_code=hotp(RFC_SEED, 502)).ok
    device.refresh_from_db()
    assert device.counter == 0 and device.failure_count == 1


def test_totp_resynchronization_finds_a_clock_far_off(world):
    device = app(world.alpha.holder)
    skewed = T0 + 600 * 30  # the token's clock is 600 steps ahead
    assert device_resynchronize(
        device=device, first_code=totp(RFC_SEED, skewed), second_code=totp(RFC_SEED, skewed + 30), now=T0
    ).ok
    device.refresh_from_db()
    assert device.drift == 601
    assert device_verify(device=device, code=totp(RFC_SEED, skewed + 60), purpose="test", now=T0 + 30).ok


def test_a_device_in_stock_or_retired_cannot_verify(world):
    stock = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=RFC_SEED, serial="9999999999999",
                          state=DeviceState.AVAILABLE)
    assert device_verify(device=stock, code="755224", purpose="test").outcome is VerifyOutcome.NOT_USABLE


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_the_same_valid_code_exactly_one_succeeds(world):
    device = hotp_token(world.alpha.holder)
    barrier = threading.Barrier(2)
    outcomes: list[VerifyOutcome] = []

    def attempt() -> None:
        try:
            barrier.wait(timeout=10)
            outcomes.append(device_verify(device=OtpDevice.objects.get(pk=device.pk), code="755224",
                                          purpose="test").outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(o.value for o in outcomes) == ["accepted", "replayed"], (connection.vendor, outcomes)
