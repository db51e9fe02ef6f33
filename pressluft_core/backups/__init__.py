"""Backups: streaming archives between nodes and S3-compatible storage (DESIGN.md §7)."""
