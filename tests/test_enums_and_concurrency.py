"""Enum columns accept only the seed's values; versioned updates refuse stale writes."""

from __future__ import annotations

import re

import peewee
import pytest

from pressluft_core import enums, models
from pressluft_core.app import Pressluft
from pressluft_core.clock import ManualClock, to_iso
from pressluft_core.concurrency import update_versioned
from pressluft_core.errors import ConflictError, ValidationError
from pressluft_core.models import EnumField, Node
from pressluft_core.records import NodeRecord

# seed/data-model.md, "Enums", verbatim.
SEED_ENUMS_TEXT = """
- site_status: `active | cloning | deploying | restoring | failed`
- environment_type: `production | staging | clone`
- environment_status: `active | cloning | deploying | restoring | failed`
- node_status: `active | provisioning | unreachable | decommissioned`
- release_source_type: `git | upload`
- release_health_status: `unknown | healthy | unhealthy`
- backup_scope: `db | files | full`
- backup_status: `pending | running | completed | failed | expired`
- storage_type: `s3`
- tls_status: `pending | active | failed | disabled`
- job_status: `queued | running | succeeded | failed | cancelled`
- user_role: `admin`
- promotion_preset: `content-protect | commerce-protect`
- drift_status: `unknown | clean | drifted`
"""
SEED_ENUMS = {
    m.group(1): tuple(v.strip() for v in m.group(2).split("|"))
    for m in re.finditer(r"- (\w+): `([^`]+)`", SEED_ENUMS_TEXT)
}

# Which seed column uses which enum (from the seed's column names and "Rules").
ENUM_COLUMNS: list[tuple[type[peewee.Model], str, str]] = [
    (models.Site, "status", "site_status"),
    (models.Environment, "environment_type", "environment_type"),
    (models.Environment, "status", "environment_status"),
    (models.Environment, "promotion_preset", "promotion_preset"),
    (models.Environment, "drift_status", "drift_status"),
    (models.Node, "status", "node_status"),
    (models.Release, "source_type", "release_source_type"),
    (models.Release, "health_status", "release_health_status"),
    (models.Backup, "backup_scope", "backup_scope"),
    (models.Backup, "status", "backup_status"),
    (models.Backup, "storage_type", "storage_type"),
    (models.Domain, "tls_status", "tls_status"),
    (models.Job, "status", "job_status"),
    (models.User, "role", "user_role"),
    (models.DriftCheck, "promotion_preset", "promotion_preset"),
    (models.DriftCheck, "status", "drift_status"),
]


def test_enum_module_matches_the_seed() -> None:
    assert len(SEED_ENUMS) == 14
    for name, values in SEED_ENUMS.items():
        assert getattr(enums, name.upper()) == values, name


@pytest.mark.parametrize(("model", "column", "enum"), ENUM_COLUMNS,
                         ids=[f"{m._meta.table_name}.{c}" for m, c, _ in ENUM_COLUMNS])
def test_enum_column_accepts_exactly_the_seed_values(
    model: type[peewee.Model], column: str, enum: str
) -> None:
    field = model._meta.fields[column]
    assert isinstance(field, EnumField)
    for value in SEED_ENUMS[enum]:
        assert field.db_value(value) == value
    for bad in ("bogus", "", "ACTIVE", SEED_ENUMS[enum][0] + " ", None, 1):
        with pytest.raises(ValidationError) as refused:
            field.db_value(bad)
        message = str(refused.value)
        assert column in refused.value.field
        assert message.startswith(refused.value.field + ":")
        assert ", ".join(SEED_ENUMS[enum]) in message


def _node_row(core: Pressluft, node_id: str) -> tuple[str, int, str]:
    p = core.db.param
    row = core.db.execute_sql(
        f"SELECT status, state_version, updated_at FROM nodes WHERE id = {p}", (node_id,)
    ).fetchone()
    return row[0], int(row[1]), row[2]


def test_enum_refused_on_insert_and_update_writes_nothing(
    core: Pressluft, local_node: NodeRecord
) -> None:
    with pytest.raises(ValidationError) as refused:
        Node.insert(id="n2", name="other", hostname="other.example.com", ssh_port=22,
                    ssh_user="root", status="exploded", is_local=False,
                    created_at="2026-03-01T12:00:00Z",
                    updated_at="2026-03-01T12:00:00Z").execute()
    assert refused.value.field.endswith(".status")
    assert "'exploded' is not one of: active, provisioning, unreachable, decommissioned" in str(
        refused.value)
    assert Node.select().count() == 1

    before = _node_row(core, local_node.id)
    with pytest.raises(ValidationError):
        Node.update(status="exploded").where(Node.id == local_node.id).execute()
    with pytest.raises(ValidationError):
        update_versioned(Node, local_node.id, local_node.state_version, core.rt.clock,
                         status="exploded")
    assert _node_row(core, local_node.id) == before


def test_stale_version_raises_conflict_and_changes_nothing(
    core: Pressluft, local_node: NodeRecord, clock: ManualClock
) -> None:
    assert local_node.state_version == 1
    before = _node_row(core, local_node.id)
    assert before == ("provisioning", 1, "2026-03-01T12:00:00Z")
    clock.advance(minutes=5)

    with pytest.raises(ConflictError) as conflict:
        update_versioned(Node, local_node.id, 7, clock, status="active")
    assert "expected 7" in str(conflict.value)
    assert _node_row(core, local_node.id) == before


def test_current_version_bumps_version_and_updated_at(
    core: Pressluft, local_node: NodeRecord, clock: ManualClock
) -> None:
    later = clock.advance(minutes=5)
    assert update_versioned(Node, local_node.id, 1, clock, status="active") == 2
    assert _node_row(core, local_node.id) == ("active", 2, to_iso(later))

    # Two writers both read version 1: the second one loses, and its change is not applied.
    clock.advance(minutes=1)
    with pytest.raises(ConflictError) as conflict:
        update_versioned(Node, local_node.id, 1, clock, status="unreachable")
    assert "version 2" in str(conflict.value)
    assert _node_row(core, local_node.id) == ("active", 2, to_iso(later))


def test_update_of_a_missing_row_is_a_conflict(core: Pressluft, token: str) -> None:
    with pytest.raises(ConflictError, match="no longer exists"):
        update_versioned(Node, "no-such-node", 1, core.rt.clock, status="active")
