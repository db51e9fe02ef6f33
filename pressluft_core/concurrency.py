"""Optimistic concurrency for mutable rows (those with ``state_version``).

Every service updates such rows through :func:`update_versioned`, never with a bare
``save()``: the write happens only if nobody changed the row since it was read.
"""

from __future__ import annotations

from typing import Any

import peewee

from pressluft_core.clock import Clock, to_iso
from pressluft_core.errors import ConflictError


def update_versioned(
    model: type[peewee.Model],
    row_id: str,
    expected_version: int,
    clock: Clock,
    **changes: Any,
) -> int:
    """``UPDATE … SET …, state_version = v+1 WHERE id = ? AND state_version = v``.

    Returns the new version. Raises :class:`ConflictError` (and changes nothing) when the
    row is gone or its version is not ``expected_version``.
    """
    fields = {getattr(model, name): value for name, value in changes.items()}
    fields[model.state_version] = expected_version + 1
    fields[model.updated_at] = to_iso(clock.now())
    updated = (
        model.update(fields)
        .where((model.id == row_id) & (model.state_version == expected_version))
        .execute()
    )
    if updated != 1:
        current = model.select(model.state_version).where(model.id == row_id).first()
        table = model._meta.table_name
        if current is None:
            raise ConflictError(f"{table} {row_id} no longer exists")
        raise ConflictError(
            f"{table} {row_id} was changed by someone else (version {current.state_version}, "
            f"expected {expected_version}); reload and try again"
        )
    return expected_version + 1
