"""Serialized PHP inside a SQL literal: a header's field parsed, its content's end found by
the declared length, and where a value may start.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .forms import (
    BACKSLASH,
    DOUBLE,
    LEADING,
    PAYLOAD_HEADER,
    QUOTES,
    ROWS_START,
    SERIAL_COLON,
    SERIALIZED,
    SINGLE,
    _advance,
    _escaped_at,
)


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
