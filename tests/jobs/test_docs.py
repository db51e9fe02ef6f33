"""docs/jobs.md documents exactly the error codes the runner can record."""

from __future__ import annotations

import re
from pathlib import Path

from pressluft_core.jobs.errors import ERROR_CODES

DOC = Path(__file__).resolve().parents[2] / "docs" / "jobs.md"


def test_every_error_code_is_documented_and_no_other():
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", DOC.read_text(), re.MULTILINE))
    assert documented == set(ERROR_CODES)
