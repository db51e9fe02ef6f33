"""The URL replacer as it runs: a process in a pipe (exit codes, messages, flat memory),
portable to the nodes' Python, and checked against PHP's own unserialize()."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pressluft_core.wordpress.search_replace as sr
from bench._wpdump import NEW_URL, OLD_URL, generate
from pressluft_core.node.bundle import local_copy
from tests.wordpress.helpers import insert, ser, strings, unser, values

ROOT = Path(__file__).resolve().parents[2]
MODULE = [sys.executable, "-m", "pressluft_core.wordpress.search_replace"]
PAIR = ["http://old.example", "https://new.example"]
needs_php = pytest.mark.skipif(shutil.which("php") is None,
                               reason="php-cli not installed: no unserialize() oracle")


def run(args: list[str], data: bytes, cmd: list[str] = MODULE) -> subprocess.CompletedProcess:
    return subprocess.run([*cmd, *args], input=data, capture_output=True, cwd=ROOT,
                          timeout=120, check=False)


# Command line ------------------------------------------------------------------------

def test_cli_rewrites_stdin_to_stdout() -> None:
    dump = insert(ser({"u": "http://old.example/x"}), b"see //old.example")
    done = run(PAIR, dump)
    assert done.returncode == 0, done.stderr
    assert values(done.stdout) == [ser({"u": "https://new.example/x"}), b"see //new.example"]
    assert done.stderr == b""


def test_cli_runs_from_the_node_zipapp_in_isolated_mode_like_on_a_node() -> None:
    node = [sys.executable, "-I", local_copy(), "search-replace"]
    done = run(["--stats", *PAIR], b"http://old.example\n", node)
    assert (done.returncode, done.stdout) == (0, b"https://new.example\n")
    assert done.stderr.startswith(b"search_replace: 1 replacement(s)\nsearch_replace: peak RSS ")


@pytest.mark.parametrize("args", [[], ["http://old.example"], ["", "x"], ["/", "x"],
                                  ["a", "b", "c"]])
def test_cli_wrong_arguments_exit_2_with_usage(args: list[str]) -> None:
    done = run(args, b"")
    assert done.returncode == 2
    assert done.stderr.startswith(b"usage: search_replace.py")
    assert done.stdout == b""


def test_cli_help_and_skip_warning() -> None:
    assert run(["--help"], b"").stdout.startswith(b"usage:")
    done = run(PAIR, insert(b'a:1:{s:5:"http://old.example";}'))
    assert done.returncode == 0
    assert b"left 1 occurrence(s) inside malformed serialized data" in done.stderr


def test_cli_output_closed_early_exits_1(tmp_path: Path) -> None:
    source = tmp_path / "dump.sql"
    source.write_bytes(b"http://old.example " * 500_000 + b"\n")  # more than a pipe holds
    with source.open("rb") as stdin:  # unbuffered stdout must not make it lose track
        proc = subprocess.Popen([*MODULE, *PAIR], stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=ROOT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.read(10) == b"https://ne"
        proc.stdout.close()
        assert proc.wait(timeout=60) == 1
        assert b"output closed early" in proc.stderr.read()


# Portability -------------------------------------------------------------------------

def test_same_output_on_python_3_9_when_available(tmp_path: Path) -> None:
    py39 = shutil.which("python3.9")
    if py39 is None or subprocess.run([py39, "-c", "pass"], capture_output=True,
                                      check=False).returncode:
        pytest.skip("no working python3.9 on PATH (the 3.9 syntax check still ran)")
    dump = _mixed_dump()
    node = [py39, "-I", local_copy(), "search-replace"]
    assert run(PAIR, dump, node).stdout == run(PAIR, dump).stdout


# Memory ------------------------------------------------------------------------------

def _peak_rss_kb(lines: int) -> int:
    """The replacer's own account (``--stats``): the sum of its processes' peaks."""
    line = insert(*[ser({"u": f"http://old.example/{i}", "t": "ü" * 200}) for i in range(600)],
                  *[b'{"u":"http:\\/\\/old.example\\/x"} ' * 40 for _ in range(100)],
                  *[b"<p>text http://old.example/page</p> " * 60 for _ in range(100)])
    feed = subprocess.Popen([sys.executable, "-c", "import sys\nline = sys.stdin.buffer.read()\n"
                             f"for _ in range({lines}): sys.stdout.buffer.write(line)"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    measure = subprocess.Popen([*MODULE, "--stats", *PAIR], stdin=feed.stdout,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    assert feed.stdin is not None and feed.stdout is not None
    feed.stdout.close()
    feed.stdin.write(line)
    feed.stdin.close()
    _, err = measure.communicate(timeout=300)
    assert feed.wait(timeout=60) == 0 and measure.returncode == 0, err
    found = re.search(rb"peak RSS ([0-9.]+) MB in (\d+) process", err)
    assert found is not None and int(found.group(2)) == sr.default_jobs(), err
    return int(float(found.group(1)) * 1024)


def test_memory_stays_flat_whatever_the_dump_size() -> None:
    # 26 MB vs 132 MB of dump: enough for each process to have had several blocks
    small, large = _peak_rss_kb(40), _peak_rss_kb(200)
    assert large - small < 4 * 1024, (small, large)  # bounded by block and line size
    assert large < 50 * 1024


# PHP as the oracle -------------------------------------------------------------------

PHP_MAKE = r"""<?php
error_reporting(E_ALL & ~E_DEPRECATED);
class Legacy implements Serializable {
    public $d;
    function __construct($d = null) { $this->d = $d; }
    function serialize() { return serialize($this->d); }
    function unserialize($s) { $this->d = unserialize($s); }
}
$u = 'http://old.example';
$vals = [
    ['siteurl' => $u, 'home' => "$u/", 'n' => 3, 'f' => 1.5, 'b' => true, 'z' => null],
    ['theme' => serialize(['logo' => "$u/logo.png",
                           'deeper' => serialize([$u, '//old.example/x', 'https://old.example'])])],
    ['mb' => "über 東京 🚀 $u/ü", 'esc' => "q ' dq \" bs \\ nl \n cr \r nul \0 z \x1a tab \t $u"],
    (object)['url' => "$u/obj", 'o' => (object)['deep' => "$u/deep"]],
    ['json' => json_encode(['url' => "$u/x", 'rel' => '//old.example/y'])],
    [$u, '', 's:0:"";', 'contains ";} and s:3:"abc"; ' . $u, str_repeat("$u ", 40)],
    "just a string $u",
    new Legacy(['url' => $u, 'text' => "it's"]),
    [1 => [2 => [3 => [4 => ['five' => serialize(serialize("$u/twice"))]]]]],
];
foreach ($vals as $v) echo base64_encode(serialize($v)), "\n";
"""

PHP_CHECK = r"""<?php
error_reporting(E_ALL & ~E_DEPRECATED);
class Legacy implements Serializable {
    public $d;
    function serialize() { return serialize($this->d); }
    function unserialize($s) { $this->d = unserialize($s); }
}
$search = ['http://old.example', 'http:\/\/old.example', '//old.example', '\/\/old.example'];
$replace = ['https://new.example', 'https:\/\/new.example', '//new.example', '\/\/new.example'];
function rr($v) {  // PHP's own str_replace, applied inside the structure
    global $search, $replace;
    if (is_array($v)) { foreach ($v as $k => $x) $v[$k] = rr($x); return $v; }
    if ($v instanceof Legacy) { $v->d = rr($v->d); return $v; }
    if (is_object($v)) { foreach (get_object_vars($v) as $k => $x) $v->$k = rr($x); return $v; }
    if (is_string($v)) {
        $u = @unserialize($v);
        if ($u !== false || $v === 'b:0;') return serialize(rr($u));
        return str_replace($search, $replace, $v);
    }
    return $v;
}
$pairs = json_decode(file_get_contents('php://stdin'), true);
foreach ($pairs as [$orig, $ours]) {
    $got = @unserialize(base64_decode($ours));
    $want = rr(unserialize(base64_decode($orig)));
    echo $got === false ? 'unserialize failed' :
        (serialize($got) === serialize($want) ? 'ok' : 'differs: ' . serialize($got)), "\n";
}
"""


def _php(script: str, data: str = "") -> list[str]:
    done = subprocess.run(["php", "-r", script.removeprefix("<?php")], input=data.encode(),
                          capture_output=True, timeout=60, check=True)
    return done.stdout.decode().splitlines()


@needs_php
def test_php_unserializes_what_we_wrote_and_agrees_with_str_replace() -> None:
    originals = [base64.b64decode(line) for line in _php(PHP_MAKE)]
    done = run(PAIR, insert(*originals))
    assert done.returncode == 0 and done.stderr == b""
    ours = values(done.stdout)
    assert len(ours) == len(originals)
    pairs = [[base64.b64encode(o).decode(), base64.b64encode(n).decode()]
             for o, n in zip(originals, ours, strict=True)]
    assert _php(PHP_CHECK, json.dumps(pairs)) == ["ok"] * len(originals)


# The benchmark's dump ----------------------------------------------------------------

def _mixed_dump() -> bytes:
    return b"".join(insert(ser({"u": f"{OLD_URL}/{i}", "t": "über"}), f"{OLD_URL} {i}".encode())
                    for i in range(50))


def test_benchmark_dump_comes_out_clean(tmp_path: Path) -> None:
    dump = tmp_path / "dump.sql"
    generate(dump, 1)
    done = run([OLD_URL, NEW_URL], dump.read_bytes())
    assert done.returncode == 0 and done.stderr == b""
    assert OLD_URL.split("//")[1].encode() not in done.stdout
    serialized = [v for v in values(done.stdout) if v[:2] in (b"a:", b"s:")]
    assert len(serialized) > 1000
    for value in serialized:
        assert all(b"old-site" not in s for s in strings(unser(value)))
    if shutil.which("php"):
        lines = "\n".join(base64.b64encode(v).decode() for v in serialized)
        script = ("$n = 0; foreach (explode(\"\\n\", file_get_contents('php://stdin')) as $l)"
                  " { if (@unserialize(base64_decode($l)) === false) $n++; } echo $n;")
        assert _php(script, lines) == ["0"]

