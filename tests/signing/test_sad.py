"""The SAD token and the one-time wrapping of a data key, on their own (no database)."""

from __future__ import annotations

import base64
import os
import uuid

import pytest
from cryptography.exceptions import InvalidTag

from signing.sad import (
    ID_LENGTH,
    KEY_LENGTH,
    TokenMalformed,
    data_key_unwrap,
    data_key_wrap,
    token_decode,
    token_encode,
)

pytestmark = pytest.mark.both_vaults

AAD = b"firma-remota/sad|activation|certificate:1|2"
DATA_KEY = bytes(range(32))


def test_a_token_round_trips_its_id_and_key_without_padding():
    public_id, key = uuid.uuid4(), os.urandom(KEY_LENGTH)
    token = token_encode(public_id, key)
    assert "=" not in token and "+" not in token and "/" not in token
    assert token_decode(token) == (public_id, key)
    assert token_decode(f"  {token}\n") == (public_id, key)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not base64 at all!",
        "a",
        base64.urlsafe_b64encode(os.urandom(ID_LENGTH + KEY_LENGTH - 1)).decode(),
        base64.urlsafe_b64encode(os.urandom(ID_LENGTH + KEY_LENGTH + 1)).decode(),
        base64.urlsafe_b64encode(os.urandom(ID_LENGTH)).decode(),
    ],
)
def test_malformed_tokens_are_refused(token):
    with pytest.raises(TokenMalformed):
        token_decode(token)


def test_a_wrapped_data_key_round_trips_with_its_key_and_row():
    wrapped, key = data_key_wrap(DATA_KEY, aad=AAD)
    assert len(key) == KEY_LENGTH and DATA_KEY not in wrapped
    assert data_key_unwrap(wrapped, one_time_key=key, aad=AAD) == DATA_KEY
    again, other_key = data_key_wrap(DATA_KEY, aad=AAD)
    assert other_key != key and again != wrapped


def test_a_wrong_key_is_refused():
    wrapped, key = data_key_wrap(DATA_KEY, aad=AAD)
    with pytest.raises(InvalidTag):
        data_key_unwrap(wrapped, one_time_key=os.urandom(KEY_LENGTH), aad=AAD)
    with pytest.raises(InvalidTag):
        data_key_unwrap(wrapped, one_time_key=key[:16], aad=AAD)


def test_a_tampered_blob_or_another_rows_aad_is_refused():
    wrapped, key = data_key_wrap(DATA_KEY, aad=AAD)
    for position in (0, 12, len(wrapped) - 1):
        tampered = bytearray(wrapped)
        tampered[position] ^= 0x01
        with pytest.raises(InvalidTag):
            data_key_unwrap(bytes(tampered), one_time_key=key, aad=AAD)
    with pytest.raises(InvalidTag):
        data_key_unwrap(wrapped, one_time_key=key, aad=AAD.replace(b"certificate:1", b"certificate:2"))


@pytest.mark.parametrize("wrapped", [b"", b"\x00" * 12, memoryview(b"")])
def test_an_emptied_row_opens_nothing(wrapped):
    with pytest.raises(InvalidTag):
        data_key_unwrap(wrapped, one_time_key=os.urandom(KEY_LENGTH), aad=AAD)
