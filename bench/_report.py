"""One way every benchmark ends: the figures for people, then (``--json``) one JSON object
on the last line for tools."""

from __future__ import annotations

import json
from typing import Any


def report(result: dict[str, Any], as_json: bool) -> int:
    for name, value in result.items():
        print(f"{name:>24}: {value}")
    if as_json:
        print(json.dumps(result))
    return 0
