"""The pre-scan: a bounded look at a PDF's raw bytes before any PDF parser is given them.

Why it exists. pyHanko, the parser under the intake, the signer and the validator, reads what a file
tells it to read, at the pace of pure Python: it inflates an object stream whole and then reads it a
byte at a time (a 16 KB file whose object stream inflates to 16 MiB kept it busy for half a minute);
it reads nested arrays and dictionaries by recursion (100,000 levels: ``RecursionError`` in the
middle of a signature); it follows a cross-reference ``/Prev`` chain without remembering where it
has been (a chain that loops: forever). So every file is first scanned here, and only a file that
stays within every bound reaches pyHanko.

What is bounded, each by a setting (``config/settings.py``, read at call time):

* **decompressed bytes** (``SIGNING_PDF_MAX_DECOMPRESSED_BYTES``): every stream is decoded through
  its filters — Flate by ``zlib.decompressobj().decompress(…, max_length)``, 64 KiB of output per
  step, ASCIIHex, ASCII85 — and all the output together may not pass the bound. It is counted as it
  is produced, so a bomb costs one step past the bound, never its whole size;
* **object bytes** (``SIGNING_PDF_MAX_OBJECT_BYTES``): the syntax of one object (an indirect object
  without its stream data, an object of an object stream, a trailer). pyHanko reads an object in one
  go, a token and often a byte at a time, so this bounds the work between two looks at the clock —
  a catalog padded with 16 MiB of blanks is refused here, before anything reads it;
* **objects** (``SIGNING_PDF_MAX_OBJECTS``): every object the file writes — number, name, string,
  array, dictionary, reference — in the file and in its object streams (as many as each declares,
  counted before it is read), and every cross-reference entry;
* **depth** (``SIGNING_PDF_MAX_DEPTH``): arrays and dictionaries inside one another (pyHanko reads
  and writes each level with one more recursive call);
* **time** (``SIGNING_PDF_MAX_SECONDS``): the clock is looked at every few thousand tokens and after
  every step of decoding, so the scan ends in time whatever the bytes.

It also refuses (``corrupt``) what would trap a parser within every bound: a cross-reference chain
that loops or points where no cross-reference section is; a cross-reference entry or an object
stream offset that points inside a string, a comment or a stream's data (a parser would read there
what the scan did not count); a stream whose ``/Length`` is another stream (resolved one inside the
other, without end); an indirect ``/Filter`` and an object stream with a predictor (no producer
writes them, and the scan could not see their content). It reports what the intake refuses for
signing only: encryption, and active content (JavaScript, launch actions, XFA).

It is iterative and linear in the file: it never builds the document, it counts. A stream is decoded
from where its data starts to where its own encoding ends, wherever ``/Length`` says it ends, so
what a parser decodes is never more than what was counted here.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import re
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

# Output of one inflation step: small enough that a bomb costs one step past the bound.
STEP = 64 * 1024
# Tokens between two looks at the clock (about a millisecond of scanning).
TICK = 2048
# pyHanko looks a few bytes around a cross-reference offset that is slightly wrong.
XREF_TOLERANCE = 32

# Content that runs: JavaScript (an action, the document's name tree of scripts), an action that
# launches a program, an XFA form (whose pages are computed by scripts).
ACTIVE_NAMES = frozenset({"/JavaScript", "/JS", "/Launch", "/XFA"})

_BLANK = rb"\x00\t\n\x0c\r "
_REGULAR = rb"[^\x00\t\n\x0c\r ()<>\[\]{}/%]"
_WS = rb"[\x00\t\n\x0c\r ]"
_NOT_REGULAR = rb"(?!" + _REGULAR + rb")"
_REF = rb"[0-9]++" + _WS + rb"++[0-9]++" + _WS + rb"++R" + _NOT_REGULAR
# A name with a #-escape is not plain: it is decoded before it is compared (/J#53 is /JS).
_PLAIN = rb"(?:" + _REF + rb"|" + _REGULAR + rb"++|/[^\x00\t\n\x0c\r ()<>\[\]{}/%#]*+(?!#))"
_ONE = (
    rb"|(?P<label>[0-9]++" + _WS + rb"++[0-9]++" + _WS + rb"++obj" + _NOT_REGULAR + rb")"
    rb"|(?P<keyword>(?:endobj|endstream|stream|xref|trailer|startxref)" + _NOT_REGULAR + rb")"
    rb"|(?P<word>" + _REGULAR + rb"++)"
    rb"|(?P<name>/" + _REGULAR + rb"*+)"
    rb"|(?P<open><<|\[)"
    rb"|(?P<close>>>|\])"
    rb"|(?P<string>\()"
    rb"|(?P<hex><[^>]*+>?)"
    rb"|(?P<comment>%[^\r\n]*+)"
    rb"|(?P<stray>[^\x00\t\n\x0c\r ])"
    rb")"
)
# One match per run of plain tokens (numbers, references, names without escapes: counted by
# _PLAIN_TOKEN in C), else one per token; most of a file takes one regex step per few objects.
# Possessive quantifiers: a long run of blanks is crossed once, never backtracked through.
_TOKEN = re.compile(
    _WS + rb"*+(?:(?P<run>" + _PLAIN + rb"(?:" + _WS + rb"*+" + _PLAIN + rb")*+)" + _ONE, re.S)
# The same, one token at a time: for a run that holds a keyword or an object's label.
_TOKEN_ONE = re.compile(_WS + rb"*+(?:(?P<run>" + _REF + rb")" + _ONE, re.S)
_RUN_KEYWORD = re.compile(rb"obj|stream|xref|trailer")
_PLAIN_TOKEN = re.compile(_PLAIN)
_RUN = rb"(?:" + _PLAIN + rb"(?:" + _WS + rb"*+" + _PLAIN + rb")*+)"
# An object stream's content, where most of the bytes of a modern PDF are: one match per run, per
# array or dictionary that holds only plain tokens, per string without nested parentheses.
_OBJECT_STREAM_TOKEN = re.compile(
    _WS + rb"*+(?:"
    rb"(?P<run>" + _RUN + rb")"
    rb"|(?P<flat>(?:<<|\[)" + _WS + rb"*+" + _RUN + rb"?" + _WS + rb"*+(?:>>|\]))"
    rb"|(?P<open><<|\[)"
    rb"|(?P<close>>>|\])"
    rb"|(?P<name>/" + _REGULAR + rb"*+)"
    rb"|(?P<text>\((?:[^()\\]++|\\.)*+\))"
    rb"|(?P<string>\()"
    rb"|(?P<hex><[^<>]*+>?)"
    rb"|(?P<comment>%[^\r\n]*+)"
    rb"|(?P<stray>[^\x00\t\n\x0c\r ])"
    rb")",
    re.S,
)
_RUN_NAME = re.compile(rb"/[^\x00\t\n\x0c\r ()<>\[\]{}/%#]*")
_STRING_SPECIAL = re.compile(rb"[()\\]")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_INTEGER = re.compile(rb"[+-]?[0-9]+")
_BLANKS = re.compile(_WS + rb"*")
_OBJECT_LABEL = re.compile(_WS + rb"*([0-9]+)" + _WS + rb"+[0-9]+" + _WS + rb"+obj")
_XREF_SUBSECTION = re.compile(_WS + rb"*[0-9]+[ \t]+([0-9]+)[ \t]*(?:\r\n|\r|\n)")
_XREF_ROWS = re.compile(rb"(?:" + _WS + rb"*[0-9]{1,10}[ \t]+[0-9]{1,5}[ \t]+[fn])+")
_XREF_ROW = re.compile(rb"([0-9]{1,10})[ \t]+[0-9]{1,5}[ \t]+([fn])")
_AFTER_STREAM_KEYWORD = re.compile(rb"[\x00\t\x0c ]*(?:\r\n|\r|\n)?")

FLATE = frozenset({"/FlateDecode", "/Fl"})
ASCII_HEX = frozenset({"/ASCIIHexDecode", "/AHx"})
ASCII_85 = frozenset({"/ASCII85Decode", "/A85"})
_ACTIVE_RAW = frozenset(name.encode() for name in ACTIVE_NAMES)


class ScanRefusal(Exception):
    """A bound exceeded (``reason``: decompressed, object_bytes, objects, depth, time; ``limit``: the
    bound) or a trap for a parser (``reason``: corrupt)."""

    def __init__(self, reason: str, limit: int | float = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit = limit


@dataclass(frozen=True)
class ScanLimits:
    decompressed_bytes: int
    object_bytes: int
    objects: int
    depth: int
    seconds: float

    @classmethod
    def from_settings(cls) -> ScanLimits:
        return cls(
            decompressed_bytes=settings.SIGNING_PDF_MAX_DECOMPRESSED_BYTES,
            object_bytes=settings.SIGNING_PDF_MAX_OBJECT_BYTES,
            objects=settings.SIGNING_PDF_MAX_OBJECTS,
            depth=settings.SIGNING_PDF_MAX_DEPTH,
            seconds=settings.SIGNING_PDF_MAX_SECONDS,
        )


@dataclass
class ScanReport:
    """What the scan counted. ``active_content``: the first name of content that runs, if any."""

    decompressed_bytes: int = 0
    largest_object_bytes: int = 0
    objects: int = 0
    depth: int = 0
    revisions: int = 0
    encrypted: bool = False
    active_content: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class _Ref:
    number: int


@dataclass
class _Section:
    """A cross-reference section: its trailer's /Prev and /XRefStm, and the file offsets it lists."""

    prev: int | None = None
    xref_stream: int | None = None
    offsets: list[int] = field(default_factory=list)


@dataclass
class _Scan:
    data: bytes
    limits: ScanLimits
    deadline: float
    report: ScanReport = field(default_factory=ScanReport)
    sections: dict[int, _Section] = field(default_factory=dict)
    startxref: int | None = None
    labels: set[int] = field(default_factory=set)  # where "n g obj" starts, outside strings and streams
    stream_objects: set[int] = field(default_factory=set)
    indirect_lengths: set[int] = field(default_factory=set)

    # --- budgets ---------------------------------------------------------------------------------

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise ScanRefusal("time", self.limits.seconds)

    def count(self, objects: int) -> None:
        self.report.objects += objects
        if self.report.objects > self.limits.objects:
            raise ScanRefusal("objects", self.limits.objects)

    def decoded(self, size: int) -> None:
        self.report.decompressed_bytes += size
        if self.report.decompressed_bytes > self.limits.decompressed_bytes:
            raise ScanRefusal("decompressed", self.limits.decompressed_bytes)

    def object_size(self, size: int) -> None:
        if size > self.report.largest_object_bytes:
            self.report.largest_object_bytes = size
            if size > self.limits.object_bytes:
                raise ScanRefusal("object_bytes", self.limits.object_bytes)

    # --- tokens ----------------------------------------------------------------------------------

    def scan_tokens(self, data: bytes) -> None:  # noqa: C901, PLR0912, PLR0915
        """Scan the file: its objects, streams (decoded, object streams scanned in turn), cross-reference
        tables and trailers."""
        limits, report = self.limits, self.report
        match_token, match_one = _TOKEN.match, _TOKEN_ONE.match
        opened: list[tuple[bytes, int]] = []  # (bracket, where) of every array and dictionary open
        depth_bound = limits.depth
        objects = 0
        countdown = TICK
        last_dictionary: tuple[int, int] | None = None
        last_end = -1
        object_number: int | None = None
        object_from: int | None = None  # where the syntax of the object being read started
        object_skipped = 0  # stream data inside it
        label_at = 0
        want_trailer = want_startxref = False
        section_start: int | None = None
        position = 0
        one_by_one_until = -1
        size = len(data)

        def object_end(end: int) -> None:
            nonlocal object_from, object_skipped
            if object_from is not None:
                self.object_size(end - object_from - object_skipped)
            object_from, object_skipped = None, 0

        while position < size:
            match = (match_token if position >= one_by_one_until else match_one)(data, position)
            if match is None:  # only blanks are left
                break
            kind = match.lastgroup
            if kind == "run" and _RUN_KEYWORD.search(match.group(kind)):
                one_by_one_until = match.end()
                continue
            position = match.end()
            countdown -= 1
            if not countdown:
                countdown = TICK
                self.count(objects)
                objects = 0
                self.tick()
            if kind == "run" or kind == "word":
                run = match.group(kind)
                objects += len(_PLAIN_TOKEN.findall(run))
                if want_startxref and _INTEGER.fullmatch(run):
                    self.startxref, want_startxref = int(run), False
                if (b"/J" in run or b"/L" in run or b"/X" in run) and not report.active_content:
                    report.active_content = next(
                        (n for n in map(bytes.decode, _RUN_NAME.findall(run)) if n in ACTIVE_NAMES), "")
                last_end = position
                continue
            if kind == "name":
                objects += 1
                raw = match.group(kind)
                if (raw in _ACTIVE_RAW or (b"#" in raw and _name(raw) in ACTIVE_NAMES)) and not report.active_content:
                    report.active_content = _name(raw)
            elif kind == "open":
                objects += 1
                opened.append((match.group(kind), match.start(kind)))
                if len(opened) > report.depth:
                    report.depth = len(opened)
                    if report.depth > depth_bound:
                        raise ScanRefusal("depth", depth_bound)
            elif kind == "close":
                if opened:
                    opening, opened_at = opened.pop()
                    if opening == b"<<" and match.group(kind) == b">>":
                        last_dictionary = (opened_at, position)
                        if want_trailer and not opened:
                            want_trailer = False
                            self._trailer(self._dictionary(data, opened_at, position), section_start)
                            section_start = None
                            object_end(position)
            elif kind == "comment":
                continue
            elif kind == "string":
                position = self._string_end(data, position)
                objects += 1
            elif kind == "hex":
                objects += 1
            elif kind == "label":
                label_at = match.start(kind)
                object_end(label_at)
                object_number = int(match.group(kind).split()[0])
                self.labels.add(label_at)
                object_from = label_at
                objects += 1
            elif kind == "keyword":
                keyword = match.group(kind)
                if keyword == b"stream" and last_dictionary is not None and last_dictionary[1] == last_end:
                    end = self._stream(data, position, last_dictionary, object_number, label_at)
                    object_skipped += end - position
                    position = end
                elif keyword == b"endobj":
                    object_end(position)
                elif keyword == b"xref" and not opened:
                    object_end(match.start(kind))
                    section_start = match.start(kind)
                    position = self._xref_table(data, section_start, position)
                elif keyword == b"trailer":
                    object_end(match.start(kind))
                    want_trailer, object_from = True, match.start(kind)
                elif keyword == b"startxref":
                    want_startxref = True
            else:  # a stray delimiter
                objects += 1
            last_end = position
        self.count(objects)
        object_end(size)

    def _object_stream_tokens(self, data: bytes) -> list[tuple[int, int]]:  # noqa: C901, PLR0912
        """Scan an object stream's content (objects one after another, nothing else): objects, depth,
        active content, in as few regex steps as it allows. Returns the spans of its strings and
        comments."""
        report, bound = self.report, self.limits.depth
        opaque: list[tuple[int, int]] = []
        depth = objects = 0
        countdown = TICK
        position = 0
        while True:
            nested_string = -1
            for match in _OBJECT_STREAM_TOKEN.finditer(data, position):
                kind = match.lastgroup
                countdown -= 1
                if not countdown:
                    countdown = TICK
                    self.count(objects)
                    objects = 0
                    self.tick()
                if kind == "run" or kind == "flat":
                    text = match.group(kind)
                    objects += len(_PLAIN_TOKEN.findall(text))
                    if kind == "flat":
                        objects += 1
                        if depth + 1 > report.depth:
                            report.depth = depth + 1
                            if report.depth > bound:
                                raise ScanRefusal("depth", bound)
                    if not report.active_content and (b"/J" in text or b"/L" in text or b"/X" in text):
                        report.active_content = next(
                            (n for n in map(bytes.decode, _RUN_NAME.findall(text)) if n in ACTIVE_NAMES), "")
                elif kind == "open":
                    depth += 1
                    objects += 1
                    if depth > report.depth:
                        report.depth = depth
                        if depth > bound:
                            raise ScanRefusal("depth", bound)
                elif kind == "close":
                    depth = max(depth - 1, 0)
                elif kind == "name":
                    objects += 1
                    name = _name(match.group(kind))
                    if name in ACTIVE_NAMES and not report.active_content:
                        report.active_content = name
                elif kind == "comment":
                    opaque.append((match.start(kind), match.end()))
                elif kind == "string":
                    nested_string = match.start(kind)
                    break
                else:  # a string, a hex string, a stray delimiter
                    assert kind is not None  # every alternative of the pattern is a named group
                    objects += 1
                    if kind != "stray":
                        opaque.append((match.start(kind), match.end()))
            if nested_string < 0:
                break
            position = self._string_end(data, nested_string + 1)
            opaque.append((nested_string, position))
            objects += 1
        self.count(objects)
        return opaque

    def _string_end(self, data: bytes, position: int) -> int:
        """The end of the literal string whose ``(`` ends at ``position``: balanced, backslash-escaped."""
        depth, steps = 1, 0
        search = _STRING_SPECIAL.search
        while True:
            match = search(data, position)
            if match is None:
                return len(data)
            at = match.start()
            if data[at] == 0x5C:  # a backslash: the next byte is literal
                position = at + 2
            else:
                depth += 1 if data[at] == 0x28 else -1
                position = at + 1
                if depth == 0:
                    return position
            steps += 1
            if steps % (TICK * 8) == 0:
                self.tick()

    def _dictionary(self, data: bytes, start: int, end: int) -> dict[str, Any]:
        """The entries of the dictionary ``data[start:end]`` (within the depth bound already): names,
        integers, references, and arrays and dictionaries of those; strings as ``b""``."""
        stack: list[Any] = []
        keys: list[Any] = []
        position = start
        while position < end:
            match = _TOKEN.match(data, position, end)
            if match is None:
                break
            kind = match.lastgroup
            assert kind is not None
            text, position = match.group(kind), match.end()
            if kind == "open":
                stack.append({} if text == b"<<" else [])
                keys.append(None)
                continue
            item: Any
            if kind == "close":
                if not stack:
                    break
                item = stack.pop()
                keys.pop()
                if not stack:
                    return item if isinstance(item, dict) else {}
            elif kind == "string":
                position = self._string_end(data, position)
                item = b""
            elif kind == "name":
                item = _name(text)
            elif kind == "run":
                for plain in _PLAIN_TOKEN.findall(text):
                    _dictionary_store(stack, keys, _plain_value(plain))
                continue
            elif kind == "word" and _INTEGER.fullmatch(text):
                item = int(text)
            elif kind == "comment":
                continue
            else:
                item = text.decode("latin-1")
            _dictionary_store(stack, keys, item)
        return {}

    def _trailer(self, trailer: dict[str, Any], start: int | None) -> None:
        if "/Encrypt" in trailer:
            self.report.encrypted = True
        if start is None:
            return
        section = self.sections.setdefault(start, _Section())
        prev, xref_stream = trailer.get("/Prev"), trailer.get("/XRefStm")
        section.prev = prev if isinstance(prev, int) else None
        section.xref_stream = xref_stream if isinstance(xref_stream, int) else None

    # --- cross-reference tables ------------------------------------------------------------------

    def _xref_table(self, data: bytes, start: int, position: int) -> int:
        """Read a classic cross-reference table's entries; go on after them (at its trailer)."""
        section = self.sections.setdefault(start, _Section())
        while True:
            header = _XREF_SUBSECTION.match(data, position)
            if header is None:
                return position
            self.count(int(header.group(1)))  # as many as it declares, before reading them
            position = header.end()
            rows = _XREF_ROWS.match(data, position)
            if rows is None:
                continue
            section.offsets += [int(offset) for offset, kind in _XREF_ROW.findall(rows.group()) if kind == b"n"]
            position = rows.end()
            self.tick()

    # --- streams ---------------------------------------------------------------------------------

    def _stream(self, data: bytes, after_keyword: int, dictionary_span: tuple[int, int], object_number: int | None,
                label_at: int) -> int:
        """Decode a stream (bounded) and scan an object stream's content; return where its data ends."""
        entries = self._dictionary(data, *dictionary_span)
        # The pattern matches the empty string too: never None.
        start = _AFTER_STREAM_KEYWORD.match(data, after_keyword).end()  # type: ignore[union-attr]  # see above
        if object_number is not None:
            self.stream_objects.add(object_number)
        kind = entries.get("/Type")
        parameters = entries.get("/DecodeParms")
        if isinstance(parameters, list):
            parameters = next((p for p in parameters if isinstance(p, dict)), None)
        predictor = parameters.get("/Predictor", 1) if isinstance(parameters, dict) else 1
        if kind == "/ObjStm":
            if predictor != 1:
                raise ScanRefusal("corrupt")
            declared = entries.get("/N")
            self.count(declared if isinstance(declared, int) and declared > 0 else 0)
        elif kind == "/XRef":
            self._trailer(entries, label_at)
        output, encoded_end = self._decode(data, start, _filters(entries.get("/Filter")),
                                           keep=kind in ("/ObjStm", "/XRef"))
        length = entries.get("/Length")
        if isinstance(length, _Ref):
            self.indirect_lengths.add(length.number)
        end = _declared_end(data, start, length)
        if end is None:
            found = data.find(b"endstream", max(start, encoded_end or start))
            end = len(data) if found < 0 else found
        if kind == "/ObjStm" and output is not None:
            self._object_stream(entries, output)
        elif kind == "/XRef" and output is not None:
            self._xref_stream(entries, output, predictor, self.sections[label_at])
        return end

    def _object_stream(self, entries: dict[str, Any], content: bytes) -> None:
        """Measure each object of an object stream before reading any; scan them; every offset of the
        header must be outside strings and comments (else a parser would start reading in one, where
        the scan counted nothing)."""
        first, count = entries.get("/First"), entries.get("/N")
        if not isinstance(first, int) or not isinstance(count, int) or not 0 <= first <= len(content):
            return
        header = content[:first].split()[:2 * max(count, 0)]
        offsets = sorted({first + int(o) for o in header[1::2] if o.isdigit() and first + int(o) <= len(content)})
        for start, end in zip(offsets, [*offsets[1:], len(content)], strict=True):
            self.object_size(end - start)
        opaque = self._object_stream_tokens(content)
        starts = [start for start, _end in opaque]
        for offset in offsets:
            at = _BLANKS.match(content, offset).end()  # type: ignore[union-attr]  # matches "" too: never None
            inside = bisect.bisect_right(starts, at) - 1
            if inside >= 0 and opaque[inside][0] < at < opaque[inside][1]:
                raise ScanRefusal("corrupt")

    def _xref_stream(self, entries: dict[str, Any], rows: bytes, predictor: Any, section: _Section) -> None:
        widths = entries.get("/W")
        if not isinstance(widths, list) or len(widths) != 3 or not all(isinstance(w, int) and w >= 0 for w in widths):
            return
        width = sum(widths)
        if width == 0:
            return
        if isinstance(predictor, int) and predictor >= 10:
            self.count(len(rows) // (width + 1))
            rows = _png_rows(rows, width, self)
        else:
            self.count(len(rows) // width)
        kind_width, offset_width, _index_width = widths
        for at in range(0, len(rows) - width + 1, width):
            kind = int.from_bytes(rows[at:at + kind_width], "big") if kind_width else 1
            if kind == 1:
                section.offsets.append(int.from_bytes(rows[at + kind_width:at + kind_width + offset_width], "big"))
            if not at % (width * TICK * 8):
                self.tick()

    def _decode(self, data: bytes, start: int, filters: list[str], *, keep: bool) -> tuple[bytes | None, int | None]:
        """Run the filter chain over the data from ``start`` on, every output counted as it is made.

        Returns the last output (when ``keep``; intermediate ones are kept for the next filter) and
        where the first filter's encoding ends in ``data`` (None when it cannot say). A filter
        pyHanko cannot decode (images, LZW…) ends the chain: nothing after it is decoded by anyone."""
        source, position = data, start
        encoded_end: int | None = None
        output: bytes | None = None
        for index, name in enumerate(filters):
            needed = keep or index < len(filters) - 1
            end: int | None
            if name in FLATE:
                output, end = self._inflate(source, position, keep=needed)
            elif name in ASCII_HEX:
                output, end = self._ascii_hex(source, position)
            elif name in ASCII_85:
                output, end = self._ascii_85(source, position)
            else:
                return None, encoded_end
            if index == 0:
                encoded_end = end
            if output is None:
                return None, encoded_end
            source, position = output, 0
        return (output if filters else None), encoded_end

    def _inflate(self, data: bytes, start: int, *, keep: bool) -> tuple[bytes | None, int | None]:
        inflater = zlib.decompressobj()
        view = memoryview(data)
        position = start
        parts: list[bytes] = []
        broken = False
        while not inflater.eof:
            chunk: bytes | memoryview = inflater.unconsumed_tail
            if not chunk:
                if position >= len(data):
                    break
                chunk = view[position:position + STEP]
                position += len(chunk)
            try:
                piece = inflater.decompress(chunk, STEP)
            except zlib.error:
                broken = True  # not Flate after all, or damaged: where it ends is the stream's business
                break
            self.decoded(len(piece))
            if keep:
                parts.append(piece)
            self.tick()
        end = None if broken else position - len(inflater.unconsumed_tail) - len(inflater.unused_data)
        return (b"".join(parts) if keep else b""), end

    def _ascii_hex(self, data: bytes, start: int) -> tuple[bytes | None, int]:
        end = data.find(b">", start)
        end = len(data) if end < 0 else end
        digits = bytes(data[start:end]).translate(None, _BLANK)
        if len(digits) % 2:
            digits += b"0"
        self.decoded(len(digits) // 2)
        try:
            return binascii.unhexlify(digits), end + 1
        except (binascii.Error, ValueError):
            return None, end + 1

    def _ascii_85(self, data: bytes, start: int) -> tuple[bytes | None, int]:
        end = data.find(b"~>", start)
        end = len(data) if end < 0 else end
        text = bytes(data[start:end]).translate(None, _BLANK)
        zeros = text.count(b"z")
        self.decoded(zeros * 4 + (len(text) - zeros) * 4 // 5)  # counted before decoding: "z" is 4 bytes
        text = text.replace(b"z", b"!!!!!")
        group = 5 * 13107  # whole groups per step
        parts = []
        try:
            for at in range(0, len(text), group):
                parts.append(base64.a85decode(text[at:at + group]))
                self.tick()
        except ValueError:
            return None, end + 2
        return b"".join(parts), end + 2


_NO_KEY = object()


def _plain_value(token: bytes) -> Any:
    if token.startswith(b"/"):
        return _name(token)
    if token.endswith(b"R") and not token[:1].isalpha():
        return _Ref(int(token.split()[0]))
    if _INTEGER.fullmatch(token):
        return int(token)
    return token.decode("latin-1")


def _dictionary_store(stack: list[Any], keys: list[Any], item: Any) -> None:
    if not stack:
        return
    container = stack[-1]
    if isinstance(container, list):
        container.append(item)
    elif keys[-1] is None:
        keys[-1] = item if isinstance(item, str) and item.startswith("/") else _NO_KEY
    else:
        if keys[-1] is not _NO_KEY:
            container[keys[-1]] = item
        keys[-1] = None


def _name(raw: bytes) -> str:
    if b"#" in raw:
        raw = _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
    return raw.decode("latin-1")


def _filters(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    # An indirect or malformed /Filter: its content cannot be seen here, so nobody may decode it.
    raise ScanRefusal("corrupt")


def _declared_end(data: bytes, start: int, length: Any) -> int | None:
    """The end of a stream's data by a direct /Length, if ``endstream`` is where it says (or one byte
    before, which pyHanko also accepts)."""
    if not isinstance(length, int) or length < 0:
        return None
    end = start + length
    if data[end:end + 64].lstrip(b"\x00\t\n\x0c\r ").startswith(b"endstream"):
        return end
    if end > 0 and data[end - 1:end + 8] == b"endstream":
        return end - 1
    return None


def _png_rows(data: bytes, width: int, scan: _Scan) -> bytes:
    """Undo the PNG predictors of a cross-reference stream (rows of ``width`` bytes after a filter
    byte); a broken row ends the table, as it ends pyHanko's reading."""
    out = bytearray()
    previous = bytearray(width)
    for at in range(0, len(data) - width, width + 1):
        kind, row = data[at], bytearray(data[at + 1:at + 1 + width])
        if kind == 1:
            for i in range(1, width):
                row[i] = (row[i] + row[i - 1]) & 0xFF
        elif kind == 2:
            row = bytearray((a + b) & 0xFF for a, b in zip(row, previous, strict=True))
        elif kind == 3:
            for i in range(width):
                left = row[i - 1] if i else 0
                row[i] = (row[i] + (left + previous[i]) // 2) & 0xFF
        elif kind == 4:
            for i in range(width):
                a, b, c = (row[i - 1] if i else 0), previous[i], (previous[i - 1] if i else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        elif kind != 0:
            break
        out += row
        previous = row
        if len(out) % (width * TICK) == 0:
            scan.tick()
    return bytes(out)


def pdf_scan(data: bytes, limits: ScanLimits | None = None, *, deadline: float | None = None) -> ScanReport:
    """Scan ``data`` within ``limits`` (the settings by default) and before ``deadline`` (a
    ``time.monotonic()`` value; by default ``limits.seconds`` from now). :class:`ScanRefusal` at the
    first bound exceeded or trap found; else what was counted."""
    limits = limits or ScanLimits.from_settings()
    started = time.monotonic()
    if deadline is None:
        deadline = started + limits.seconds
    scan = _Scan(data=bytes(data), limits=limits, deadline=deadline)
    scan.tick()
    scan.scan_tokens(scan.data)
    if scan.indirect_lengths & scan.stream_objects:
        raise ScanRefusal("corrupt")
    scan.report.revisions = _cross_references_check(scan)
    scan.report.seconds = time.monotonic() - started
    return scan.report


def _cross_references_check(scan: _Scan) -> int:
    """Follow the cross-reference chain from the last ``startxref`` as pyHanko will: every section
    must be one the scan read, none twice; every object offset they list must be an object the scan
    saw begin (or no object at all, which a parser refuses). Returns the number of revisions."""
    starts = sorted(scan.sections)

    def section_at(offset: int) -> int:
        index = bisect.bisect_left(starts, offset)
        near = [s for s in starts[max(index - 1, 0):index + 1] if abs(s - offset) <= XREF_TOLERANCE]
        if not near:
            raise ScanRefusal("corrupt")
        return min(near, key=lambda s: abs(s - offset))

    chain: list[int] = []
    visited: set[int] = set()
    offset = scan.startxref
    while offset is not None:
        start = section_at(offset)
        if start in visited:
            raise ScanRefusal("corrupt")
        visited.add(start)
        chain.append(start)
        section = scan.sections[start]
        if section.xref_stream is not None:
            chain.append(section_at(section.xref_stream))
        offset = section.prev
        scan.tick()
    data = scan.data
    for start in chain:
        for offset in scan.sections[start].offsets:
            label = _OBJECT_LABEL.match(data, offset) if 0 <= offset < len(data) else None
            if label is not None and label.start(1) not in scan.labels:
                raise ScanRefusal("corrupt")
        scan.tick()
    return len(visited)
