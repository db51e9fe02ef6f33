"""Pressluft core: the control plane's services, usable without the console.

Nothing in this package imports Textual; the console, the CLI, the worker daemon and the
tests all drive the same services through :class:`pressluft_core.app.Pressluft`.
"""

from __future__ import annotations

import warnings

# cryptography >= 47 warns when asyncssh imports its DSA support; DSA keys are never used
# here, and the line on stderr broke every CLI command's output (and the worker's "started").
warnings.filterwarnings("ignore", message="DSA is deprecated")

__version__ = "0.1.0"
