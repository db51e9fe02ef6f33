"""The node-side rules behind issue 19, on files and strings: how a deployed tree merges
into wp-content, and what the page check calls healthy."""

from __future__ import annotations

from pathlib import Path

import pytest

from pressluft_core.node.ctl._common import Refused
from pressluft_core.node.ctl.envctl.deploy import overlay
from pressluft_core.node.ctl.envctl.health import page_verdict

PAGE = b"<!DOCTYPE html><html><head><title>Caf&eacute; &#8211; Shop</title></head></html>"


@pytest.mark.parametrize(("code", "body", "verdict"), [
    ("200", PAGE, "ok"),
    ("200", b"", "empty body"),
    ("200", b"   \n", "empty body"),
    ("200", b"<html><body><p>There has been a critical error on this website.</p></body>"
            b"</html>", "a PHP error on the page: 'There has been a critical error"),
    ("500", b"<p>There has been a critical error on this website.</p>", "HTTP 500"),
    ("200", b"<html><b>Fatal error</b>: Uncaught Error: x()</html>", "PHP error"),
    ("200", b"<html><title>Caf&eacute; - Shop</title><p>How to read 'Fatal error: Uncaught "
            b"Error' in your log</p></html>", "ok"),  # prose about errors is a page
    ("200", b"<html><head><title>Caf", "without </html>"),
    ("200", b"<html><title>Other</title></html>", "'Café - Shop' is not on the page"),
    ("502", b"Bad Gateway", "HTTP 502"),
    ("000", b"", "HTTP 000"),
])
def test_the_page_verdict_names_what_is_wrong(code: str, body: bytes, verdict: str) -> None:
    found = page_verdict(code, 0.2, body, "Café - Shop", 5)
    assert found == "ok" if verdict == "ok" else verdict in found


def test_a_slow_page_is_unhealthy() -> None:
    assert "after 6.0 s" in page_verdict("200", 6.0, PAGE, "", 5)


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    return root


@pytest.fixture
def building(tmp_path: Path) -> Path:
    return tree(tmp_path / "release", {
        "wp-content/themes/twentytwentythree/style.css": "Theme Name: TT3",
        "wp-content/themes/shop/style.css": "old shop", "wp-content/plugins/akismet/a.php": "",
        "wp-content/plugins/woo/woo.php": "", "wp-content/languages/de.mo": "old"})


def test_each_theme_and_plugin_replaces_its_namesake_and_the_rest_is_kept(
        tmp_path: Path, building: Path) -> None:
    src = tree(tmp_path / "src", {"themes/shop/style.css": "new shop",
                                  "themes/acme/style.css": "acme", "plugins/tools/t.php": "",
                                  "languages/fr.mo": "fr", ".git/HEAD": "x"})
    plan = overlay(src, building)
    content = building / "wp-content"
    assert (content / "themes/shop/style.css").read_text() == "new shop"
    assert (content / "themes/twentytwentythree/style.css").is_file()
    assert (content / "plugins/akismet/a.php").is_file() and (content / "plugins/tools").is_dir()
    assert not (content / "languages/de.mo").exists() and (content / "languages/fr.mo").is_file()
    assert not (content / ".git").exists()
    assert plan == {"added": ["plugins/tools", "themes/acme"],
                    "replaced": ["languages", "themes/shop"],
                    "kept": ["themes/twentytwentythree", "plugins/akismet", "plugins/woo"]}


def test_a_repository_that_is_one_theme_or_plugin_needs_into(tmp_path: Path,
                                                            building: Path) -> None:
    theme = tree(tmp_path / "theme", {"style.css": "/*\nTheme Name: Acme Shop\n*/",
                                      "index.php": ""})
    with pytest.raises(Refused, match="deploy it into themes/acme-shop"):
        overlay(theme, building)
    plugin = tree(tmp_path / "plugin", {"tools.php": "<?php\n/*\nPlugin Name: Shop Tools\n*/"})
    with pytest.raises(Refused, match="deploy it into plugins/shop-tools"):
        overlay(plugin, building)
    plan = overlay(theme, building, "themes/acme")
    assert plan["added"] == ["themes/acme"]
    assert (building / "wp-content/themes/acme/style.css").is_file()
    with pytest.raises(Refused, match="is not themes/NAME"):
        overlay(theme, building, "../etc")
