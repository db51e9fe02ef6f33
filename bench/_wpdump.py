"""A generator of WordPress-like mysqldump files for the search-replace benchmark.

The dump mimics what ``mysqldump --extended-insert`` writes for a content-heavy site: ~1 MB
INSERT lines (mysqldump's default ``net_buffer_length``), string literals escaped the way
``mysql_real_escape_string`` does, post content with links and images, Gutenberg block
comments, Elementor-style JSON with escaped slashes (``https:\\\\/\\\\/`` in the SQL text),
serialized options nested two levels deep, attachment metadata without any URL, prose with
apostrophes (escaped quotes) and multibyte text, and tables (comments, action-scheduler logs,
order stats) whose lines never mention the site URL — so both the replacer's fast path and
its parsing path are exercised in realistic proportions. Deterministic for a given seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

OLD_URL = "http://old-site.example"
NEW_URL = "https://new-site.example.org"
LINE_BYTES = 1_000_000
WORDS = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed",
         "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna",
         "aliqua", "über", "straße", "café", "東京", "数据", "🚀", "don't"]


def php_serialize(value: object) -> str:
    """PHP's ``serialize()`` for str/int/bool/None/list/dict (lengths in UTF-8 bytes)."""
    if value is None:
        return "N;"
    if isinstance(value, bool):
        return f"b:{int(value)};"
    if isinstance(value, int):
        return f"i:{value};"
    if isinstance(value, str):
        return f's:{len(value.encode())}:"{value}";'
    if isinstance(value, list):
        value = dict(enumerate(value))
    if not isinstance(value, dict):
        raise TypeError(f"cannot serialize {type(value).__name__}")
    body = "".join(php_serialize(k) + php_serialize(v) for k, v in value.items())
    return f"a:{len(value)}:{{{body}}}"


def sql_escape(text: str) -> str:
    """Escape a value the way mysqldump writes it inside a single-quoted literal."""
    return (text.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')
            .replace("\n", "\\n").replace("\r", "\\r").replace("\0", "\\0")
            .replace("\x1a", "\\Z"))


class _Rows:
    """Row factories; each returns one ``(...)`` tuple in SQL text."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.next_id = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _text(self, n: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(n))

    def _upload(self) -> str:
        year, month = 2020 + self.rng.randrange(5), self.rng.randrange(1, 13)
        return f"{year}/{month:02d}/img-{self.rng.randrange(10**6)}.jpg"

    def post(self) -> str:
        pid, up = self._id(), self._upload()
        paras = []
        for _ in range(self.rng.randrange(3, 9)):
            text = self._text(self.rng.randrange(20, 60))
            if self.rng.random() < 0.5:
                year = self.rng.randrange(2015, 2025)
                text += f' <a href="{OLD_URL}/{year}/post-{pid}/">read</a>'
            paras.append(f"<!-- wp:paragraph -->\n<p>{text}</p>\n<!-- /wp:paragraph -->")
        if self.rng.random() < 0.6:
            attrs = json.dumps({"id": pid, "sizeSlug": "large"})
            paras.append(f'<!-- wp:image {attrs} -->\n<figure class="wp-block-image">'
                         f'<img src="{OLD_URL}/wp-content/uploads/{up}" alt=""/></figure>\n'
                         "<!-- /wp:image -->")
        content = sql_escape("\n\n".join(paras))
        title = sql_escape(self._text(5).title())
        return (f"({pid},1,'2024-01-01 10:00:00','2024-01-01 10:00:00','{content}','{title}','',"
                f"'publish','open','open','','post-{pid}','','','2024-01-01 10:00:00',"
                f"'2024-01-01 10:00:00','',0,'{OLD_URL}/?p={pid}',0,'post','',0)")

    def postmeta(self) -> str:
        mid, pid, roll = self._id(), self.rng.randrange(1, 10**5), self.rng.random()
        if roll < 0.35:
            sizes = {s: {"file": f"img-{s}.jpg", "width": 300, "height": 200,
                         "mime-type": "image/jpeg"} for s in ("thumbnail", "medium", "large")}
            key, value = "_wp_attachment_metadata", php_serialize(
                {"width": 1920, "height": 1080, "file": self._upload(), "sizes": sizes})
        elif roll < 0.55:
            widgets = [{"id": f"w{i}", "elType": "widget", "settings": {
                "title": self._text(4),
                "image": {"url": f"{OLD_URL}/wp-content/uploads/{self._upload()}"},
                "link": {"url": f"{OLD_URL}/contact/"}}} for i in range(self.rng.randrange(1, 5))]
            # PHP's json_encode escapes "/" (and mysqldump then doubles the backslash)
            data = json.dumps(widgets, separators=(",", ":")).replace("/", "\\/")
            key, value = "_elementor_data", data
        elif roll < 0.70:
            key, value = "_menu_item_url", f"{OLD_URL}/page-{pid}/"
        else:
            key, value = "_edit_lock", f"{1700000000 + mid}:1"
        return f"({mid},{pid},'{key}','{sql_escape(value)}')"

    def option(self) -> str:
        oid, roll = self._id(), self.rng.random()
        if roll < 0.60:  # scalar settings and transient timeouts
            name, value = f"_transient_timeout_t{oid}", str(1700000000 + oid)
        elif roll < 0.93:  # serialized, no URL: cron, plugin lists, caches
            name, value = f"_transient_cache{oid}", php_serialize(
                {"active": [f"plugin-{i}/plugin-{i}.php" for i in range(4)],
                 "counts": {"posts": oid, "pages": oid % 97}, "note": self._text(12)})
        elif roll < 0.97:  # theme_mods: URL in a serialized string in an option
            inner = php_serialize({"logo": f"{OLD_URL}/wp-content/uploads/{self._upload()}",
                                   "footer": self._text(8), "home": OLD_URL})
            name, value = f"theme_mods_theme{oid}", php_serialize(
                {"custom_css_post_id": oid, "nav_menu_locations": {"primary": 3},
                 "theme_settings": inner, "header_image": f"{OLD_URL}/h.jpg",
                 "note": self._text(6)})
        else:
            name, value = f"widget_text{oid}", php_serialize(
                {2: {"title": self._text(3), "filter": True,
                     "text": f'<a href="{OLD_URL}/shop/">{self._text(10)}</a>'}})
        return f"({oid},'{name}','{sql_escape(value)}','yes')"

    def comment(self) -> str:
        cid = self._id()
        text = sql_escape(self._text(self.rng.randrange(10, 40)))
        return (f"({cid},{self.rng.randrange(1, 10**5)},'Visitor','v{cid}@mail.example',"
                f"'https://visitor{cid}.example','203.0.113.{cid % 250}',"
                f"'2024-02-02 12:00:00','2024-02-02 12:00:00','{text}',0,'1','','comment',0,0)")

    def log(self) -> str:
        lid = self._id()
        return (f"({lid},{self.rng.randrange(10**6)},'action complete via WP Cron',"
                f"'2024-03-03 03:03:03','2024-03-03 03:03:03')")

    def order_stat(self) -> str:
        oid = self._id()
        return (f"({oid},0,'2024-04-04 04:04:04','2024-04-04 04:04:04',{self.rng.randrange(1, 9)},"
                f"{self.rng.randrange(100, 99999) / 100},0.00,0.00,'wc-completed',{oid % 977},0)")


def _inserts(table: str, make: Callable[[], str], size: int) -> Iterator[str]:
    written = 0
    while written < size:
        rows, line_len = [], 0
        while line_len < LINE_BYTES:
            row = make()
            rows.append(row)
            line_len += len(row) + 1
        line = f"INSERT INTO `{table}` VALUES {','.join(rows)};\n"
        written += len(line.encode())
        yield line


def generate(path: Path, size_mb: float, seed: int = 7) -> int:
    """Write a dump of about ``size_mb`` MB to ``path``; returns its size in bytes."""
    rows = _Rows(random.Random(seed))
    total = int(size_mb * 1_000_000)
    shares = [("wp_posts", rows.post, 0.40), ("wp_postmeta", rows.postmeta, 0.22),
              ("wp_options", rows.option, 0.03), ("wp_comments", rows.comment, 0.15),
              ("wp_actionscheduler_logs", rows.log, 0.12),
              ("wp_wc_order_stats", rows.order_stat, 0.08)]
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write("-- MySQL dump 10.13  Distrib 10.11.6-MariaDB\n--\n-- Host: localhost"
                  "    Database: wp\n/*!40101 SET NAMES utf8mb4 */;\n")
        for table, make, share in shares:
            out.write(f"\n--\n-- Dumping data for table `{table}`\n--\n\n"
                      f"LOCK TABLES `{table}` WRITE;\n")
            for line in _inserts(table, make, int(total * share)):
                out.write(line)
            out.write("UNLOCK TABLES;\n")
        out.write("-- Dump completed\n")
    return path.stat().st_size
