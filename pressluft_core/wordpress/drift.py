"""Comparing production now with the baseline taken when an environment was cloned: what
a promotion would keep (protected tables and paths that changed) and what it would
overwrite (other tables that changed). Pure functions over the node's checksum answers, so
the rules are tested without a node.

A checksum answer (``envctl checksums``) is ``{"tables": {name: {"rows", "checksum"}},
"others": {…}, "paths": {"wp-content/uploads": {relpath: [size, mtime_ns, sha256]}}}``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TableChange:
    table: str
    change: str          # "changed", "added", "removed"
    row_delta: int       # rows now - rows at the baseline


@dataclass
class PathChange:
    path: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass
class DriftReport:
    status: str                                   # "clean" | "drifted"
    protected: list[TableChange] = field(default_factory=list)
    paths: list[PathChange] = field(default_factory=list)
    overwritten: list[TableChange] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The report as an operator reads it."""
        if self.status == "clean":
            return ["production has not changed since the clone"]
        out = []
        for item in self.protected:
            out.append(f"protected {item.table}: {item.change} ({item.row_delta:+d} rows) — "
                       "kept by the promotion")
        for path in self.paths:
            out.append(f"protected {path.path}: {len(path.added)} added, "
                       f"{len(path.changed)} changed, {len(path.removed)} removed — kept"
                       + (f" (e.g. {(path.added + path.changed + path.removed)[0]})"
                          if path.added or path.changed or path.removed else ""))
        for item in self.overwritten:
            out.append(f"NOT protected {item.table}: {item.change} ({item.row_delta:+d} rows) "
                       "— the promotion would overwrite these changes")
        return out


def _tables(before: dict[str, Any], now: dict[str, Any]) -> list[TableChange]:
    changes = []
    for table in sorted(set(before) | set(now)):
        old, new = before.get(table), now.get(table)
        if old is None:
            changes.append(TableChange(table, "added", new["rows"]))
        elif new is None:
            changes.append(TableChange(table, "removed", -old["rows"]))
        elif old != new:
            changes.append(TableChange(table, "changed", new["rows"] - old["rows"]))
    return changes


def _files(path: str, before: dict[str, list], now: dict[str, list]) -> PathChange | None:
    added = sorted(set(now) - set(before))
    removed = sorted(set(before) - set(now))
    changed = sorted(p for p in set(now) & set(before)
                     if now[p][0] != before[p][0] or now[p][2] != before[p][2])
    if added or removed or changed:
        return PathChange(path, added, changed, removed)
    return None


def compare(baseline: dict[str, Any], now: dict[str, Any]) -> DriftReport:
    protected = _tables(baseline.get("tables", {}), now.get("tables", {}))
    overwritten = _tables(baseline.get("others", {}), now.get("others", {}))
    paths = [change for path in sorted(set(baseline.get("paths", {})) | set(now.get("paths", {})))
             if (change := _files(path, baseline.get("paths", {}).get(path, {}),
                                  now.get("paths", {}).get(path, {})))]
    status = "drifted" if protected or paths or overwritten else "clean"
    return DriftReport(status, protected, paths, overwritten)
