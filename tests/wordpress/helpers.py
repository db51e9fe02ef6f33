"""Independent re-implementations the replacer tests check it against: PHP's serialize() and
unserialize() (for byte lengths without PHP), and the escaping mysqldump writes — written
from the formats, not from the replacer's code, so a shared mistake cannot hide."""

from __future__ import annotations

import re
from typing import Any

from pressluft_core.wordpress.search_replace import Replacer

MYSQL_ESCAPES = {0x00: b"\\0", 0x0A: b"\\n", 0x0D: b"\\r", 0x5C: b"\\\\", 0x27: b"\\'",
                 0x22: b'\\"', 0x1A: b"\\Z"}
MYSQL_UNESCAPES = {b"0": b"\0", b"n": b"\n", b"r": b"\r", b"Z": b"\x1a", b"t": b"\t",
                   b"b": b"\b"}
LITERAL = re.compile(rb"'((?:[^'\\]|\\.)*)'", re.DOTALL)


def mysql_escape(raw: bytes) -> bytes:
    """What mysql_real_escape_string (so mysqldump) writes for ``raw``."""
    return b"".join(MYSQL_ESCAPES.get(b, bytes([b])) for b in raw)


def mysql_unescape(text: bytes) -> bytes:
    """The value MySQL reads from the inside of a quoted literal."""
    def one(m: re.Match[bytes]) -> bytes:
        c = m.group(1)
        return b"\\" + c if c in (b"%", b"_") else MYSQL_UNESCAPES.get(c, c)
    return re.sub(rb"\\(.)", one, text, flags=re.DOTALL)


def insert(*values: bytes, table: bytes = b"wp_options") -> bytes:
    """One extended-INSERT line holding ``values`` as escaped string literals."""
    rows = b",".join(b"(%d,'%s')" % (i + 1, mysql_escape(v)) for i, v in enumerate(values))
    return b"INSERT INTO `" + table + b"` VALUES " + rows + b";\n"


def values(line: bytes) -> list[bytes]:
    """The unescaped string literals of an INSERT line, in order."""
    return [mysql_unescape(m.group(1)) for m in LITERAL.finditer(line)]


def rewrite(text: bytes, *pairs: tuple[bytes, bytes]) -> bytes:
    return Replacer(list(pairs)).rewrite(text)


def ser(value: Any) -> bytes:
    """PHP's serialize() for None/bool/int/float/str/bytes/list/dict; str is UTF-8."""
    if value is None:
        return b"N;"
    if isinstance(value, bool):
        return b"b:%d;" % value
    if isinstance(value, int):
        return b"i:%d;" % value
    if isinstance(value, float):
        return b"d:" + repr(value).encode() + b";"
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b's:%d:"%s";' % (len(value), value)
    items = enumerate(value) if isinstance(value, list) else value.items()
    return b"a:%d:{%s}" % (len(value), b"".join(ser(k) + ser(v) for k, v in items))


def unser(data: bytes) -> Any:
    """PHP's unserialize(), strictly: every length must be exact; ValueError otherwise.
    Arrays come back as dicts, objects as ``("O", class, dict)``."""
    value, end = _unser(data, 0)
    if end != len(data):
        raise ValueError(f"trailing bytes at {end}")
    return value


def _number(data: bytes, i: int, stop: bytes) -> tuple[bytes, int]:
    j = data.index(stop, i)
    return data[i:j], j + 1


def _unser(data: bytes, i: int) -> tuple[Any, int]:
    kind = data[i:i + 2]
    if data[i:i + 2] == b"N;":
        return None, i + 2
    if kind in (b"i:", b"b:", b"d:"):
        text, j = _number(data, i + 2, b";")
        return (int(text) if kind == b"i:" else text == b"1" if kind == b"b:"
                else float(text)), j
    if kind == b"s:":
        text, j = _number(data, i + 2, b":")
        n = int(text)
        if data[j:j + 1] != b'"' or data[j + 1 + n:j + 3 + n] != b'";':
            raise ValueError(f"string at {i} is not {n} bytes long")
        return data[j + 1:j + 1 + n], j + 3 + n
    if kind in (b"a:", b"O:"):
        cls = None
        if kind == b"O:":
            text, j = _number(data, i + 2, b":")
            cls = data[j + 1:j + 1 + int(text)]
            if data[j + 1 + int(text):j + 3 + int(text)] != b'":':
                raise ValueError(f"class name at {i} is not {text!r} bytes long")
            i = j + int(text) + 1
        text, j = _number(data, i + 2, b":")
        if data[j:j + 1] != b"{":
            raise ValueError(f"no {{ at {j}")
        out, j = {}, j + 1
        for _ in range(int(text)):
            key, j = _unser(data, j)
            out[key], j = _unser(data, j)
        if data[j:j + 1] != b"}":
            raise ValueError(f"no }} at {j}")
        return (out if cls is None else ("O", cls, out)), j + 1
    raise ValueError(f"unknown type {kind!r} at {i}")


def strings(value: Any) -> list[bytes]:
    """Every string in an unserialized value, nested serializations unpacked too."""
    if isinstance(value, bytes):
        if re.match(rb"[asO]:\d", value):
            return strings(unser(value))
        return [value]
    if isinstance(value, tuple):
        return strings(value[2])
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings(k) + strings(v)]
    return []
