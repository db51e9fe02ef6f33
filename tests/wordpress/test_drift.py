"""The drift comparison rules, without a node: what changed in protected tables and paths
(kept by a promotion) and in other tables (overwritten by it)."""

from __future__ import annotations

from pressluft_core.wordpress.drift import compare
from pressluft_core.wordpress.presets import COMMERCE_TABLES, CONTENT_TABLES, PRESETS


def answer(tables=None, others=None, files=None):  # type: ignore[no-untyped-def]
    return {"tables": tables or {}, "others": others or {},
            "paths": {"wp-content/uploads": files or {}}}


def test_nothing_changed_is_clean() -> None:
    state = answer({"wp_posts": {"rows": 3, "checksum": "1"}},
                   {"wp_options": {"rows": 9, "checksum": "options:5"}},
                   {"a.jpg": [10, 1, "aa"]})
    report = compare(state, state)
    assert report.status == "clean" and report.lines() == [
        "production has not changed since the clone"]


def test_changes_are_named_per_table_and_file() -> None:
    before = answer({"wp_wc_orders": {"rows": 2, "checksum": "1"},
                     "wp_comments": {"rows": 1, "checksum": "2"}},
                    {"wp_options": {"rows": 9, "checksum": "options:5"}},
                    {"a.jpg": [10, 1, "aa"], "b.jpg": [5, 1, "bb"], "c.jpg": [1, 1, "cc"]})
    now = answer({"wp_wc_orders": {"rows": 3, "checksum": "9"},
                  "wp_comments": {"rows": 1, "checksum": "2"}},
                 {"wp_options": {"rows": 9, "checksum": "options:6"},
                  "wp_newplugin": {"rows": 4, "checksum": "7"}},
                 {"a.jpg": [10, 2, "aa"], "b.jpg": [6, 2, "bx"], "live.jpg": [3, 3, "ll"]})
    report = compare(before, now)
    assert report.status == "drifted"
    assert [(t.table, t.change, t.row_delta) for t in report.protected] == [
        ("wp_wc_orders", "changed", 1)]
    (path,) = report.paths
    assert (path.added, path.changed, path.removed) == (["live.jpg"], ["b.jpg"], ["c.jpg"])
    assert [(t.table, t.change) for t in report.overwritten] == [
        ("wp_newplugin", "added"), ("wp_options", "changed")]
    text = "\n".join(report.lines())
    assert "wp_wc_orders" in text and "overwrite" in text and "live.jpg" in text


def test_presets_are_the_design_lists() -> None:
    assert set(PRESETS) == {"content-protect", "commerce-protect"}
    assert CONTENT_TABLES == ("posts", "postmeta", "terms", "term_taxonomy",
                              "term_relationships", "comments", "commentmeta")
    assert set(COMMERCE_TABLES) - set(CONTENT_TABLES) == {
        "woocommerce_orders", "woocommerce_order_items", "woocommerce_order_itemmeta",
        "wc_customer_lookup", "wc_order_stats", "wc_orders", "wc_orders_meta",
        "wc_order_addresses", "wc_order_operational_data"}
