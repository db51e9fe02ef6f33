"""The pre-check every SQL dump passes before it is imported into an environment (issue 18).

    python3 sqlguard.py [--check]   < dump.sql   > dump.sql (filtered)

Standard library only: copied to nodes beside ``envctl.py`` and run there as a filter in the
import pipeline (as the environment's own user; it only reads stdin and writes stdout).
It reads the dump statement by statement, the way the ``mariadb`` client splits it (quotes,
comments, ``/*! … */`` executable comments, backslash commands), and

* refuses, naming the statement and its line, anything outside a WordPress data dump:
  other databases (``USE`` of a second one, ``DROP/ALTER DATABASE``, ``db.table`` names),
  users and privileges, server files (``INTO OUTFILE/DUMPFILE``, ``LOAD DATA``,
  ``LOAD_FILE``), plugins, server administration, dynamic SQL, views, triggers and stored
  programs (``DEFINER``), client commands, and SQL modes that change how it must be read;
* drops, saying so, what a ``mysqldump --databases`` dump of one database adds (its
  ``CREATE DATABASE`` and ``USE``) and MySQL's replication lines (``SQL_LOG_BIN``,
  ``GTID_PURGED``), so the rest lands in the environment's own database.

The guarantee is least privilege (the import runs as the environment's MariaDB user, see
docs/security.md); this check is the clear message before anything changes.
Exit status: 0 clean, 2 refused (the reason on stderr as ``sqlguard: refused: …``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

CODE, SQ, DQ, BQ, LINE_COMMENT, BLOCK_COMMENT, CLIENT_COMMENT = range(7)
HEAD_MAX = 8192           # normalized code kept per held statement (what rules look at)
HELD_MAX = 64 * 1024**2   # a statement other than INSERT/REPLACE longer than this is refused
FLUSH_AT = 1 << 16

CODE_STOP = re.compile(rb"[;'\"`#/\\*-]")
SQ_BODY = re.compile(rb"[^'\\]*(?:\\.[^'\\]*)*", re.S)
DQ_BODY = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.S)
BQ_BODY = re.compile(rb"[^`]*")
# The data of an INSERT: numbers, NULL, parentheses, commas and complete '…' strings; no
# identifier or comment can hide in such a run, so it is passed over in one match.
VALUE_RUN = re.compile(rb"(?:[\s(),0-9.+]+|-(?!-)|NULL\b|_binary\b|0x[0-9a-fA-F]+|"
                       rb"'[^'\\]*(?:(?:\\.|'')[^'\\]*)*')+", re.S)
EXEC_OPEN = re.compile(rb"/\*M?!([0-9]*)")
WORD = re.compile(r"\s*([A-Za-z_@][A-Za-z0-9_@.]*)")

CLIENT_WORDS = {"system", "source", "pager", "nopager", "tee", "notee", "edit", "connect",
                "charset", "warnings", "nowarning", "print", "prompt", "quit", "exit",
                "rehash", "status", "ego", "go", "help", "clear"}
ALLOWED_MODES = {
    "", "NO_AUTO_VALUE_ON_ZERO", "STRICT_TRANS_TABLES", "STRICT_ALL_TABLES", "NO_ZERO_DATE",
    "NO_ZERO_IN_DATE", "ERROR_FOR_DIVISION_BY_ZERO", "NO_AUTO_CREATE_USER",
    "NO_ENGINE_SUBSTITUTION", "ONLY_FULL_GROUP_BY", "ALLOW_INVALID_DATES", "TRADITIONAL",
    "NO_DIR_IN_CREATE", "NO_FIELD_OPTIONS", "NO_KEY_OPTIONS", "NO_TABLE_OPTIONS",
    "NO_UNSIGNED_SUBTRACTION", "PAD_CHAR_TO_FULL_LENGTH", "HIGH_NOT_PRECEDENCE",
    "IGNORE_SPACE", "REAL_AS_FLOAT", "PIPES_AS_CONCAT", "SIMULTANEOUS_ASSIGNMENT",
    "TIME_ROUND_FRACTIONAL", "EMPTY_STRING_IS_NULL", "IGNORE_BAD_TABLE_OPTIONS",
    "MYSQL323", "MYSQL40"}

FLAGS = re.I | re.S
REFUSED = [(re.compile(pattern, FLAGS), why) for pattern, why in (
    (r"(ALTER|DROP)\s+(DATABASE|SCHEMA)\b", "changes or drops a database"),
    (r"(CREATE|ALTER|DROP|RENAME)\s+USER\b", "creates or changes a database user"),
    (r"(CREATE|DROP|SET)\s+(DEFAULT\s+)?ROLE\b", "changes database roles"),
    (r"(GRANT|REVOKE)\b", "changes privileges"),
    (r"SET\s+PASSWORD\b", "sets a password"),
    (r"(INSTALL|UNINSTALL)\s+(PLUGIN|SONAME)\b", "installs a server plugin"),
    (r"LOAD\s+(DATA|XML|INDEX)\b", "loads a file into the server"),
    (r"(SHUTDOWN|KILL|FLUSH|RESET|PURGE|BINLOG|HANDLER|CACHE\s+INDEX|CHANGE\s+(MASTER|"
     r"REPLICATION)|(START|STOP)\s+(SLAVE|REPLICA|ALL\s+SLAVES|ALL\s+REPLICAS))\b",
     "administers the server"),
    (r"(PREPARE|EXECUTE|DEALLOCATE)\b", "runs dynamic SQL the check cannot read"),
    (r"(CALL|DO)\b", "runs a stored procedure or expression"),
    (r"DELIMITER\b", "defines stored programs (triggers, procedures)"),
    (r"(CREATE|ALTER)\s+(OR\s+REPLACE\s+)?(ALGORITHM\s*=\s*\w+\s+)?(DEFINER\s*=\s*\S+\s+)?"
     r"(SQL\s+SECURITY\s+\w+\s+)?(AGGREGATE\s+)?(VIEW|TRIGGER|PROCEDURE|FUNCTION|EVENT|"
     r"SERVER|PACKAGE)\b", "creates a view, trigger, event or stored program"),
    (r"CREATE\b.*\bDEFINER\s*=", "creates an object that runs as another user (DEFINER)"),
    (r"SET\s+(GLOBAL\b|@@GLOBAL\.)", "changes a global server variable"),
)]
ANYWHERE = re.compile(
    rb"\bINTO\s+(OUTFILE|DUMPFILE)\b|\bLOAD_FILE\s*\(|"
    rb"\bENGINE\s*=?\s*CONNECT\b|\b(DATA|INDEX)\s+DIRECTORY\b|"
    rb"\b(TABLES?|INTO|UPDATE|FROM|JOIN|EXISTS|REFERENCES|LIKE|TO)\s+"
    rb"(`[^`]*`|[A-Za-z0-9_$]+)\s*\.\s*[`A-Za-z_$]", re.I)
UNSAFE_CHARSET = re.compile(r"\b(big5|cp932|gbk|sjis|gb18030)\b", re.I)
DROPPED_SET = re.compile(r"SET\b.*\b(SQL_LOG_BIN|GTID_PURGED)\b", FLAGS)
DATABASE_STMT = re.compile(
    r"(?:USE|CREATE\s+(?:DATABASE|SCHEMA)(?:\s+IF\s+NOT\s+EXISTS)?)\s+(`(?:[^`]|``)*`|\w+)", FLAGS)
SQL_MODE_SET = re.compile(
    r"(@@(?:SESSION\.|LOCAL\.)?|\b(?:SESSION|LOCAL)\s+|[\s,])SQL_MODE\s*:?=\s*"
    r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|@@SQL_MODE\b|@OLD_SQL_MODE\b|\S+)""", FLAGS)
OLD_MODE_SET = re.compile(r"@OLD_SQL_MODE\s*:?=\s*(\S+)", FLAGS)


class Refused(Exception):
    """The dump holds a statement that is not part of a WordPress data dump."""


class DumpGuard:
    """Feed the dump in chunks; ``out`` gets the filtered bytes, ``note`` each line the
    operator should read. Raises :class:`Refused` on the first statement it refuses."""

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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
