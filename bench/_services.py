"""Benchmarks need the same loopback services as the tests: this starts them through the
test script's own functions (scripts/lib/services.sh), so both use one setup."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start(*functions: str) -> dict[str, str]:
    """Run ``start_<service>`` for each name; returns the variables they export."""
    calls = "; ".join(f"start_{name} >&2" for name in functions)
    script = (f'cd "{ROOT}" && ROOT="{ROOT}" && source scripts/lib/services.sh && {calls} '
              '&& for v in ${!PRESSLUFT_TEST_@}; do echo "$v=${!v}"; done')
    out = subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
