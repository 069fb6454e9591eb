"""DER assembly from pieces encoded once: the CMS of a batch and the TSA's tokens.

Why: asn1crypto re-serialises a whole structure — certificates included — every time one built from
Python values is dumped, and checks every node for mutation on the way. For a one-page PDF that was
more than half of the signing time. Within a batch almost everything in the CMS is the same for
every document (certificates, signer identifier, algorithms, the signed attributes but the message
digest), so those parts are encoded once and each document costs a few byte concatenations.

Only the framing is done here: every piece comes from asn1crypto or pyHanko. What is assembled is
checked against asn1crypto's own encoding of the same values: by :class:`signing.pades.CmsTemplate`
each time it is built, and for the TSA's tokens by ``tests/signing/test_tsa.py``.
"""

from __future__ import annotations

SEQUENCE = 0x30
SET = 0x31
OCTET_STRING = 0x04
CONTEXT_0 = 0xA0  # [0] constructed: explicit [0], or IMPLICIT SET/SEQUENCE
CONTEXT_1 = 0xA1


def length(size: int) -> bytes:
    """The DER length octets for ``size`` bytes of content (short form below 128, else long form)."""
    if size < 0x80:
        return bytes([size])
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def tlv(tag: int, content: bytes) -> bytes:
    """One DER element: a single-octet tag, the length, the content."""
    return bytes([tag]) + length(len(content)) + content


def content_of(element: bytes) -> bytes:
    """The content octets of one DER element with a single-octet tag (the inverse of :func:`tlv`)."""
    first = element[1]
    if first < 0x80:
        start = 2
        size = first
    else:
        count = first & 0x7F
        start = 2 + count
        size = int.from_bytes(element[2:start], "big")
    if start + size != len(element):
        raise ValueError("not exactly one DER element")
    return element[start:]
