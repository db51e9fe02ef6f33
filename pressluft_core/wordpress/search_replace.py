"""Serialized-safe, streaming URL rewrite of a mysqldump stream.

Usage (on a node, in a pipe, or locally)::

    python3 search_replace.py [--stats] [--jobs N] OLD NEW [OLD2 NEW2 ...] < in.sql > out.sql
    python -m pressluft_core.wordpress.search_replace OLD NEW < in.sql > out.sql

This file is copied to nodes and run by their ``python3`` (>= 3.9): it must stay one file,
standard library only, importing nothing from ``pressluft_core``. Exit status: 0 done, 2 bad
arguments (usage on stderr), 1 output closed early, 3 a worker process failed (the output
is then incomplete). ``--stats`` reports replacements and peak memory on stderr.

Rules (the tests pin each of them):

* Bytes in, bytes out. Nothing is decoded; bytes that are not rewritten are copied verbatim.
  Matching is case-sensitive, as in ``sed``.
* Forms. Each OLD is looked for as given and, when it contains ``/``, JSON-escaped
  (``https:\\/\\/old.example``, which mysqldump writes ``https:\\\\/\\\\/old.example``).
  When OLD and NEW are both URLs (``scheme://…`` or ``//…``), the protocol-relative forms
  ``//old.example…`` and ``\\/\\/old.example…`` become NEW's ``//…`` part too: with OLD
  ``http://old.example``, ``https://old.example`` becomes ``https://new.example`` (the
  scheme that was written stays). A bare host (``old.example`` without ``//``, as in an
  e-mail address) is rewritten only when given as a pair of its own.
* One pass, left to right. Where several forms match at one place the longest wins (the
  full URL before its protocol-relative part); inserted text is never matched again, so
  pairs apply simultaneously, not one after the other.
* Boundaries. Host characters are ``[A-Za-z0-9.-]``. When OLD ends with one, a match must
  not be followed by ``[A-Za-z0-9-]`` nor by ``.`` + ``[A-Za-z0-9-]``: ``old.example.org``,
  ``old.example-cdn`` and, for OLD ``http://old.example/sub``, ``…/subdir`` stay, while
  ``old.example.`` ending a sentence, ``old.example:8080`` and ``old.example/x`` match.
  When OLD starts with a host character and has no ``scheme://``, a match must not follow a
  host character: ``bold.example`` and ``www.old.example`` stay (a mysqldump escape such as
  ``\\n`` right before counts as the newline it stands for). Forms starting with
  ``scheme://`` or ``//`` carry their own delimiter and are not checked before.
* Serialized data is recognised where WordPress keeps it: an SQL string literal whose value
  is serialized, i.e. starts (after whitespace, which WordPress trims) with ``a:``, ``O:``,
  ``s:``, ``C:`` or ``E:`` and a digit. Elsewhere text is plain, whatever it looks like:
  WordPress would not unserialize it either. In a serialized value every length-prefixed
  token that encloses a match gets its ``<len>`` recomputed: strings (array keys too)
  ``s:<len>:"<len bytes>";``, class names ``O:<len>:"<class>":``, enum cases
  ``E:<len>:"<Enum:Case>";``, custom objects ``C:<len>:"<class>":<len>:{<len bytes>}``
  (both lengths), and ``S:<len>:"…";`` strings without ``\\xx`` escapes (PHP reads ``S:``,
  never writes it; one with escapes is treated as malformed, and a replacement bringing a
  backslash into one is skipped). A string whose content is itself a serialized value, or a
  ``C:`` payload, is treated the same way, recursively, so serializations nested in
  serialized strings come out right; any other string content is plain text. ``<len>``
  counts *unescaped* bytes: each mysqldump escape (``\\'`` ``\\"``
  ``\\\\`` ``\\n`` ``\\r`` ``\\0`` ``\\Z`` ``\\t``, any ``\\x``) is one byte, except ``\\%``
  and ``\\_`` which MySQL keeps as two; a doubled quote (``''`` in ``'…'``, ``""`` in
  ``"…"``) is one. A header counts only if exactly ``<len>`` bytes later the token closes
  (``";``, ``":``, ``}``) inside its literal.
* Quotes. String literals may be single-quoted (mysqldump) or double-quoted (mydumper, or
  mysqldump-like dumps without ANSI_QUOTES); both are handled alike, with the same escapes.
  A line's quote is that of its first value: the first quote after an INSERT's ``VALUES``,
  or on a row continued on a line of its own (``(…)`` or ``,(…)``); ``'`` on any other line
  (DDL, comments). ANSI ``"identifiers"`` before ``VALUES`` do not count. Dump tools write
  one quote per line; on a hand-made line mixing them, a match after a literal in the other
  quote that looks serialized is left as it is and counted as skipped, never rewritten
  without its length. Why handled, not refused: refusing needs the same knowledge (which
  quote a literal is in) as handling, and finding it costs one search per line that needs
  it; a tokenizer that tracked literals from each line's start would have run at about
  50 MB/s, slower than all the rest. Where a value may start is found for both quotes by
  one search, for the ``:`` of its ``a:1``: a search per quote cost about a quarter more
  CPU in one process on the benchmark's dump (measured in-process, 2026-12-07).
* Malformed serialized data is never "fixed" and never given a wrong length. If a header
  between the start of a serialized value (or serialized string content) and a match does
  not add up — wrong length, truncated, or byte counts that differ from the database's
  after a charset conversion — that match and the rest of that value are left as they are,
  and counted as skipped (reported on stderr).
* Streaming: blocks of whole lines are rewritten (a mysqldump literal never spans lines),
  so memory is bounded by the block size plus the longest line. A block without any OLD
  host is written through after one search.
* Processes: ``--jobs N`` (default: 2 where ``fork`` exists and two cores are free to run
  them, else 1) processes rewrite blocks in turn and write them in input order; the output
  is byte for byte the same whatever N. Each holds its own block, so memory is N times one
  process's.

Speed: the work is done by the regex engine and bytes methods, a Python loop turn per
match. A match is plain text, taken in a few steps, unless a quote that may open a
serialized value lies between it and the previous one; only then is its literal looked at.
One process runs at about half sed's speed on a WordPress dump (``python -m bench
search_replace``); two take it past that. In the clone pipeline the import into MariaDB,
many times slower than either, sets the pace: the second process mostly waits there.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import struct
import sys
from typing import BinaryIO, NamedTuple

USAGE = ("usage: search_replace.py [--stats] [--jobs N] OLD NEW [OLD2 NEW2 ...] "
         "< in.sql > out.sql")
BLOCK = 1 << 21  # read at a time: a couple of mysqldump's lines (up to 1 MB each)
PARALLEL_BLOCK = 1 << 20  # read per turn by each of several processes: about one line
DEFAULT_JOBS = 2  # processes, when the machine has the cores (see default_jobs)
WRITE_BUFFER = 1 << 16  # for short lines: longer writes go straight through, not copied
HOST_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")
LABEL_CHARS = HOST_CHARS - {0x2E}
ESCAPE_LETTERS = frozenset(b"0bnrtZ")  # \n etc. stand for control bytes, not host characters
BACKSLASH = 0x5C
SINGLE, DOUBLE = b"'", b'"'  # the quotes an SQL string literal may be written in
MAX_DEPTH = 64  # serialized strings nested deeper than this are treated as malformed
SCHEME = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*:(//.*)", re.DOTALL)
SCHEME_LED = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*:(?://|\\/\\/)")
NOT_AFTER = rb"(?![A-Za-z0-9-]|\.[A-Za-z0-9-])"
SERIAL_FIRST = frozenset(b"asOCE \t\x0b\\")  # bytes a serialized value can start with
SERIALIZED = re.compile(rb"(?:[ \t\x0b]|\\[nrt0])*[asOCE]:[0-9]")
# Where a serialized value may start: the ``[asOCE]:[0-9]`` of SERIALIZED. The quote
# before it is found by stepping back (:func:`_value_at`). One search for both quotes, led
# by the literal ':', which is rarer in dumps than either quote and is what the regex
# engine finds fast; the digit after it is checked before the letter before it.
SERIAL_COLON = re.compile(rb":[0-9](?<=[asOCE]:[0-9])")
LEADING = frozenset(b" \t\x0b\\nrt0")  # bytes of what SERIALIZED lets come first
QUOTES = SINGLE + DOUBLE
# Length-prefixed tokens: strings (s), escaped strings (S), enum cases (E), class names of
# objects (O) and of custom serializations (C, whose payload length follows the name).
# Lengths of any size are headers: a huge one just fails to parse.
HEADER = re.compile(rb'([sSOCE]):(\d+):\\?"')
HINT = re.compile(rb":(?<=[sSOCE]:)[0-9]")  # where a header may start; the literal ':' is fast
PAYLOAD_HEADER = re.compile(rb":(\d+):\{")  # after a C: class name
# The start of a line whose string literals tell its quoting: an INSERT's values, or a row
# of one continued on a line of its own (mydumper writes ``,(…)`` lines).
ROWS_START = re.compile(rb"[ \t]*(?:(?:INSERT|REPLACE)\b.*?\bVALUES\b|,?[ \t]*\()", re.I)
SIMPLE_RUN = re.compile(  # serialized tokens with nothing escaped, stepped over in one go
    rb'(?:s:\d{1,10}:\\"[^\\\'"]*\\";|[ib]:-?\d{1,20};|d:[^;\\\'"]{1,40};|N;|a:\d{1,10}:\{|\})+')
SIMPLE_STRING = re.compile(rb's:(\d{1,10}):\\"([^\\\'"]*)\\";')
COMMON_BYTES = b" etaoinsrhldcu.m,fpgwy-b0v12k/:3x9485j76qz"  # in text, most frequent first
ESCAPES = {b"\\": b"\\\\", b"'": b"\\'", b'"': b'\\"', b"\n": b"\\n", b"\r": b"\\r",
           b"\0": b"\\0", b"\x1a": b"\\Z"}


class Form(NamedTuple):
    """One spelling of an OLD value, as it appears in the dump, and what replaces it."""

    old: bytes          # escaped the way mysqldump writes it
    new: bytes
    raw_delta: int      # change in unescaped length, for serialized lengths
    offset: int         # where the anchor starts inside ``old``
    check_before: bool
    check_after: bool


def sql_escape(raw: bytes) -> bytes:
    """Escape ``raw`` the way mysqldump writes it inside a quoted literal."""
    return b"".join(ESCAPES.get(raw[i:i + 1], raw[i:i + 1]) for i in range(len(raw)))


def _url_rest(value: bytes) -> bytes | None:
    """The ``//host/path`` part of a URL (``scheme://`` or ``//``), else None."""
    m = SCHEME.fullmatch(value)
    if m:
        return m.group(1)
    return value if value.startswith(b"//") else None


def _anchor(old: bytes) -> bytes:
    """The longest piece of OLD past its scheme that every form contains verbatim (no ``/``,
    nothing mysqldump escapes) — for a URL, the host. This is what is searched for."""
    rest = _url_rest(old)
    return max(re.split(rb"[/\\'\"\n\r\0\x1a]", old if rest is None else rest), key=len)


def build_forms(pairs: list[tuple[bytes, bytes]]) -> dict[bytes, list[Form]]:
    """All forms of all pairs grouped by anchor, longest first within a group. A pair whose
    anchor contains another's (``www.old.example``, ``old.example``) shares it."""
    anchors = [_anchor(old) for old, _ in pairs]
    for i, (old, _) in enumerate(pairs):
        if not anchors[i]:
            raise ValueError(f"OLD value {old!r} has nothing to search for besides '/'")
    groups: dict[bytes, list[Form]] = {}
    seen: set[bytes] = set()
    for i, (old, new) in enumerate(pairs):
        anchor = min((a for a in anchors if a in anchors[i]), key=len)
        raw = [(old, new)]
        old_rest, new_rest = _url_rest(old), _url_rest(new)
        if old_rest is not None and new_rest is not None and old_rest != old:
            raw.append((old_rest, new_rest))
        raw += [(o.replace(b"/", b"\\/"), n.replace(b"/", b"\\/")) for o, n in raw if b"/" in o]
        for o, n in raw:
            esc = sql_escape(o)
            if esc not in seen:
                seen.add(esc)
                groups.setdefault(anchor, []).append(Form(
                    esc, sql_escape(n), len(n) - len(o), esc.find(anchor),
                    o[0] in HOST_CHARS and not SCHEME_LED.match(o), o[-1] in HOST_CHARS))
    for forms in groups.values():
        forms.sort(key=lambda f: -len(f.old))
    return groups


def _alternative(form: Form, anchor: bytes) -> bytes:
    """Regex text that, placed right after the anchor, matches iff ``form`` is here and
    respects its boundaries (except an escape before it: that needs backslashes counted)."""
    pre, post = form.old[:form.offset], form.old[form.offset + len(anchor):]
    behind = re.escape(pre + anchor)
    parts = [b"(?<=" + behind + b")"] if pre else []
    if form.check_before:
        parts.append(b"(?:(?<![A-Za-z0-9.-]" + behind + b")|(?<=[0bnrtZ]" + behind + b"))")
    ahead = re.escape(post) + (NOT_AFTER if form.check_after else b"")
    parts.append(b"(?=" + ahead + b")" if post else ahead)
    return b"".join(parts) + b"()"


def _rarest(anchor: bytes) -> int:
    """Where in ``anchor`` its rarest byte is, by the frequency of bytes in prose and dumps
    (0 if the anchor overlaps itself: searched from further in, the regex would skip an
    occurrence that overlaps one it passed over). The regex engine looks for the first
    byte of a literal one byte at a time, then compares the rest: the rarer that byte,
    the fewer comparisons (``old.example`` is looked for as ``xample`` after ``old.e``)."""
    if any(anchor[:k] == anchor[-k:] for k in range(1, len(anchor))):
        return 0
    rank = {b: i for i, b in enumerate(COMMON_BYTES)}
    return max(range(len(anchor)), key=lambda i: rank.get(anchor[i], len(rank)))


def _escaped_at(buf: bytes, i: int) -> bool:
    """True if ``buf[i]`` is escaped: preceded by an odd run of backslashes."""
    j = i - 1
    while j >= 0 and buf[j] == BACKSLASH:
        j -= 1
    return (i - 1 - j) % 2 == 1


def _form_at(buf: bytes, a: int, forms: list[Form], floor: int, end: int) -> Form | None:
    """The longest form with its anchor at ``a`` that starts at or after ``floor``, ends by
    ``end`` and respects the boundaries: the exact rule, for what the regex cannot settle."""
    for form in forms:
        s = a - form.offset
        e = s + len(form.old)
        if s < floor or e > end or not buf.startswith(form.old, s):
            continue
        if form.check_after and e < len(buf) and (buf[e] in LABEL_CHARS or (
                buf[e] == 0x2E and e + 1 < len(buf) and buf[e + 1] in LABEL_CHARS)):
            continue
        if form.check_before and s > 0 and buf[s - 1] in HOST_CHARS and not (
                buf[s - 1] in ESCAPE_LETTERS and _escaped_at(buf, s - 1)):
            continue
        return form
    return None


def _walk(buf: bytes, i: int, n: int, limit: int, quote: bytes) -> int:
    """Position after ``n`` unescaped bytes from ``i``, one escape at a time; -1 if the SQL
    literal (written in ``quote``) ends first or ``limit`` is reached."""
    q_byte = quote[0]
    while n > 0:
        j = i + n
        if j > limit:
            return -1
        b = buf.find(b"\\", i, j)
        q = buf.find(quote, i, j)
        if b < 0 and q < 0:
            return j
        k = b if q < 0 or 0 <= b < q else q
        n -= k - i
        if k + 1 >= limit or (buf[k] == q_byte and buf[k + 1] != q_byte):
            return -1
        n -= 2 if buf[k] == BACKSLASH and buf[k + 1] in b"%_" else 1
        i = k + 2
    return i if n == 0 else -1


def _advance(buf: bytes, i: int, n: int, limit: int, quote: bytes) -> int:
    """:func:`_walk`, counting the escapes of a whole window at once: nested serialized data
    is full of ``\\"``, and taking them one by one would dominate the run time."""
    while n > 0:
        j = i + n
        if j > limit:
            return -1
        slashes = buf.count(b"\\", i, j)
        quotes = buf.count(quote, i, j)
        if not slashes:
            return j if not quotes else _walk(buf, i, n, limit, quote)
        if ((quotes and (quotes != buf.count(b"\\" + quote, i, j)
                         or buf.find(b"\\\\" + quote, i, j) >= 0))
                or buf.find(b"\\%", i, j) >= 0 or buf.find(b"\\_", i, j) >= 0):
            return _walk(buf, i, n, limit, quote)
        escapes = slashes - buf.count(b"\\\\", i, j)  # a run of r backslashes: ceil(r/2)
        k = j - 1
        while k >= i and buf[k] == BACKSLASH:
            k -= 1
        if (j - 1 - k) % 2:  # the window ends inside an escape: take its second byte too
            if j >= limit or buf[j] in b"%_":
                return _walk(buf, i, n, limit, quote)
            i, n = j + 1, escapes - 1
        else:
            i, n = j, escapes
    return i


class Field(NamedTuple):
    """A length-prefixed part of a serialized token: where its length's digits are and
    where the bytes it counts are, and what those bytes may hold."""

    digits_start: int
    digits_end: int
    start: int
    end: int
    kind: int  # TEXT, STRING or PAYLOAD


TEXT, STRING, PAYLOAD, ESCAPED = range(4)  # plain text; text or serialized; serialized; S:
FIELD_KIND = {0x73: STRING, 0x53: ESCAPED, 0x45: TEXT, 0x4F: TEXT, 0x43: TEXT}  # s S E O C
STRING_CLOSE = (b'\\";', b'";')  # a string's (and an enum case's) closing bytes
NAME_CLOSE = (b'\\":', b'":')  # a class name's


def _content_end(buf: bytes, c: int, digits: bytes, limit: int, quote: bytes) -> int:
    """Where ``digits`` unescaped bytes from ``c`` end, or -1 (see :func:`_walk`)."""
    if len(digits) > 10:
        return -1
    j = c + int(digits)
    if j <= limit and buf.find(b"\\", c, j) < 0 and buf.find(quote, c, j) < 0:
        return j  # nothing escaped inside: the common case
    return _advance(buf, c, j - c, limit, quote)


def _closed(buf: bytes, ce: int, closers: tuple[bytes, bytes], limit: int) -> int:
    """The end of whichever of ``closers`` is at ``ce`` and inside ``limit``, else -1."""
    for close in closers:
        if buf.startswith(close, ce) and ce + len(close) <= limit:
            return ce + len(close)
    return -1


def _parse(buf: bytes, m: re.Match[bytes], limit: int, quote: bytes,
           ) -> tuple[tuple[Field, ...], int] | None:
    """(fields, end) of the serialized token whose header is ``m`` — its length-prefixed
    parts and where it ends — or None if a declared length does not lead to the token's
    closing bytes before ``limit``. ``O:`` tokens end after their class name: the property
    list that follows is ordinary serialized data."""
    kind = m.group(1)[0]
    c = m.end()
    ce = _content_end(buf, c, m.group(2), limit, quote)
    if ce < 0:
        return None
    te = _closed(buf, ce, NAME_CLOSE if kind in b"OC" else STRING_CLOSE, limit)
    if te < 0:
        return None
    if kind == 0x53 and (buf.find(b"\\\\", c, ce) >= 0 or buf.find(b"\\%", c, ce) >= 0
                         or buf.find(b"\\_", c, ce) >= 0):
        return None  # S: escapes (\xx), under mysqldump's: not counted, so not trusted
    name = Field(m.start(2), m.end(2), c, ce, FIELD_KIND[kind])
    if kind != 0x43:
        return (name,), te
    p = PAYLOAD_HEADER.match(buf, te - 1, limit)  # te - 1: the name's closing ':'
    if p is None:
        return None
    pe = _content_end(buf, p.end(), p.group(1), limit, quote)
    if pe < 0 or pe >= limit or buf[pe] != 0x7D:
        return None
    return (name, Field(p.start(1), p.end(1), p.end(), pe, PAYLOAD)), pe + 1


def _opening_quote(buf: bytes, lo: int, s: int, quote: bytes) -> int:
    """The last unescaped ``quote`` in ``[lo, s)`` — the quote opening the literal ``s`` is
    in, if that started after ``lo`` — or -1. Steps back over ``\\'`` (prose is full of
    them) and ``''`` (or ``\\"`` and ``""``)."""
    q_byte = quote[0]
    q = buf.rfind(quote, lo, s)
    while q > 0:
        before = buf[q - 1]
        if before == BACKSLASH and (buf[q - 2] != BACKSLASH or _escaped_at(buf, q)):
            q = buf.rfind(quote, lo, q)
        elif before == q_byte and q > lo and not _escaped_at(buf, q - 1):
            q = buf.rfind(quote, lo, q - 1)
        else:
            break
    return q


def _literal_end(buf: bytes, i: int, end: int, quote: bytes) -> int:
    """Position of the ``quote`` closing the SQL literal whose content starts at ``i``
    (escaped and doubled quotes stay inside); -1 if it does not close before ``end``."""
    q_byte = quote[0]
    q = buf.find(quote, i, end)
    while q >= 0:
        if buf[q - 1] == BACKSLASH and _escaped_at(buf, q):
            q = buf.find(quote, q + 1, end)
        elif q + 1 < end and buf[q + 1] == q_byte:
            q = buf.find(quote, q + 2, end)
        else:
            return q
    return -1


def _value_at(buf: bytes, colon: int, lo: int, quotes: bytes) -> int:
    """The quote (one of ``quotes``, at or after ``lo``) that SERIALIZED follows up to the
    ``:`` at ``colon`` (a SERIAL_COLON match), or -1. A '"' after a backslash never opens a
    literal: nested values (``s:9:\\"a:1:…``) are not taken for one; a ``'`` is taken
    wherever it is (:func:`_opening_quote` looks at escapes)."""
    j = colon - 1  # the letter
    while j > lo and buf[j - 1] in LEADING:
        j -= 1
    q = j - 1
    if q < lo or buf[q] not in quotes or (buf[q] == 0x22 and q and buf[q - 1] == BACKSLASH):
        return -1
    return q if SERIALIZED.match(buf, j, colon + 2) else -1


def _value_start(buf: bytes, pos: int, end: int) -> int:
    """The first quote of either kind in ``[pos, end)`` that may open a serialized value;
    ``end`` if none."""
    for h in SERIAL_COLON.finditer(buf, pos, end):
        q = _value_at(buf, h.start(), pos, QUOTES)
        if q >= 0:
            return q
    return end


def _other_value_start(buf: bytes, lo: int, s: int, quote: bytes) -> bool:
    """Whether an unescaped ``quote`` in ``[lo, s)`` opens a serialized-looking value: the
    literal ``s`` is in may then be one, in the quote its line does not use."""
    for h in SERIAL_COLON.finditer(buf, lo, s):
        q = _value_at(buf, h.start(), lo, quote)
        if q >= 0 and not _escaped_at(buf, q):
            return True
    return False


def _line_quote(buf: bytes, line_start: int, line_end: int) -> bytes:
    """The quote the line's string literals are written in: the first one after the
    ``VALUES`` of an INSERT (or at the start of a row continued on its own line). mysqldump
    writes ``'``, mydumper ``"``; identifiers before ``VALUES`` may be ``"``-quoted (ANSI).
    Any other line (DDL, comments): ``'``."""
    m = ROWS_START.match(buf, line_start, line_end)
    if m is None:
        return SINGLE
    single = buf.find(SINGLE, m.end(), line_end)
    double = buf.find(DOUBLE, m.end(), line_end)
    return DOUBLE if double >= 0 and (single < 0 or double < single) else SINGLE


class Replacer:
    """Rewrites a dump (see the module rules); counts what it replaced and skipped."""

    def __init__(self, pairs: list[tuple[bytes, bytes]]) -> None:
        groups = build_forms(pairs)
        self.anchors = list(groups)
        # One anchor (one pair, or pairs sharing it) is searched from its rarest byte on:
        # the regex engine steps from one occurrence of its first byte to the next.
        self.shift = _rarest(self.anchors[0]) if len(groups) == 1 else 0
        self.forms = [Form(b"", b"", 0, 0, False, False)]  # group n matched: forms[n]
        self.siblings: list[list[Form]] = [[]]  # the forms sharing forms[n]'s anchor
        patterns = []
        for anchor, forms in groups.items():
            lead = re.escape(anchor[self.shift:])
            if self.shift:
                lead += b"(?<=" + re.escape(anchor) + b")"
            patterns.append(lead + b"(?:" + b"|".join(
                _alternative(f, anchor) for f in forms) + b")")
            self.forms += forms
            self.siblings += [forms] * len(forms)
        self.pattern = re.compile(b"|".join(patterns))
        # For the loop's common case, per group: match start minus form start (a huge one
        # when the form needs the exact check before it, so that it never looks common),
        # the replacement, and the length it replaces.
        self.quick = [(f.offset + self.shift if not f.check_before else sys.maxsize,
                       f.new, len(f.old)) for f in self.forms]
        self.replaced = 0
        self.skipped = 0

    def _resolve(self, buf: bytes, a: int, group: int, floor: int, end: int,
                 ) -> tuple[Form, int] | None:
        """(form, start) of the match of ``group`` with its anchor at ``a``; None if it does
        not count. The regex settles it, except when its pick overlaps the previous match
        or has an escape letter before it (both rare): then :func:`_form_at` applies the
        rules exactly."""
        form = self.forms[group]
        s = a - form.offset
        if s < floor or (form.check_before and s > 0 and buf[s - 1] in ESCAPE_LETTERS
                         and not _escaped_at(buf, s - 1)):
            exact = _form_at(buf, a, self.siblings[group], floor, end)
            if exact is None:
                return None
            form, s = exact, a - exact.offset
        return form, s

    def rewrite(self, data: bytes, end: int | None = None) -> bytes:
        """``data[:end]`` rewritten; ``end`` must fall after a newline (or the very end)."""
        return b"".join(self._rewrite(data, 0, len(data) if end is None else end))

    def _rewrite(self, buf: bytes, start: int, end: int) -> list[bytes | memoryview]:
        """The pieces of ``buf[start:end]`` rewritten: whole lines (``start`` is 0 or after a
        newline).

        A match is plain text unless its SQL literal is a serialized value, which is then
        rewritten as a whole by :meth:`_region`. ``hint`` is the first quote at or after
        ``pos`` that may open a serialized value (``end`` if none): a match before it is
        plain, and takes the loop's first branch — most do, so it is kept short (it adds
        two pieces, which is how they are counted). Past the hint, a reverse search finds
        the quote opening the match's literal; one not followed by a serialized prefix
        either closes a literal or opens a plain one.
        """
        if all(buf.find(anchor, start, end) < 0 for anchor in self.anchors):
            return [memoryview(buf)[start:end]]
        out: list[bytes | memoryview] = []
        append = out.append
        view = memoryview(buf)
        quick, forms, shift = self.quick, self.forms, self.shift
        pos = start  # copied up to pos; no match, no unseen quote before it
        hint = start - 1  # below pos: look for it again
        line_start = line_end = -1  # the line of the last match past the hint
        quote = other_quote = SINGLE  # its literals' quote, and the other one
        other = replaced = 0  # pieces added, and replacements made, by the second branch
        for m in self.pattern.finditer(buf, start, end):
            back, new, length = quick[m.lastindex]
            s = m.start() - back
            if pos <= s <= hint:
                append(buf[pos:s] if s - pos < 4096 else view[pos:s])
                append(new)
                pos = s + length
                continue
            a = m.start() - shift
            if a < pos:
                continue
            group = m.lastindex or 0
            form = forms[group]
            s = a - form.offset
            if s < pos or form.check_before:  # the regex's pick may not stand
                resolved = self._resolve(buf, a, group, pos, end)
                if resolved is None:
                    continue
                form, s = resolved
            pieces = len(out)
            if hint < pos:
                hint = _value_start(buf, pos, end)
            if hint < s:
                if s > line_end:
                    line_start = buf.rfind(b"\n", start, s) + 1 or start
                    line_end = buf.find(b"\n", s, end)
                    line_end = end if line_end < 0 else line_end
                    quote = _line_quote(buf, line_start, line_end)
                    other_quote = DOUBLE if quote == SINGLE else SINGLE
                lo = max(pos, line_start)
                q = _opening_quote(buf, lo, s, quote)
                if q >= 0 and buf[q + 1] in SERIAL_FIRST and SERIALIZED.match(buf, q + 1):
                    close = _literal_end(buf, q + 1, line_end, quote)
                    if close < 0:  # unterminated: the value runs to the end of its line
                        close = line_end
                    if close > s:
                        append(buf[pos:q + 1])
                        self._region(buf, q + 1, close, out, 0, quote)
                        pos = close
                elif _other_value_start(buf, max(lo, q + 1), s, other_quote):
                    self.skipped += 1  # a line mixing quotes: not rewritten blind
                    continue
            if pos <= s:
                append(buf[pos:s])
                append(form.new)
                replaced += 1
                pos = s + len(form.old)
            other += len(out) - pieces
            if hint < pos:  # now, so that the next match may take the first branch
                hint = _value_start(buf, pos, end)
        self.replaced += replaced + (len(out) - other) // 2
        append(view[pos:end])
        return out

    def _plain(self, buf: bytes, start: int, end: int, out: list[bytes | memoryview],
               escaped: bool = False) -> int:
        """Rewrite the text ``buf[start:end]`` into ``out`` with no questions asked (it
        claims no length); return the change in its unescaped length. ``escaped``: the text
        is an ``S:`` string's, where a backslash starts a ``\\xx`` escape, so a replacement
        that would bring one in is skipped."""
        pos, delta = start, 0
        for m in self.pattern.finditer(buf, start, end):
            a = m.start() - self.shift
            resolved = self._resolve(buf, a, m.lastindex or 0, pos, end) if a >= pos else None
            if resolved is None:
                continue
            form, s = resolved
            if escaped and b"\\\\" in form.new:
                self.skipped += 1
                continue
            out.append(buf[pos:s])
            out.append(form.new)
            delta += form.raw_delta
            self.replaced += 1
            pos = s + len(form.old)
        out.append(buf[pos:end])
        return delta

    def _region(self, buf: bytes, start: int, end: int, out: list[bytes | memoryview],
                depth: int, quote: bytes) -> int:
        """Rewrite the serialized text ``buf[start:end]`` (a value, or a string's content,
        inside an SQL literal written in ``quote``) into ``out``; return the change in its
        unescaped length.

        ``hscan`` is where unexamined text begins: every header before it has been dealt
        with. Headers start with one of ``sSOCE``, ``:`` and a digit, so a match with no
        such hint between ``hscan`` and itself needs no parsing. Otherwise the headers in
        between are parsed: complete tokens that end before the match are stepped over (runs
        of simple ones in one regex match), one that encloses it is rewritten — each of its
        length-prefixed parts, recursively where they hold serialized data — and one that
        does not parse makes the rest of the region suspect: left as it is.
        """
        delta = 0
        pos = floor = hscan = start  # copied up to pos; matches start from floor
        hint = -2  # start of the first possible header at or after hscan; -1: none
        no_run_before = start  # a simple run failed its length check up to here
        suspect = False
        for m in self.pattern.finditer(buf, start, end):
            a = m.start() - self.shift
            resolved = (self._resolve(buf, a, m.lastindex or 0, floor, end) if a >= floor
                        else None)
            if resolved is None:
                continue
            form, s = resolved
            e = s + len(form.old)
            if -1 != hint < hscan:
                h = HINT.search(buf, hscan + 1, end)
                hint = h.start() - 1 if h else -1
            enclosing = None
            while not suspect and -1 < hint < s:
                h = HEADER.search(buf, hscan, s)
                if h is None:
                    break
                run = SIMPLE_RUN.match(buf, h.start(), s) if h.start() >= no_run_before else None
                if run:
                    if all(int(n) == len(c) for n, c in SIMPLE_STRING.findall(
                            buf, h.start(), run.end())):
                        hscan = run.end()
                        continue
                    no_run_before = run.end()  # parse these one by one, and only once
                span = _parse(buf, h, end, quote) if depth < MAX_DEPTH else None
                if span is None:
                    suspect = True
                elif span[1] <= s:
                    hscan = span[1]
                    continue
                else:
                    enclosing = span
                break
            if suspect:
                self.skipped += 1
                floor = e  # pos stays: the match is copied as it is
            elif enclosing is not None:
                fields, te = enclosing
                for field in fields:
                    inner: list[bytes | memoryview] = []
                    c, ce = field.start, field.end
                    if field.kind == PAYLOAD or (field.kind == STRING
                                                 and SERIALIZED.match(buf, c, ce)):
                        d = self._region(buf, c, ce, inner, depth + 1, quote)
                    else:  # text, like the vast majority of strings, and class names
                        d = self._plain(buf, c, ce, inner, field.kind == ESCAPED)
                    ds, de = field.digits_start, field.digits_end
                    length = str(int(buf[ds:de]) + d).encode()
                    out += [buf[pos:ds], length, buf[de:c], *inner]
                    delta += d + len(length) - (de - ds)
                    pos = ce
                out.append(buf[pos:te])
                pos = floor = hscan = te
            else:
                out.append(buf[pos:s])
                out.append(form.new)
                delta += form.raw_delta
                self.replaced += 1
                pos = floor = hscan = e
        out.append(buf[pos:end])
        return delta

    def stream(self, src: BinaryIO, dst: BinaryIO, block: int = BLOCK) -> None:
        """Rewrite ``src`` into ``dst``, a block of whole lines at a time. The lines inside a
        block are rewritten where they lie (and written through if they hold no OLD host);
        only a line cut by the block's end is copied, joined with its end in the next."""
        head: list[bytes | memoryview] = []  # the start of a line that has not ended yet
        while True:
            chunk = src.read(block)
            if not chunk:
                break
            start = 0
            if head:
                start = chunk.find(b"\n") + 1
                if not start:
                    head.append(chunk)
                    continue
                head.append(memoryview(chunk)[:start])
                line = b"".join(head)
                head = []
                self._emit(dst, line, 0, len(line))
            cut = chunk.rfind(b"\n", start) + 1
            if cut > start:
                self._emit(dst, chunk, start, cut)
            else:
                cut = start
            if cut < len(chunk):
                head.append(memoryview(chunk)[cut:])
        if head:
            line = b"".join(head)
            self._emit(dst, line, 0, len(line))
        dst.flush()

    def _emit(self, dst: BinaryIO, buf: bytes, start: int, end: int) -> None:
        """Write ``buf[start:end]`` rewritten."""
        pieces = self._rewrite(buf, start, end)
        _write(dst, pieces[0] if len(pieces) == 1 else b"".join(pieces))


def _write(dst: BinaryIO, data: bytes | memoryview) -> None:
    """``dst.write`` to the end: an unbuffered file (``PYTHONUNBUFFERED`` makes stdout one)
    may take only part of the data into a full pipe and say so."""
    done = dst.write(data)
    while done is not None and done < len(data):
        data = data[done:]
        done = dst.write(data)


# Several processes -------------------------------------------------------------------
#
# The rewrite of a block of whole lines needs nothing from any other block, so ``jobs``
# processes take turns: each in turn reads a block straight from the input, hands the cut-off
# start of its last line and the turn to read on to the next, rewrites its block while the
# others read and rewrite theirs, and writes it when the turn to write reaches it. Both turns
# go round the same ring, so blocks come out in the order they came in. Nothing but the
# cut-off line starts (through shared memory) and one-byte turns (through pipes) passes
# between processes: each block is read and written where it is rewritten.

TURN = struct.Struct("<qB")  # the turn to read: bytes carried over, input ended
COUNTS = struct.Struct("<qq")  # what a worker replaced and skipped, sent when it is done


class WorkerFailed(Exception):
    """A worker process died or failed (its traceback, if any, is on stderr)."""


class _TurnLost(Exception):
    """A neighbour in the ring is gone: the turn will never come."""


class _Ring(NamedTuple):
    """One process's place in the ring."""

    read_in: int        # the turn to read arrives here (with the carried length)
    read_out: int       # and is handed on here
    write_in: int       # the turn to write arrives here
    write_out: int
    carry_in: mmap.mmap  # where the previous reader left its cut-off line start
    carry_out: mmap.mmap  # where this one leaves its own, for the next


def default_jobs() -> int:
    """Processes to use: two where fork exists and two cores may run them, else one. More
    would mostly take cores from ``mysqldump`` and ``mariadb`` in the clone pipeline, where
    the import, not the rewrite, sets the pace."""
    if not hasattr(os, "fork"):
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(DEFAULT_JOBS, cpus))


def _receive(fd: int, size: int) -> bytes:
    """Exactly ``size`` bytes from the pipe ``fd``; :class:`_TurnLost` if it closes first."""
    data = b""
    while len(data) < size:
        got = os.read(fd, size - len(data))
        if not got:
            raise _TurnLost
        data += got
    return data


def _hand_on(fd: int, token: bytes) -> None:
    """Pass a turn on; a neighbour that has finished no longer listens, which is fine."""
    with contextlib.suppress(BrokenPipeError):
        os.write(fd, token)


def _read_block(src: int, data: bytearray, carried: memoryview, block: int,
                ) -> tuple[bytearray, int, int, bool]:
    """(data, cut, filled, ended): ``carried`` and then at least ``block`` bytes read from
    ``src`` into ``data``, more until a newline came; ``data[:cut]`` are whole lines (all of
    it once the input ended), ``data[cut:filled]`` the start of the next line (shorter than
    ``block``: it follows the last newline of the last read)."""
    filled = search = len(carried)
    data[:filled] = carried
    want = filled + block
    while True:
        if len(data) < want:
            data.extend(bytes(want - len(data)))
        with memoryview(data) as view:
            got = os.readv(src, [view[filled:want]])
        if not got:
            return data, filled, filled, True
        filled += got
        if filled == want:
            cut = data.rfind(b"\n", search, filled) + 1
            if cut:
                return data, cut, filled, False
            search, want = filled, filled + block


def _take_turns(replacer: Replacer, ring: _Ring, src: int, dst: int, block: int) -> None:
    """One process's part: read, hand on, rewrite, write in turn, until the input ends."""
    data = bytearray(2 * block)
    with open(dst, "wb", buffering=0, closefd=False) as output:  # unbuffered: no copy
        while True:
            carried, ended = TURN.unpack(_receive(ring.read_in, TURN.size))
            if ended:
                _hand_on(ring.read_out, TURN.pack(0, 1))
                return
            with memoryview(ring.carry_in) as carry:
                data, cut, filled, ended = _read_block(src, data, carry[:carried], block)
            with memoryview(data) as view:
                ring.carry_out[:filled - cut] = view[cut:filled]
            _hand_on(ring.read_out, TURN.pack(filled - cut, ended))
            pieces = replacer._rewrite(data, 0, cut)
            out = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            del pieces  # views of ``data``: it may grow next turn
            _receive(ring.write_in, 1)
            _write(output, out)
            del out
            _hand_on(ring.write_out, b"w")
            if ended:
                return


def _worker(replacer: Replacer, ring: _Ring, src: int, dst: int, block: int,
            report: int) -> None:
    """A forked worker: takes its turns, reports its counts, exits 0; 1 if the output
    closed, 4 if a neighbour vanished, 3 on anything else (traceback on stderr)."""
    code = 3
    try:
        _take_turns(replacer, ring, src, dst, block)
        os.write(report, COUNTS.pack(replacer.replaced, replacer.skipped))
        code = 0
    except BrokenPipeError:
        code = 1
    except _TurnLost:
        code = 4
    except BaseException:  # whatever it is, the parent must hear of it
        import traceback
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def _reap(pids: list[int], stop: bool, one_ending: bool = False,
          ) -> list[tuple[int | None, int]]:
    """(wait status, peak RSS in KiB) of each worker once it is gone. With ``stop``, those
    still running are killed, and their status is None: only the ones that ended by
    themselves say what went wrong. ``one_ending``: a turn was lost, so a worker is exiting;
    it is waited for first, so that it is not taken for one this process killed."""
    ended: dict[int, tuple[int | None, int]] = {}
    if one_ending:
        pid, status, usage = os.wait4(-1, 0)
        ended[pid] = (status, usage.ru_maxrss)
    if stop:
        import signal
        for pid in pids:
            if pid not in ended:
                got, status, usage = os.wait4(pid, os.WNOHANG)
                if got:
                    ended[pid] = (status, usage.ru_maxrss)
                else:
                    os.kill(pid, signal.SIGKILL)
    for pid in pids:
        if pid not in ended:
            _, status, usage = os.wait4(pid, 0)
            ended[pid] = (None if stop else status, usage.ru_maxrss)
    return [ended[pid] for pid in pids]


def _verdict(reaped: list[tuple[int | None, int]]) -> Exception | None:
    """What the workers' exits say went wrong, if anything: the output closing
    (:class:`BrokenPipeError`) or a worker failing (:class:`WorkerFailed`). Exit 4 only says
    that a neighbour stopped, which another status explains."""
    codes = [os.WEXITSTATUS(s) if os.WIFEXITED(s) else -os.WTERMSIG(s)
             for s, _ in reaped if s is not None]
    if 1 in codes:
        return BrokenPipeError("output closed early")
    failed = [c for c in codes if c not in (0, 1, 4)]
    if failed:
        how = ", ".join(f"signal {-c}" if c < 0 else f"exit {c}" for c in failed)
        return WorkerFailed(f"{len(failed)} worker process(es) failed ({how})")
    return None


def stream_parallel(replacer: Replacer, jobs: int, src: int = 0, dst: int = 1,
                    block: int = PARALLEL_BLOCK) -> list[int]:
    """Rewrite the file descriptor ``src`` into ``dst`` with ``jobs`` processes (this one
    and ``jobs - 1`` forked ones; see the comment above), adding the workers' counts to
    ``replacer``'s. Returns each process's peak RSS in KiB. Raises
    :class:`BrokenPipeError` if the output closed early and :class:`WorkerFailed` if a
    worker died; either way every worker is gone when it returns or raises. Meant for a
    process with no other children (the command line): when a turn is lost it waits for
    whichever child ends first."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    carries = [mmap.mmap(-1, block) for _ in range(jobs)]
    reads, writes = [os.pipe() for _ in range(jobs)], [os.pipe() for _ in range(jobs)]
    report_in, report_out = os.pipe()
    os.write(reads[0][1], TURN.pack(0, 0))  # this process reads and writes first
    os.write(writes[0][1], b"w")
    rings = [_Ring(reads[w][0], reads[(w + 1) % jobs][1], writes[w][0],
                   writes[(w + 1) % jobs][1], carries[w], carries[(w + 1) % jobs])
             for w in range(jobs)]
    ends = [fd for pair in reads + writes for fd in pair]
    pids: list[int] = []
    try:
        for w in range(1, jobs):
            pid = os.fork()
            if pid == 0:
                mine = set(rings[w][:4])
                for fd in ends:
                    if fd not in mine:
                        os.close(fd)
                os.close(report_in)
                _worker(replacer, rings[w], src, dst, block, report_out)
            pids.append(pid)
    except BaseException:
        _reap(pids, stop=True)
        raise
    for fd in [*(fd for fd in ends if fd not in rings[0][:4]), report_out]:
        os.close(fd)
    try:
        _take_turns(replacer, rings[0], src, dst, block)
    except _TurnLost:
        raise _verdict(_reap(pids, stop=True, one_ending=True)) or WorkerFailed(
            "a worker process stopped without saying why") from None
    except BaseException:  # the output closed, an interrupt, a bug: no worker outlives it
        _reap(pids, stop=True)
        raise
    finally:
        for fd in rings[0][:4]:
            os.close(fd)
    with open(report_in, "rb") as report:  # to its end: every worker has exited
        reports = report.read()
    reaped = _reap(pids, stop=False)
    problem = _verdict(reaped)
    if problem is not None:
        raise problem
    for i in range(0, len(reports), COUNTS.size):
        replaced, skipped = COUNTS.unpack_from(reports, i)
        replacer.replaced += replaced
        replacer.skipped += skipped
    return [_own_peak_kib(), *(peak for _, peak in reaped)]


def _own_peak_kib() -> int:
    """This process's peak RSS in KiB: Linux's ``VmHWM``, which starts afresh at exec (the
    ``ru_maxrss`` of ``getrusage`` keeps the peak of whatever process exec'd this one);
    elsewhere ``ru_maxrss``, or 0 without the ``resource`` module."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        import resource
    except ImportError:
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Options(NamedTuple):
    """The command line, parsed."""

    pairs: list[tuple[bytes, bytes]]
    stats: bool  # report replacements and peak memory on stderr
    jobs: int  # processes


def parse_args(argv: list[str]) -> Options:
    """The options from the command line; ValueError with a message when wrong."""
    stats, jobs = False, default_jobs()
    while argv and argv[0] in ("--stats", "--jobs"):
        if argv[0] == "--stats":
            stats, argv = True, argv[1:]
            continue
        if len(argv) < 2 or not argv[1].isdigit() or not 1 <= int(argv[1]) <= 64:
            raise ValueError("--jobs takes a number of processes from 1 to 64")
        jobs, argv = int(argv[1]), argv[2:]
    args = [os.fsencode(a) for a in argv]
    if not args or len(args) % 2:
        raise ValueError("expected OLD NEW pairs")
    pairs = [(args[i], args[i + 1]) for i in range(0, len(args), 2)]
    if any(not old for old, _ in pairs):
        raise ValueError("OLD must not be empty")
    build_forms(pairs)
    return Options(pairs, stats, jobs)


# -- the same rewrite inside MariaDB, for values that are not serialized ------------------

URL_ONLY = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([A-Za-z0-9.-]+(?::[0-9]+)?)")
# A value the replacer may read as serialized: broader than SERIALIZED (any leading
# whitespace or control byte, any digit or none after the colon), so that what it leaves
# out is certainly plain text. For MariaDB's REGEXP (PCRE), case-sensitive whatever the
# column's collation.
SQL_MAYBE_SERIALIZED = "(?-i)^[[:space:][:cntrl:]]*[asOCE]:"


def sql_rewrites(pairs: list[tuple[str, str]]) -> list[tuple[str, str]] | None:
    """``(pattern, replacement)`` steps for MariaDB's ``REGEXP_REPLACE`` that, applied one
    after the other to a stored value that is not serialized (does not match
    ``SQL_MAYBE_SERIALIZED``), give exactly what this replacer writes for it; None where
    that is not promised, and the replacer must do the rows.

    Promised for pairs of ``scheme://host[:port]`` URLs with distinct old hosts, where no
    old host is inside another pair's old host or inside any new URL. On plain text the
    forms of such a pair are ``scheme://host``, ``//host`` and their JSON-escaped
    spellings, none checked before, all ending with the host boundary: so each match of
    ``//host`` or ``\\/\\/host`` gets the new host, and where the old scheme leads it,
    the new scheme (the full form is the longest match there). Steps apply in turn, not
    in one pass as the replacer does; the conditions above are what keep a later step from
    matching what an earlier one wrote, or a boundary from seeing different bytes: a new
    URL starts with the same kind of byte as the old one (a letter, ``/`` or ``\\``)."""
    parsed = [(URL_ONLY.fullmatch(old), URL_ONLY.fullmatch(new)) for old, new in pairs]
    if not parsed or any(o is None or n is None for o, n in parsed):
        return None
    hosts = [o.group(2) for o, _ in parsed if o is not None]
    for i, host in enumerate(hosts):
        if any(host in other for j, other in enumerate(hosts) if j != i) or \
                any(host in new for _, new in pairs):
            return None
    steps: list[tuple[str, str]] = []
    boundary = NOT_AFTER.decode()
    for old, new in parsed:
        assert old is not None and new is not None
        host = re.escape(old.group(2)) + boundary
        if old.group(1) != new.group(1):
            steps.append((f"(?-i){re.escape(old.group(1))}(?=:(?://|\\\\/\\\\/){host})",
                          new.group(1)))
        steps.append((f"(?-i)(?<=//|\\\\/\\\\/){host}", new.group(2)))
    return steps


def _run(replacer: Replacer, jobs: int) -> list[int]:
    """Rewrite stdin to stdout; each process's peak RSS in KiB."""
    if jobs > 1 and hasattr(os, "fork"):
        sys.stdout.flush()  # nothing buffered may be written twice, by a forked copy too
        sys.stderr.flush()
        return stream_parallel(replacer, jobs, sys.stdin.fileno(), sys.stdout.fileno())
    # buffered whatever PYTHONUNBUFFERED says: big writes, and no partial ones to lose
    with open(sys.stdout.fileno(), "wb", buffering=WRITE_BUFFER, closefd=False) as out:
        replacer.stream(sys.stdin.buffer, out)
    return [_own_peak_kib()]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: exit 0 on success, 2 on bad arguments, 1 if the output closes,
    3 if a worker process failed."""
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    try:
        options = parse_args(argv)
    except ValueError as exc:
        print(f"{USAGE}\nsearch_replace: {exc}", file=sys.stderr)
        return 2
    replacer = Replacer(options.pairs)
    try:
        peaks = _run(replacer, options.jobs)
    except BrokenPipeError:  # what is left in a buffer goes nowhere, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("search_replace: output closed early", file=sys.stderr)
        return 1
    except WorkerFailed as exc:
        print(f"search_replace: {exc}; the output is incomplete", file=sys.stderr)
        return 3
    if replacer.skipped:
        print(f"search_replace: left {replacer.skipped} occurrence(s) inside malformed "
              "serialized data unchanged", file=sys.stderr)
    if options.stats:
        print(f"search_replace: {replacer.replaced} replacement(s)", file=sys.stderr)
        print(f"search_replace: peak RSS {sum(peaks) / 1024:.1f} MB in {len(peaks)} "
              "process(es)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
