"""sqlguard's statement splitter: the dump read the way the ``mariadb`` client splits it
(quotes, comments, ``/*! … */`` executable comments, backslash commands), each piece
handed to the verdict methods of :class:`.guard.DumpGuard`."""

from __future__ import annotations

import re
from collections.abc import Callable

from .rules import (
    BLOCK_COMMENT,
    BQ,
    BQ_BODY,
    CLIENT_COMMENT,
    CODE,
    CODE_STOP,
    DQ,
    DQ_BODY,
    EXEC_OPEN,
    HELD_MAX,
    LINE_COMMENT,
    SQ,
    SQ_BODY,
    VALUE_RUN,
)


class Scanner:
    """The chunked reading and splitting half of :class:`.guard.DumpGuard` (which adds
    the verdicts this calls: ``_code``, ``_string``, ``_end_statement`` …)."""

    def __init__(self, out: Callable[[bytes], object] | None = None,
                 note: Callable[[str], object] = lambda line: None) -> None:
        self.out, self.note = out, note
        self.buf = b""
        self.pos = 0              # scan position in buf
        self.start = 0            # where the current statement starts in buf
        self.line = 1             # line number at pos
        self.stmt_line = 0        # line of the statement's first code byte (0: none yet)
        self.state = CODE
        # Inside /*! … */ (code for the server). Strings always take backslash escapes: a
        # dump that switches them off (NO_BACKSLASH_ESCAPES) is refused, not followed.
        self.in_exec_comment = False
        self.head = bytearray()   # normalized code: strings as '' (rules, anywhere checks)
        self.text = bytearray()   # the same with string contents (SQL mode literals)
        self.streaming = False    # INSERT/REPLACE: bytes go out as they are read
        self.database: str | None = None
        self.wrote = False        # a statement that writes tables went through
        self.told: set[str] = set()
        self.tail = b""
        self.first_done = False

    # -- reading ---------------------------------------------------------------------------

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if self.start:  # what was emitted (or dropped) is gone from the buffer
            self.buf = self.buf[self.start:]
            self.pos -= self.start
            self.start = 0
        self.buf += chunk
        self._scan(final)
        if self.streaming and self.pos > self.start:
            self._emit(self.buf[self.start:self.pos])
            self.start = self.pos
        if not self.streaming and self.pos - self.start > HELD_MAX:
            self._refuse("is longer than 64 MiB (only INSERT statements may be)")

    def close(self) -> None:
        self.feed(b"", final=True)
        if self.state in (SQ, DQ, BQ):
            self._refuse("ends inside a quoted string")
        self._end_statement(len(self.buf))

    def _scan(self, final: bool) -> None:
        buf, size = self.buf, len(self.buf)
        while self.pos < size:
            state = self.state
            if state == CODE:
                if self.streaming:
                    run = VALUE_RUN.match(buf, self.pos)
                    if run is not None and run.end() > self.pos:
                        self._value_run(buf[self.pos:run.end()])
                        self._advance(run.end())
                        continue
                found = CODE_STOP.search(buf, self.pos)
                end = found.start() if found else size
                if end > self.pos:
                    self._code(buf, self.pos, end)
                    self._advance(end)
                if found is None:
                    break
                if not self._code_stop(buf, end, final):
                    break
            elif state in (SQ, DQ):
                body = (SQ_BODY if state == SQ else DQ_BODY).match(buf, self.pos)
                end = body.end()
                self._string(buf, self.pos, end)
                if end >= size or (buf[end:end + 1] == b"\\"):
                    # A trailing backslash escapes the next chunk's first byte: wait for it.
                    self._advance(min(end, size))
                    break
                quote = buf[end:end + 1]
                if end + 1 >= size and not final:
                    self._advance(end)
                    break
                if buf[end + 1:end + 2] == quote:
                    self._string(buf, end, end + 2)
                    self._advance(end + 2)
                    continue
                self._advance(end + 1)
                self._string(buf, end, end + 1)
                self.state = CODE
                self._first_word()
            elif state == BQ:
                end = BQ_BODY.match(buf, self.pos).end()
                self._norm(buf[self.pos:min(end, self.pos + 64)])
                if end >= size or (end + 1 >= size and not final):
                    self._advance(min(end, size))
                    break
                self._advance(end + 1)
                if buf[end + 1:end + 2] == b"`":
                    self._advance(end + 2)
                    continue
                self._norm(b"`")
                self.state = CODE
                self._first_word()
            elif state == LINE_COMMENT:
                end = buf.find(b"\n", self.pos)
                if end < 0:
                    self._advance(size)
                    break
                self._advance(end + 1)
                self._space()
                self.state = CODE
            else:  # a /* comment */: for the server; the client still reads \ commands in
                # version-gated ones no server runs (MariaDB's own dumps say \- there)
                end = buf.find(b"*/", self.pos)
                stop = size - 1 if end < 0 else end
                if state == CLIENT_COMMENT:
                    self._client_commands(buf, self.pos, stop)
                if end < 0:
                    self._advance(max(self.pos, size - 1))
                    break
                self._advance(end + 2)
                self._space()
                self.state = CODE

    def _advance(self, to: int) -> None:
        self.line += self.buf.count(b"\n", self.pos, to)
        self.pos = to

    def _code_stop(self, buf: bytes, at: int, final: bool) -> bool:
        """Handle the byte at ``at`` that may start something; False: wait for more data."""
        byte = buf[at:at + 1]
        nxt = buf[at + 1:at + 2]
        if not nxt and not final and byte in b"#/\\*-":
            self._advance(at)
            return False
        if byte == b";":
            self._advance(at + 1)
            self._end_statement(self.pos)
            return True
        if byte in (b"'", b'"'):
            self._begin_code()
            self._norm(b"''" if byte == b"'" else b'""', byte)
            self.state = SQ if byte == b"'" else DQ
            self._advance(at + 1)
            return True
        if byte == b"`":
            self._begin_code()
            self._norm(b"`")
            self.state = BQ
            self._advance(at + 1)
            return True
        if byte == b"#" or (byte == b"-" and nxt == b"-"):
            if byte == b"-":
                after = buf[at + 2:at + 3]
                if not after and not final:
                    self._advance(at)
                    return False
                if after and not after.isspace() and after[0] >= 32:
                    self._code(buf, at, at + 1)
                    self._advance(at + 1)
                    return True
            self.state = LINE_COMMENT
            self._advance(at + 1)
            return True
        if byte == b"/" and nxt == b"*":
            if not final and len(buf) - at < 4 and not buf[at + 2:at + 3].strip(b"M!"):
                self._advance(at)  # "/*", "/*M": an executable comment or not, unknown yet
                return False
            opener = EXEC_OPEN.match(buf, at)
            if opener is None:
                self.state = BLOCK_COMMENT
                self._advance(at + 2)
                return True
            if opener.end() == len(buf) and not final:
                self._advance(at)
                return False
            version = int(opener.group(1) or 0)
            self._advance(opener.end())
            self._space()
            if version >= 900000:  # no server runs it: a comment the client still reads
                self.state = CLIENT_COMMENT
            else:
                self.in_exec_comment = True
            return True
        if byte == b"*" and nxt == b"/" and self.in_exec_comment:
            self.in_exec_comment = False
            self._advance(at + 2)
            self._space()
            return True
        if byte == b"\\":
            self._client_commands(buf, at, at + 2)
            self._advance(at + 2)
            self._space()
            return True
        self._code(buf, at, at + 1)
        self._advance(at + 1)
        return True

    def _client_commands(self, buf: bytes, start: int, end: int) -> None:
        for found in re.finditer(rb"\\(.)", buf[start:end + 1], re.S):
            if found.group(1) != b"-":  # \- is MariaDB's "sandbox mode", which only helps
                self._refuse(f"contains the client command "
                             f"\\{found.group(1).decode(errors='replace')}, not SQL")

