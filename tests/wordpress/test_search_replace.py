"""The URL replacer's rules, one by one, on single lines of a dump (see the rules in
``pressluft_core/wordpress/search_replace.py``)."""

from __future__ import annotations

import io
import random

import pytest

from pressluft_core.wordpress.search_replace import Replacer
from tests.wordpress.helpers import insert, mysql_escape, rewrite, ser, strings, unser, values

OLD, NEW = b"http://old.example", b"https://new.example"
URL = (OLD, NEW)
HOST = (b"old.example", b"new.example")


def one(value: bytes, *pairs: tuple[bytes, bytes]) -> bytes:
    """``value`` stored in an INSERT, rewritten, read back."""
    [out] = values(rewrite(insert(value), *(pairs or (URL,))))
    return out


# Forms -------------------------------------------------------------------------------

@pytest.mark.parametrize(("before", "after"), [
    (b"http://old.example/a", b"https://new.example/a"),
    (b'{"u":"http:\\/\\/old.example\\/a"}', b'{"u":"https:\\/\\/new.example\\/a"}'),
    (b"<img src=//old.example/a.jpg>", b"<img src=//new.example/a.jpg>"),
    (b'{"u":"\\/\\/old.example\\/a"}', b'{"u":"\\/\\/new.example\\/a"}'),
    (b"https://old.example/a", b"https://new.example/a"),   # the written scheme stays
    (b"admin@old.example", b"admin@old.example"),            # a bare host needs its own pair
    (b"HTTP://OLD.EXAMPLE", b"HTTP://OLD.EXAMPLE"),          # case-sensitive, like sed
])
def test_forms(before: bytes, after: bytes) -> None:
    assert one(before) == after


def test_json_form_as_mysqldump_writes_it() -> None:
    line = b"INSERT INTO t VALUES (1,'[{\\\"url\\\":\\\"http:\\\\/\\\\/old.example\\\\/x\\\"}]');\n"
    assert rewrite(line, URL) == line.replace(b"http:\\\\/\\\\/old", b"https:\\\\/\\\\/new")


def test_full_url_wins_over_its_protocol_relative_part() -> None:
    # matched as //old.example, the scheme would stay http
    assert one(b"http://old.example") == b"https://new.example"


def test_pairs_apply_simultaneously_not_in_turn() -> None:
    pairs = ((b"http://a.example", b"http://b.example"), (b"http://b.example", b"http://c.example"))
    assert one(b"http://a.example http://b.example", *pairs) == \
        b"http://b.example http://c.example"


def test_bare_host_pair_and_shared_anchor() -> None:
    assert one(b"mail admin@old.example, see http://old.example", URL, HOST) == \
        b"mail admin@new.example, see https://new.example"
    pairs = ((b"https://www.old.example", b"https://www.new.example"),
             (b"https://old.example", b"https://new.example"))
    assert one(b"https://www.old.example/ https://old.example/", *pairs) == \
        b"https://www.new.example/ https://new.example/"


def test_several_unrelated_hosts() -> None:
    pairs = ((b"http://one.example", b"http://1.example"),
             (b"http://two.example", b"http://2.example"))
    assert one(b"http://two.example http://one.example //two.example", *pairs) == \
        b"http://2.example http://1.example //2.example"


@pytest.mark.parametrize("new", [b"https://n.ex", b"https://a-much-longer-host.example.org"])
def test_shorter_and_longer_replacements(new: bytes) -> None:
    text = b"x http://old.example/1 y http://old.example/2 z"
    assert one(text, (OLD, new)) == text.replace(OLD, new)


def test_lines_start_end_crlf_and_bytes_are_kept() -> None:
    text = (b"http://old.example\r\n-- comment http://old.example\r\n"
            b"INSERT INTO t VALUES ('\xff\xfe latin1 \xe9 http://old.example');\r\n"
            b"http://old.example")
    assert rewrite(text, URL) == text.replace(OLD, NEW)
    assert rewrite(b"", URL) == b""
    assert rewrite(b"nothing here\n", URL) == b"nothing here\n"


# Boundaries --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "replaced"), [
    (b"http://old.example.org/", False),
    (b"http://old.example-cdn.net/", False),
    (b"http://old.example2/", False),
    (b"http://old.example.", True),          # end of a sentence
    (b"http://old.example:8080/", True),
    (b"http://old.example/x", True),
    (b"(http://old.example)", True),
    (b'"http://old.example"', True),
    (b"http://old.example\nnext", True),     # escaped newline after it
    (b"xhttp://old.example", True),          # scheme forms are not checked before
])
def test_boundary_after(text: bytes, replaced: bool) -> None:
    assert (one(text) != text) is replaced


@pytest.mark.parametrize(("text", "replaced"), [
    (b"bold.example", False),
    (b"www.old.example", False),
    (b"my-old.example", False),
    (b"1old.example", False),
    (b"admin@old.example", True),
    (b"//old.example/", True),
    (b"line\nold.example", True),            # \n in the dump: a newline, not the letter n
    (b"back\\nold.example", False),          # \\n in the dump: a backslash and the letter n
    (b"old.example", True),
])
def test_boundary_before_a_bare_host(text: bytes, replaced: bool) -> None:
    assert (one(text, HOST) != text) is replaced


def test_path_boundaries() -> None:
    pair = (b"http://old.example/sub", b"http://new.example/site")
    assert one(b"http://old.example/subdir/", pair) == b"http://old.example/subdir/"
    assert one(b"http://old.example/sub/x http://old.example/sub", pair) == \
        b"http://new.example/site/x http://new.example/site"
    assert one(b"http:\\/\\/old.example\\/sub\\/x", pair) == b"http:\\/\\/new.example\\/site\\/x"
    slash = (b"http://old.example/", b"http://new.example/")
    assert one(b"http://old.example/wp-content", slash) == b"http://new.example/wp-content"


# Serialized data ---------------------------------------------------------------------

def check(original: object, *pairs: tuple[bytes, bytes]) -> bytes:
    """Serialize ``original``, rewrite it, and check it unserializes to exactly what
    replacing inside the structure would give (lengths included)."""
    out = one(ser(original), *pairs)
    assert out == ser(_replaced(original, pairs or (URL,)))
    unser(out)
    return out


def _replaced(value: object, pairs: tuple[tuple[bytes, bytes], ...]) -> object:
    if isinstance(value, (str, bytes)):
        raw = value.encode() if isinstance(value, str) else value
        if raw[:2] in (b"a:", b"s:"):
            try:
                return ser(_replaced(_py(unser(raw)), pairs))
            except ValueError:
                pass  # only looks serialized
        for old, new in pairs:
            rest, new_rest = old.split(b":", 1)[1], new.split(b":", 1)[1]
            raw = raw.replace(old, new).replace(old.replace(b"/", b"\\/"),
                                                 new.replace(b"/", b"\\/"))
            raw = raw.replace(rest, new_rest).replace(rest.replace(b"/", b"\\/"),
                                                      new_rest.replace(b"/", b"\\/"))
        return raw
    if isinstance(value, list):
        return [_replaced(v, pairs) for v in value]
    if isinstance(value, dict):  # keys are strings in the dump too
        return {_replaced(k, pairs): _replaced(v, pairs) for k, v in value.items()}
    return value


def _py(value: object) -> object:
    return {k: _py(v) for k, v in value.items()} if isinstance(value, dict) else value


def test_lengths_are_recomputed() -> None:
    out = check({"siteurl": "http://old.example", "n": 3, "ok": True, "none": None,
                 "f": 1.5, "urls": ["http://old.example/a", "//old.example/b"]})
    assert b's:19:"https://new.example";' in out


def test_nested_serializations() -> None:
    inner = ser({"logo": "http://old.example/logo.png", "home": "http://old.example"})
    check({"theme": inner, "deeper": ser([ser(["http://old.example/x"])])})


@pytest.mark.parametrize("text", ["über straße café", "東京 数据", "🚀 emoji 👩‍👩‍👧"])
def test_multibyte_lengths_are_bytes(text: str) -> None:
    check({"t": f"{text} http://old.example/{text}"})


def test_escaped_bytes_count_once() -> None:
    nasty = b"quote ' dq \" bs \\ nl \n cr \r nul \0 ctrlz \x1a tab \t end"
    out = check({"a": nasty + b" http://old.example " + nasty, "b": b'";s:5:"x', "c": b""})
    assert unser(out)[b"b"] == b'";s:5:"x'


def test_mysql_escapes_that_keep_their_backslash_and_doubled_quotes() -> None:
    # MySQL reads \% and \_ as two bytes; dumps not made by mysqldump may double quotes
    line = (b"INSERT INTO t VALUES (1,'a:2:{i:0;s:4:\\\"50\\%\\\";i:1;s:18:\\\"http://old.example"
            b"\\\";}'),(2,'a:2:{i:0;s:3:\"it''\";i:1;s:18:\"http://old.example\";}');\n")
    replacer = Replacer([URL])
    out = replacer.rewrite(line)
    assert out.count(b"s:19:\\\"https://new.example") == 1
    assert out.count(b's:19:"https://new.example') == 1
    assert replacer.skipped == 0


def test_tricky_strings() -> None:
    check(["", 'contains ";} and s:3:"abc"; http://old.example', 's:0:"";', "a:1:{"])
    check([0, "http://old.example " * 50])            # many in one string, length 950
    check(["x" * 82 + "http://old.example"], (OLD, b"https://n"))  # 100 -> 91: digits shrink


def test_objects_json_and_custom_serialization() -> None:
    obj = b'O:8:"stdClass":2:{s:3:"url";s:22:"http://old.example/obj";s:1:"n";i:1;}'
    out = one(obj)
    assert unser(out) == ("O", b"stdClass", {b"url": b"https://new.example/obj", b"n": 1})
    check({"json": '{"url":"http:\\/\\/old.example\\/x","rel":"\\/\\/old.example"}'})
    payload = b'x:i:0;a:1:{s:3:"url";s:18:"http://old.example";};m:a:0:{}'
    custom = b'C:11:"ArrayObject":%d:{%s}' % (len(payload), payload)
    new_payload = payload.replace(b"s:18:\"http://old", b"s:19:\"https://new")
    assert one(custom) == b'C:11:"ArrayObject":%d:{%s}' % (len(new_payload), new_payload)


def test_value_with_leading_whitespace_is_serialized() -> None:
    value = b"\n " + ser(["http://old.example"])
    assert one(value) == b"\n " + ser(["https://new.example"])


def test_only_whole_values_are_serialized_data() -> None:
    # WordPress unserializes whole values only; text that merely contains one is plain
    text = b'PHP stores s:18:"http://old.example"; like this'
    assert one(text) == text.replace(OLD, NEW)


def test_escaped_quotes_do_not_open_values() -> None:
    # prose full of apostrophes, and something like a serialized value after one
    text = b"http://old.example it's a:1 and it's s:3:\"x\" http://old.example don't"
    assert one(text) == text.replace(OLD, NEW)
    replacer = Replacer([URL])
    replacer.rewrite(insert(text))
    assert replacer.skipped == 0


def test_many_values_on_one_line() -> None:
    vals = [ser({"u": "http://old.example"}), b"plain http://old.example",
            b"nothing", ser(["no url"]), ser(["http://old.example/" + "x" * 300])]
    out = values(rewrite(insert(*vals, table=b"wp_postmeta"), URL))
    assert out == [ser({"u": "https://new.example"}), b"plain https://new.example",
                   b"nothing", ser(["no url"]), ser(["https://new.example/" + "x" * 300])]


# Malformed serialized data -----------------------------------------------------------

@pytest.mark.parametrize("bad", [
    b'a:1:{s:5:"http://old.example";}',                  # wrong length
    b'a:2:{s:3:"key";s:40:"http://old.example/trunc',     # truncated
    b'a:1:{i:0;s:1:"x";} s:99:"http://old.example"',      # a header that never closes
    b'a:1:{s:3:"bad";} http://old.example',               # declares 3, has 3... then text
])
def test_malformed_serialized_data_is_left_alone(bad: bytes) -> None:
    replacer = Replacer([URL])
    line = insert(bad, b"plain http://old.example", ser(["http://old.example"]))
    out = values(replacer.rewrite(line))
    if bad.startswith(b'a:1:{s:3:"bad";}'):
        assert out[0] == bad.replace(OLD, NEW)   # well formed; the URL is outside it
    else:
        assert out[0] == bad
        assert replacer.skipped == 1
    assert out[1:] == [b"plain https://new.example", ser(["https://new.example"])]


def test_nested_content_is_serialized_only_if_it_starts_like_it() -> None:
    text = ser({"k": 'text with s:3:"x"; inside http://old.example'})
    assert one(text) == ser({"k": 'text with s:3:"x"; inside https://new.example'})
    looks = ser({"k": 's:3:"http://old.example is not what it claims'})
    replacer = Replacer([URL])
    assert values(replacer.rewrite(insert(looks))) == [looks]  # it may be, in the database
    assert replacer.skipped == 1


def test_after_a_bad_header_the_rest_of_the_value_is_kept() -> None:
    bad = b'a:2:{i:0;s:9:"x";i:1;s:18:"http://old.example";}'
    replacer = Replacer([URL])
    assert values(replacer.rewrite(insert(bad))) == [bad]
    assert replacer.skipped == 1


def test_unterminated_literal_and_hostile_headers_do_not_crash() -> None:
    line = b"INSERT INTO t VALUES (1,'a:1:{s:18:\\\"http://old.example\\\";}"
    assert Replacer([URL]).rewrite(line + b"\n") == line.replace(b"s:18:\\\"http://old",
                                                                 b"s:19:\\\"https://new") + b"\n"
    huge = insert(b'a:1:{s:99999999999:"http://old.example";}')
    assert rewrite(huge, URL) == huge
    deep = b"http://old.example"
    for _ in range(100):
        deep = ser([deep])
    replacer = Replacer([URL])
    assert values(replacer.rewrite(insert(deep))) == [deep]  # deeper than 64: left alone
    assert replacer.skipped == 1


def test_random_structures_stay_valid() -> None:
    rng = random.Random(5)
    pieces = ["http://old.example/p ", "//old.example ", "http:\\/\\/old.example ", "ü",
              "'", '"', "\\", "\n", "\0", ";", '";', "s:3:", "a:1:{", "}", "东", "x" * 30]

    def text() -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randrange(8)))

    def value(depth: int) -> object:
        roll = rng.random()
        if depth > 3 or roll < 0.4:
            return text()
        if roll < 0.5:
            return ser(value(depth + 1)).decode()  # a serialization inside a string
        if roll < 0.6:
            return rng.choice([1, -7, True, None, 2.5])
        return {text(): value(depth + 1) for _ in range(rng.randrange(4))}

    for _ in range(300):
        original = value(0)
        out = one(ser(original))
        assert out == ser(_replaced(original, (URL,)))


# Streaming ---------------------------------------------------------------------------

def _dump() -> bytes:
    rows = [ser({"u": "http://old.example", "t": "über " * i}) for i in range(40)]
    rows += [b"plain http://old.example/" + b"y" * i for i in range(40)]
    return b"".join([b"-- dump\n", insert(*rows), insert(b"no url"), insert(*rows[::3]),
                     b"x" * 5000 + b" http://old.example\n", b"tail http://old.example"])


@pytest.mark.parametrize("block", [1, 7, 100, 4096, 1 << 20])
def test_stream_matches_whole_rewrite_for_any_block_size(block: int) -> None:
    dump = _dump()
    dst = io.BytesIO()
    Replacer([URL]).stream(io.BytesIO(dump), dst, block)
    assert dst.getvalue() == rewrite(dump, URL)
    assert b"old.example" not in dst.getvalue()
    for value in values(dst.getvalue()):
        if value.startswith(b"a:"):
            assert b"http://old" not in b"".join(strings(unser(value)))


class Trickle(io.RawIOBase):
    """A raw file that takes at most 5 bytes per write, like a full pipe may."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += bytes(b[:5])
        return min(5, len(b))


def test_stream_writes_everything_to_a_raw_file_that_takes_little() -> None:
    dst = Trickle()
    Replacer([URL]).stream(io.BytesIO(_dump()), dst)  # type: ignore[arg-type]
    assert bytes(dst.data) == rewrite(_dump(), URL)


def test_escape_helpers_agree_with_the_dump_format() -> None:
    assert mysql_escape(b"a'b\"c\\d\n") == b"a\\'b\\\"c\\\\d\\n"


# Speed-ups that must change nothing -----------------------------------------------------

@pytest.mark.parametrize("lead", [b" ", b"\t", b"\x0b", b"\n", b"\r\n ", b"\0", b"\t \n"])
def test_serialized_value_after_any_leading_whitespace(lead: bytes) -> None:
    # a quote then whitespace (some of it escaped in the dump) then a:/s:/O:/C:
    value = lead + ser({"u": "http://old.example"})
    line = insert(b"plain http://old.example", value, b"http://old.example")
    assert values(rewrite(line, URL)) == [b"plain https://new.example",
                                          lead + ser({"u": "https://new.example"}),
                                          b"https://new.example"]


def test_searching_from_the_rarest_byte_changes_nothing(monkeypatch: pytest.MonkeyPatch,
                                                        ) -> None:
    # the anchor is looked for from its rarest byte on (unless it overlaps itself, like
    # "a.a.a"): the same matches must come out as when it is looked for from its start
    import pressluft_core.node.ctl.replacer.engine as sr  # where Replacer looks it up
    rng = random.Random(3)
    pieces = [b"old.example", b"a.a", b"a::a", b"http://", b"//", b"\\/", b".", b"-", b":",
              b"x", b"n", b"'", b"\\'", b" ", b"s:1:", b"a:1:{", b"\n"]
    pair_sets = [[URL], [HOST], [(b"http://a.a", b"https://b.b")], [(b"a.a.a", b"b")],
                 [(b"a::a", b"b")],  # overlaps itself; "na::a::a" tells (n: escape letter)
                 [URL, (b"http://www.old.example", b"https://www.new.example")]]
    for pairs in pair_sets:
        rotated = Replacer(pairs)
        monkeypatch.setattr(sr, "_rarest", lambda anchor: 0)
        plain = Replacer(pairs)
        monkeypatch.undo()
        for i in range(400):
            text = b"".join(rng.choice(pieces) for _ in range(rng.randrange(12)))
            text = b"na::a::a" if i == 0 else text
            line = insert(text, ser([text.decode("latin-1")]))
            assert rotated.rewrite(line) == plain.rewrite(line), (pairs, line)
        assert (rotated.replaced, rotated.skipped) == (plain.replaced, plain.skipped)


def test_replacements_are_counted_in_every_path() -> None:
    # plain matches (the loop's short branch), serialized ones, and skipped ones
    line = insert(b"a http://old.example b //old.example", ser(["http://old.example"] * 3),
                  b'a:1:{s:5:"http://old.example";}', b"c http://old.example")
    replacer = Replacer([URL])
    dst = io.BytesIO()
    replacer.stream(io.BytesIO(line * 3), dst, 100)
    assert (replacer.replaced, replacer.skipped) == (3 * 6, 3)
