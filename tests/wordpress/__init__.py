"""Tests of the WordPress helpers that run on nodes (the URL replacer)."""
