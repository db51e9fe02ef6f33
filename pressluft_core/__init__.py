"""Pressluft core: the control plane's services, usable without the console.

Nothing in this package imports Textual; the console, the CLI, the worker daemon and the
tests all drive the same services through :class:`pressluft_core.app.Pressluft`.
"""

from __future__ import annotations

__version__ = "0.1.0"
