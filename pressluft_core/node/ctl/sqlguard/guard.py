"""sqlguard's verdicts on each statement, and its command line."""

from __future__ import annotations

import re
import sys

from .rules import (
    ALLOWED_MODES,
    ANYWHERE,
    CLIENT_WORDS,
    DATABASE_STMT,
    DROPPED_SET,
    HEAD_MAX,
    OLD_MODE_SET,
    REFUSED,
    SQL_MODE_SET,
    UNSAFE_CHARSET,
    WORD,
    Refused,
)
from .scanner import Scanner


class DumpGuard(Scanner):
    """Feed the dump in chunks; ``out`` gets the filtered bytes, ``note`` each line the
    operator should read. Raises :class:`Refused` on the first statement it refuses."""


    # -- what the statement is made of -------------------------------------------------------

    def _begin_code(self) -> None:
        if not self.stmt_line:
            self.stmt_line = self.line

    def _norm(self, data: bytes, text: bytes | None = None) -> None:
        """Append normalized code: to the head (capped) and to the tail the anywhere
        checks read across segments."""
        if len(self.head) < HEAD_MAX:
            self.head += data[:HEAD_MAX]
        if not self.streaming and len(self.text) < HEAD_MAX:
            self.text += (data if text is None else text)[:HEAD_MAX]
        self._check_tail(data)

    def _check_tail(self, data: bytes) -> None:
        window = self.tail + data
        self.tail = window[-64:]
        if (found := ANYWHERE.search(window)) is not None:
            self._refuse(self._anywhere_reason(found))

    def _value_run(self, run: bytes) -> None:
        """The anywhere checks across a run's edges (``LOAD_FILE`` + `` ('/x')``): its
        strings count as ``''``, what lies between them cannot matter."""
        first = run.find(b"'")
        if first < 0:
            self._check_tail(run)
            return
        self._check_tail(run[:first] + b"''")
        self.tail = b"''"
        self._check_tail(run[run.rfind(b"'") + 1:])

    def _code(self, buf: bytes, start: int, end: int) -> None:
        segment = buf[start:end]
        if not segment.strip():
            self._space()
            return
        if not self.stmt_line:
            lead = len(segment) - len(segment.lstrip())
            self.stmt_line = self.line + segment.count(b"\n", 0, lead)
        self._norm(segment)
        self._first_word()

    def _string(self, buf: bytes, start: int, end: int) -> None:
        if not self.streaming and len(self.text) < HEAD_MAX:
            self.text += buf[start:min(end, start + 512)]

    def _space(self) -> None:
        if self.head and self.head[-1:] != b" ":
            self._norm(b" ")

    def _first_word(self) -> None:
        """INSERT and REPLACE are streamed as they are read (they are the data, and only
        they may be large); every other statement is held until it ends."""
        if self.first_done:
            return
        text = self.head.decode(errors="replace")
        word = WORD.match(text)
        if word is None:
            self.first_done = bool(text.strip())
            return
        if word.end() >= len(text):
            return  # the word may go on in the next chunk
        self.first_done = True
        first = word.group(1).lower()
        if first in CLIENT_WORDS:
            self._refuse(f"is the client command {first!r}, not SQL")
        if first in ("insert", "replace"):
            self.streaming = True

    def _anywhere_reason(self, found: re.Match[bytes]) -> str:
        text = found.group(0).decode(errors="replace")
        if re.match(r"INTO", text, re.I) and re.search(r"OUTFILE|DUMPFILE", text, re.I):
            return "writes a file on the server (INTO OUTFILE/DUMPFILE)"
        if "LOAD_FILE" in text.upper():
            return "reads a file on the server (LOAD_FILE)"
        if "DIRECTORY" in text.upper() or "CONNECT" in text.upper():
            return "places table files outside the database (DATA/INDEX DIRECTORY, CONNECT)"
        return f"names a table in another database ({' '.join(text.split())})"

    # -- one statement ends -----------------------------------------------------------------

    def _end_statement(self, end: int) -> None:
        head = self.head.decode(errors="replace").strip()
        if self.streaming:
            self.wrote = True
            self._emit(self.buf[self.start:end])
        elif head:
            keep = self._judge(head, self.text.decode(errors="replace").strip())
            if keep:
                self._emit(self.buf[self.start:end])
        elif end > self.start:
            self._emit(self.buf[self.start:end])  # comments and blank lines
        self.start = end
        self.head.clear()
        self.text.clear()
        self.tail = b""
        self.streaming = False
        self.first_done = False
        self.in_exec_comment = False
        self.stmt_line = 0

    def _judge(self, head: str, text: str) -> bool:
        """Keep (True), drop (False) or refuse one held statement."""
        first = head.split(None, 1)[0].lower()
        if first in CLIENT_WORDS:
            self._refuse(f"is the client command {first!r}, not SQL")
        if first == "set" and DROPPED_SET.match(head):
            self._tell("replication", "MySQL replication lines (SQL_LOG_BIN, GTID_PURGED) "
                       f"are dropped (line {self.stmt_line})")
            return False
        for pattern, why in REFUSED:
            if pattern.match(head):
                self._refuse(why)
        if (found := DATABASE_STMT.match(head)) is not None:
            name = found.group(1).strip("`").replace("``", "`")
            if self.database is None and self.wrote:
                self._refuse(f"switches to the database {name!r} after the dump wrote tables "
                             "(a dump names its database before its tables)")
            if self.database is None:
                self.database = name
            elif name != self.database:
                self._refuse(f"switches to a second database ({self.database!r}, then "
                             f"{name!r}): export only the WordPress database")
            self._tell("database", f"the dump's CREATE DATABASE/USE lines for {name!r} are "
                       "dropped: it is imported into this environment's own database "
                       f"(first at line {self.stmt_line}: {self._show(head)})")
            return False
        if first not in ("set", "start", "begin", "commit", "rollback", "select"):
            self.wrote = True
        if first == "set":
            if (found := UNSAFE_CHARSET.search(text)) is not None:
                self._refuse(f"switches to the character set {found.group(0)}, in which a "
                             "backslash can hide inside a character")
            self._check_sql_mode(text)
        return True

    def _check_sql_mode(self, text: str) -> None:
        for found in OLD_MODE_SET.finditer(text):
            if found.group(1).rstrip(",").upper() != "@@SQL_MODE":
                self._refuse("sets @OLD_SQL_MODE to something other than @@SQL_MODE")
        for found in SQL_MODE_SET.finditer(text):
            value = found.group(2).rstrip(",")
            if value.upper() in ("@@SQL_MODE", "@OLD_SQL_MODE"):
                continue
            if not value.startswith(("'", '"')):
                self._refuse(f"sets SQL_MODE from {value}, which the check cannot read")
            modes = {m.strip().upper() for m in value[1:-1].split(",")}
            if bad := sorted(modes - ALLOWED_MODES):
                self._refuse(f"sets the SQL mode {', '.join(bad)}, which changes how the "
                             "dump must be read")

    # -- output -------------------------------------------------------------------------------

    def _emit(self, data: bytes) -> None:
        if data and self.out is not None:
            self.out(data)

    def _tell(self, kind: str, line: str) -> None:
        if kind not in self.told:
            self.told.add(kind)
            self.note(line)

    def _show(self, head: str) -> str:
        shown = " ".join(head.split())
        return shown if len(shown) <= 80 else shown[:77] + "..."

    def _refuse(self, why: str) -> None:
        line = self.stmt_line or self.line
        shown = self.head if self.streaming or not self.text else self.text
        head = self._show(shown.decode(errors="replace"))
        raise Refused(f"line {line}: {head!r} {why}")


def main(argv: list[str]) -> int:
    check_only = "--check" in argv
    out = sys.stdout.buffer
    guard = DumpGuard(None if check_only else out.write,
                      lambda line: print(f"sqlguard: {line}", file=sys.stderr, flush=True))
    source = sys.stdin.buffer
    try:
        while chunk := source.read(1 << 20):
            guard.feed(chunk)
        guard.close()
    except Refused as exc:
        print(f"sqlguard: refused: {exc}", file=sys.stderr, flush=True)
        return 2
    out.flush()
    return 0

