"""Promotion presets (DESIGN.md §7): what a promotion never overwrites in production.
Table names are without the environment's table prefix; the node adds it."""

from __future__ import annotations

CONTENT_TABLES = ("posts", "postmeta", "terms", "term_taxonomy", "term_relationships",
                  "comments", "commentmeta")
COMMERCE_TABLES = (
    *CONTENT_TABLES,
    "woocommerce_orders", "woocommerce_order_items", "woocommerce_order_itemmeta",
    "wc_customer_lookup", "wc_order_stats",
    # High-performance order storage, which current WooCommerce uses.
    "wc_orders", "wc_orders_meta", "wc_order_addresses", "wc_order_operational_data",
)
PROTECTED_PATHS = ("wp-content/uploads",)

PRESETS: dict[str, tuple[str, ...]] = {
    "content-protect": CONTENT_TABLES,
    "commerce-protect": COMMERCE_TABLES,
}


def protected_tables(preset: str) -> tuple[str, ...]:
    return PRESETS[preset]
