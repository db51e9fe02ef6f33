"""sqlguard's rules: the lexer's patterns, what a dump may not contain and why, what is
dropped, and the SQL modes it may set."""

from __future__ import annotations

import re

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

