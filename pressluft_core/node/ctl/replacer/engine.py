"""The rewrite itself: :class:`Replacer` turns a block of whole dump lines into the
rewritten block, serialized lengths fixed; one process streams with it.
"""

from __future__ import annotations

import re
import sys
from typing import BinaryIO

from .fields import (
    ESCAPED,
    PAYLOAD,
    STRING,
    _line_quote,
    _literal_end,
    _opening_quote,
    _other_value_start,
    _parse,
    _value_start,
)
from .forms import (
    BLOCK,
    DOUBLE,
    ESCAPE_LETTERS,
    HEADER,
    HINT,
    MAX_DEPTH,
    SERIAL_FIRST,
    SERIALIZED,
    SIMPLE_RUN,
    SIMPLE_STRING,
    SINGLE,
    Form,
    _alternative,
    _escaped_at,
    _form_at,
    _rarest,
    build_forms,
)


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
