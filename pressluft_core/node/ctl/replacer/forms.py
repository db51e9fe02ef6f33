"""The replacer's constants and the forms each OLD is looked for in (as given, JSON-escaped,
protocol-relative), with the scanner that steps over SQL literals to the next candidate.
"""

from __future__ import annotations

import re
from typing import NamedTuple

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
