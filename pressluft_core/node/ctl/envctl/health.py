"""The health check after a switch (and on demand): pages fetched through nginx, judged on
status, time, WordPress's own error markup, the expected text and new fatal log lines.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

from .._common import install_lib, run, say
from .env import Env
from .layout import last_json

# What WordPress and PHP print on a broken page. Only their own markup counts: a post that
# quotes "Fatal error: …" in prose must not roll a healthy release back.
FATAL_MARKERS = ("There has been a critical error on this website",
                 "<b>Fatal error</b>:", "<b>Parse error</b>:",
                 "Error establishing a database connection")
LOG_FATAL = re.compile(r"PHP (Fatal|Parse) error|PHP Fatal|Uncaught ")
MAX_BODY = 8 * 1024 * 1024


def fetch(env: Env, path: str, timeout: float) -> tuple[str, float, bytes]:
    """GET ``path`` from nginx on this node with the environment's host name, redirects
    not followed: (status, seconds, body)."""
    port = 443 if env.url.startswith("https://") else 80
    with tempfile.NamedTemporaryFile() as body:
        proc = run(["curl", "-s", "-k", "-o", body.name, "-w", "%{http_code} %{time_total}",
                    "--max-time", str(timeout), "--max-filesize", str(MAX_BODY),
                    "-H", "User-Agent: Pressluft-Health/1", "--resolve",
                    f"{env.server_name}:{port}:127.0.0.1", f"{env.url}{path}"], check=False)
        code, _, took = proc.stdout.decode().strip().partition(" ")
        return code or "000", float(took or 0), Path(body.name).read_bytes()


def loose(text: str) -> str:
    """Letters and digits only, lower-case: WordPress escapes and texturizes a title
    (``&amp;``, curly quotes, dashes) before it reaches the page."""
    return re.sub(r"[\W_]+", "", html.unescape(text)).lower()


def page_verdict(code: str, took: float, body: bytes, expected: str, limit: float) -> str:
    """``ok`` for a WordPress page, else what is wrong with the evidence."""
    size = len(body)
    text = body.decode(errors="replace")
    error = next((marker for marker in FATAL_MARKERS if marker in text), None)
    if error is not None:
        start = text.find(error)
        evidence = " ".join(re.sub(r"<[^>]+>", " ", text[start:start + 200]).split())
        return f"HTTP {code}, {size} bytes, a PHP error on the page: {evidence[:160]!r}"
    if code != "200":
        return f"HTTP {code} ({size} bytes)"
    if not text.strip():
        return "HTTP 200 with an empty body (a white screen)"
    if "</html>" not in text.lower():
        return f"HTTP 200, {size} bytes without </html> (the page stopped part-way)"
    if expected and loose(expected) not in loose(text):
        return f"HTTP 200, {size} bytes, but {expected!r} is not on the page"
    if took > limit:
        return f"HTTP 200 after {took:.1f} s (the limit is {limit:g} s)"
    return "ok"


def new_fatal_lines(log: Path, offset: int) -> list[str]:
    if not log.is_file():
        return []
    with open(log, "rb") as handle:
        handle.seek(offset if offset <= log.stat().st_size else 0)
        text = handle.read(1 << 20).decode(errors="replace")
    return [line.strip()[:300] for line in text.splitlines() if LOG_FATAL.search(line)]


def cmd_health(data: dict) -> dict:
    """Whether the environment serves WordPress, told truthfully (issue 19): the front page
    answers 200 with a WordPress page (not empty, ends with ``</html>``, no PHP error or
    "critical error" text, the site's title or the operator's expected text on it, within
    ``max_seconds``), ``wp-login.php`` answers 200, WordPress loads with its theme and
    plugins and queries its database, and no new PHP fatal error reached the environment's
    error log meanwhile. ``rounds`` checks a few seconds apart (two after a switch): every
    round must pass. Each part's verdict comes back with its evidence."""
    env = Env(data)
    timeout = float(data.get("timeout", 10))
    limit = float(data.get("max_seconds") or 5)
    rounds = max(1, min(int(data.get("rounds") or 1), 5))
    gap = float(data.get("gap_seconds", 2))
    helper = install_lib(data.get("wp_helper"), "wp_helper.php")
    log = env.dir / "logs" / "php-error.log"
    offset = log.stat().st_size if log.is_file() else 0
    checks: dict[str, str] = {}
    for number in range(1, rounds + 1):
        found: dict[str, str] = {}
        try:
            status = run(["php", helper, str(env.current), "status"], user=env.user,
                         input=json.dumps({"url": env.url}).encode(), timeout=timeout,
                         check=False)
            answer = last_json(status.stdout)
            error = status.stderr.decode(errors="replace").strip().splitlines()
            why = error[-1][:300] if error else f"exit {status.returncode}"
            found["installed"] = "ok" if answer.get("installed") else f"no: {why}"
            found["db"] = "ok" if answer.get("db") else f"no: {why}"
        except subprocess.TimeoutExpired:
            answer = {}
            found["installed"] = found["db"] = f"no answer within {timeout:g} s"
        expected = str(data.get("expected_text") or answer.get("name") or "")
        for attempt in (1, 2):  # a connection that did not answer is tried once more
            code, took, body = fetch(env, "/", timeout)
            if code != "000" or attempt == 2:
                break
            time.sleep(1)
        found["page"] = page_verdict(code, took, body, expected, limit)
        code, _, body = fetch(env, "/wp-login.php", timeout)
        found["login"] = "ok" if code == "200" and b"user_login" in body else \
            f"HTTP {code} ({len(body)} bytes)"
        fatal = new_fatal_lines(log, offset)
        found["php_log"] = "ok" if not fatal else f"new PHP fatal error: {fatal[-1]}"
        for name, verdict in found.items():
            if checks.get(name, "ok") == "ok":
                checks[name] = verdict
        say(f"health round {number}/{rounds}: " + ", ".join(f"{k} {v}" for k, v in
                                                            found.items()))
        if number < rounds:
            time.sleep(gap)
    healthy = all(v == "ok" for v in checks.values())
    return {"healthy": healthy, "checks": checks}
