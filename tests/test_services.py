"""Core services: validation with errors naming the field, one transaction per mutation,
an audit row for every mutation (refusals too), preview URLs, settings, job look-up."""

from __future__ import annotations

import itertools
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from pressluft_core.app import Pressluft
from pressluft_core.clock import ManualClock
from pressluft_core.errors import NotFoundError, StateError, ValidationError
from pressluft_core.records import NodeRecord
from pressluft_core.services import jobs as jobs_service
from pressluft_core.services import sites as sites_service
from pressluft_core.services.settings import SPECS

HOSTILE_COMMON = [
    "x'; rm -rf / #",
    "$(touch /tmp/pwned)",
    "`id`",
    "a;b",
    "a|b",
    "a&&b",
    "café",
    "ünï",
    "a" * 300,
    "[bold]x[/]",
    "x\ny",
    "x\n",
    "\nx",
    "x\x00y",
    "x\ty",
    "x y",
    " x",
    "",
    "-x",
    "../etc",
    "a/b",
    "<script>",
    "x\u200by",  # zero-width space
    "\uff58",  # full-width x
]
HOSTILE_SLUGS = [*HOSTILE_COMMON, "UPPER", "a_b", "a.b", "a" * 40]
HOSTILE_HOSTNAMES = [
    *HOSTILE_COMMON,
    "a..b",
    "-a.example.com",
    "a-.example.com",
    "x" * 64 + ".example.com",
    ("a" * 60 + ".") * 5,
    "fe80::1%$(id)",  # an IPv6 scope id may carry anything
    "::1%\nx",
    "host_name.example.com",
    "*.example.com",
]


def _counts(core: Pressluft) -> dict[str, int]:
    if core.backend == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        sql = ("SELECT table_name FROM information_schema.tables "
               "WHERE table_schema = current_schema()")
    tables = [row[0] for row in core.db.execute_sql(sql).fetchall()]
    return {t: core.db.execute_sql(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
            for t in tables}


def _audit_rows(core: Pressluft) -> list[dict[str, Any]]:
    names = ["id", "user_id", "action", "resource_type", "resource_id", "result", "created_at"]
    cursor = core.db.execute_sql(f"SELECT {', '.join(names)} FROM audit_logs")
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _refusal_problems(
    core: Pressluft, call: Any, values: list[str], action: str, field: str
) -> list[str]:
    """Try each value; return what went wrong (empty when every value was refused cleanly
    and nothing but one audit row per refusal was written)."""
    problems = []
    for value in values:
        before, audit_before = _counts(core), _audit_rows(core)
        try:
            call(value)
        except ValidationError as exc:
            message = str(exc)
            if exc.field != field or not message.startswith(f"{field}: "):
                problems.append(f"{value!r}: refused as {exc.field!r}: {message}")
            if "\n" in message or len(message) > 300:
                problems.append(f"{value!r}: message is not one short line: {message!r}")
        except Exception as exc:
            problems.append(f"{value!r}: {type(exc).__name__}: {exc}")
            continue
        else:
            problems.append(f"{value!r}: accepted")
            continue
        after = _counts(core)
        if after.pop("audit_logs") != before["audit_logs"] + 1 or after != {
                k: v for k, v in before.items() if k != "audit_logs"}:
            problems.append(f"{value!r}: rows other than one audit row were written")
            continue
        (new,) = [row for row in _audit_rows(core) if row not in audit_before]
        if new["action"] != action or not new["result"].startswith(f"refused: {field}:"):
            problems.append(f"{value!r}: audit row {new}")
        if any(not c.isprintable() for c in new["resource_id"] + new["result"]):
            problems.append(f"{value!r}: control characters in the audit row {new}")
    return problems


# -- hostile input ------------------------------------------------------------------------


def test_site_create_refuses_hostile_slugs(
    core: Pressluft, token: str, local_node: NodeRecord
) -> None:
    assert _refusal_problems(core, lambda v: core.sites.create(token, "Hostile", v),
                             HOSTILE_SLUGS, "site.create", "slug") == []


def test_node_register_refuses_hostile_names(core: Pressluft, token: str) -> None:
    assert _refusal_problems(core, lambda v: core.nodes.register(token, v, "n1.example.com"),
                             HOSTILE_SLUGS, "node.register", "name") == []


def test_node_register_refuses_hostile_hostnames(core: Pressluft, token: str) -> None:
    assert _refusal_problems(core, lambda v: core.nodes.register(token, "node1", v),
                             HOSTILE_HOSTNAMES, "node.register", "hostname") == []


def test_refusal_check_notices_an_accepted_value(core: Pressluft, token: str) -> None:
    """The helper above can fail: a valid name is reported as accepted."""
    problems = _refusal_problems(core, lambda v: core.nodes.register(token, v, "n.example"),
                                 ["fine", "x y"], "node.register", "name")
    assert problems == ["'fine': accepted"]


@pytest.mark.parametrize(("field", "values"), [
    ("ssh_port", [0, 70000, "22; id", "twenty-two"]),
    ("ssh_user", ["root; id", "Root", "", "a" * 40, "$(id)"]),
    ("public_ip", ["1.2.3", "1.2.3.4; id", "::1", "300.1.1.1"]),
])
def test_node_register_refuses_bad_connection_details(
    core: Pressluft, token: str, field: str, values: list[Any]
) -> None:
    def register(value: Any) -> Any:
        return core.nodes.register(token, "node1", "node1.example.com", **{field: value})

    assert _refusal_problems(core, register, values, "node.register", field) == []


def test_site_create_refuses_bad_display_names(
    core: Pressluft, token: str, local_node: NodeRecord
) -> None:
    names = ["", "   ", "x\ny", "x\x1b[31m", "x\x00", "n" * 201]
    assert _refusal_problems(core, lambda v: core.sites.create(token, v, "fine"), names,
                             "site.create", "name") == []


def test_slug_and_hostname_limits_are_exact(
    core: Pressluft, token: str, local_node: NodeRecord
) -> None:
    core.sites.create(token, "Longest", "a" * 39)
    core.sites.create(token, "Digits", "0-9")
    node = core.nodes.register(token, "n" * 39, ".".join(["b" * 63] * 3) + ".example")
    assert node.hostname.startswith("b" * 63)
    assert core.nodes.register(token, "ip", "192.0.2.10").hostname == "192.0.2.10"
    assert core.nodes.register(token, "caps", "Node.Example.COM.").hostname \
        == "node.example.com"


# -- nodes --------------------------------------------------------------------------------


def test_node_register_writes_node_and_audit(
    core: Pressluft, token: str, clock: ManualClock
) -> None:
    node = core.nodes.register(token, "web1", "web1.example.com", ssh_port=2222,
                               ssh_user="deploy", public_ip="203.0.113.5")
    assert uuid.UUID(node.id).version == 4
    assert (node.name, node.hostname, node.ssh_port, node.ssh_user, node.public_ip) == (
        "web1", "web1.example.com", 2222, "deploy", "203.0.113.5")
    assert (node.status, node.is_local, node.state_version) == ("provisioning", False, 1)
    assert node.created_at == node.updated_at == "2026-03-01T12:00:00Z"
    assert core.nodes.get(token, "web1") == core.nodes.get(token, node.id) == node
    assert [n.name for n in core.nodes.list(token)] == ["web1"]
    audit = [r for r in _audit_rows(core) if r["action"] == "node.register"]
    assert [(r["resource_id"], r["result"]) for r in audit] == [(node.id, "ok")]
    with pytest.raises(NotFoundError):
        core.nodes.get(token, "web2")


def test_duplicate_node_name_and_second_local_node_are_refused(
    core: Pressluft, token: str, local_node: NodeRecord
) -> None:
    with pytest.raises(ValidationError) as refused:
        core.nodes.register(token, "local", "other.example.com")
    assert refused.value.field == "name"
    with pytest.raises(ValidationError) as refused:
        core.nodes.register(token, "second", "localhost", is_local=True)
    assert refused.value.field == "is_local"
    assert [n.name for n in core.nodes.list(token)] == ["local"]


# -- sites --------------------------------------------------------------------------------


def test_site_create_writes_site_environment_job_and_audit(
    core: Pressluft, token: str, local_node: NodeRecord
) -> None:
    before = _counts(core)
    job = core.sites.create(token, "My Blog", "my-blog")
    after = _counts(core)
    for table, grown in (("sites", 1), ("environments", 1), ("jobs", 1), ("audit_logs", 1)):
        assert after[table] == before[table] + grown, table

    site = core.sites.get(token, "my-blog")
    assert core.sites.get(token, site.id) == site
    assert (site.name, site.slug, site.state_version) == ("My Blog", "my-blog", 1)
    assert site.status in ("active", "deploying")
    (env,) = core.environments.list(token, "my-blog")
    assert site.primary_environment_id == env.id
    assert (env.site_id, env.slug, env.environment_type, env.node_id) == (
        site.id, "production", "production", local_node.id)
    assert (env.promotion_preset, env.drift_status, env.state_version) == (
        "content-protect", "unknown", 1)
    assert env.source_environment_id is None and env.current_release_id is None
    assert core.environments.get(token, "my-blog", "production") == env
    assert core.environments.get(token, site.id, env.id) == env

    assert (job.job_type, job.status, job.site_id, job.environment_id, job.node_id) == (
        "site_create", "queued", site.id, env.id, local_node.id)
    assert (job.attempt_count, job.max_attempts) == (0, 3)
    assert job.payload["site_id"] == site.id
    assert core.jobs.get(token, job.id) == job
    for value in (site.id, env.id, job.id):
        assert uuid.UUID(value).version == 4
    for stamp in (site.created_at, env.created_at, job.created_at):
        assert stamp == "2026-03-01T12:00:00Z"

    (audit,) = [r for r in _audit_rows(core) if r["action"] == "site.create"]
    assert (audit["resource_type"], audit["resource_id"], audit["result"]) == (
        "site", site.id, "ok")
    assert audit["user_id"] == core.auth.require(token).user_id


def test_site_create_is_one_transaction(
    core: Pressluft, token: str, local_node: NodeRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while enqueueing the job leaves no site and no environment behind."""

    def broken_enqueue(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(sites_service.jobs, "enqueue", broken_enqueue)
    before, audit_before = _counts(core), _audit_rows(core)
    with pytest.raises(RuntimeError):
        core.sites.create(token, "My Blog", "my-blog")
    after = _counts(core)
    assert after.pop("audit_logs") == before.pop("audit_logs") + 1
    assert after == before
    (new,) = [row for row in _audit_rows(core) if row not in audit_before]
    assert (new["action"], new["resource_id"]) == ("site.create", "my-blog")
    assert new["result"].startswith("error:")
    assert "disk on fire" not in new["result"]


def test_duplicate_slug_is_refused_and_audited(
    core: Pressluft, token: str, local_node: NodeRecord
) -> None:
    core.sites.create(token, "Blog", "blog")
    with pytest.raises(ValidationError, match="already exists"):
        core.sites.create(token, "Blog again", "blog")
    assert _refusal_problems(core, lambda v: core.sites.create(token, "Again", v), ["blog"],
                             "site.create", "slug") == []


def test_site_create_refusals_for_references(
    core: Pressluft, token: str, local_node: NodeRecord
) -> None:
    with pytest.raises(NotFoundError):
        core.sites.create(token, "Blog", "blog", node="no-such-node")
    with pytest.raises(ValidationError) as refused:
        core.sites.create(token, "Blog", "blog", promotion_preset="everything-protect")
    assert refused.value.field == "promotion_preset"
    assert "content-protect, commerce-protect" in str(refused.value)
    assert core.sites.list(token) == []


def test_site_create_needs_a_node(core: Pressluft, token: str) -> None:
    with pytest.raises(ValidationError) as refused:
        core.sites.create(token, "Blog", "blog")
    assert refused.value.field == "node"
    assert core.sites.list(token) == []


def test_site_on_a_decommissioned_node_is_refused(
    core: Pressluft, token: str, local_node: NodeRecord
) -> None:
    from pressluft_core.concurrency import update_versioned
    from pressluft_core.models import Node

    update_versioned(Node, local_node.id, 1, core.rt.clock, status="decommissioned")
    with pytest.raises(StateError, match="decommissioned"):
        core.sites.create(token, "Blog", "blog")
    assert core.sites.list(token) == []


# -- preview URLs (DESIGN.md §6) -----------------------------------------------------------


def test_preview_url_falls_back_to_sslip_io(core: Pressluft, token: str) -> None:
    core.nodes.register(token, "web1", "web1.example.com", public_ip="203.0.113.45",
                        is_local=True)
    job = core.sites.create(token, "Blog", "blog")
    env = core.environments.get(token, "blog", "production")
    assert env.id == job.environment_id
    assert env.preview_url == f"http://{env.id[:8]}.203-0-113-45.sslip.io"


def test_preview_url_uses_the_preview_domain(
    core: Pressluft, token: str, local_node: NodeRecord
) -> None:
    core.settings.set(token, "preview_domain", "WP.Example.com")
    # https preview URLs need the wildcard certificate, got through DNS-01: refused first.
    before = _counts(core)
    with pytest.raises(ValidationError) as refused:
        core.sites.create(token, "Blog", "blog")
    assert refused.value.field == "dns01_provider" and "wp.example.com" in str(refused.value)
    after = _counts(core)
    assert after.pop("audit_logs") == before.pop("audit_logs") + 1
    assert after == before
    core.settings.set(token, "dns01_provider", "webhook")
    core.sites.create(token, "Blog", "blog")
    env = core.environments.get(token, "blog", "production")
    assert env.preview_url == f"https://{env.id[:8]}.wp.example.com"

    # Fixed at creation: changing the setting later does not move existing environments.
    core.settings.set(token, "preview_domain", "other.example.org")
    assert core.environments.get(token, "blog", "production").preview_url == env.preview_url


def test_no_preview_url_without_public_ip_or_preview_domain(
    core: Pressluft, token: str
) -> None:
    core.nodes.register(token, "web1", "web1.example.com", is_local=True)
    before = _counts(core)
    with pytest.raises(ValidationError) as refused:
        core.sites.create(token, "Blog", "blog")
    assert refused.value.field == "node.public_ip"
    assert "preview_domain" in str(refused.value)
    after = _counts(core)
    assert after.pop("audit_logs") == before.pop("audit_logs") + 1
    assert after == before


# -- settings -----------------------------------------------------------------------------


BAD_SETTINGS = [
    ("preview_domain", "bad domain!"),
    ("preview_domain", "café.example"),
    ("preview_domain", "fe80::1%$(id)"),
    ("control_plane_domain", "x'; rm -rf / #"),
    ("dns01_provider", "Cloud Flare"),
    ("dns01_credentials_json", "[1, 2]"),
    ("dns01_credentials_json", "{not json"),
    ("s3_endpoint_url", "ftp://s3.example.com"),
    ("s3_endpoint_url", "http://bad host/"),
    ("s3_bucket", "Upper_Case"),
    ("s3_region", "us east 1"),
    ("s3_prefix", "../../etc"),
    ("s3_access_key_id", "has space"),
    ("s3_secret_access_key", "x" * 300),
    ("backup_retention_days", "0"),
    ("backup_retention_days", "thirty"),
    ("backup_retention_days", "99999"),
    ("acme_directory_url", "not a url"),
    ("acme_email", "nobody"),
]


def test_setting_errors_name_the_key(core: Pressluft, token: str) -> None:
    problems = []
    for key, value in BAD_SETTINGS:
        problems += _refusal_problems(core, lambda v, k=key: core.settings.set(token, k, v),
                                      [value], "settings.set", key)
        if not core.settings.get(token, key).is_default:
            problems.append(f"{key} was stored")
    assert problems == []


def test_unknown_setting_is_refused(core: Pressluft, token: str) -> None:
    with pytest.raises(ValidationError) as refused:
        core.settings.set(token, "preview_domian", "wp.example.com")
    assert refused.value.field == "key"
    assert "'preview_domian' is not a known setting" in str(refused.value)
    assert "preview_domain" in str(refused.value)  # the known keys are listed
    with pytest.raises(ValidationError):
        core.settings.get(token, "nope")
    assert _counts(core)["settings"] == 0


def test_settings_defaults_set_and_unset(
    core: Pressluft, token: str, clock: ManualClock
) -> None:
    keys = {v.key for v in core.settings.list(token)}
    assert {"control_plane_domain", "preview_domain", "dns01_provider",
            "dns01_credentials_json", "s3_bucket", "s3_secret_access_key",
            "backup_retention_days"} <= keys
    assert keys == set(SPECS)
    retention = core.settings.get(token, "backup_retention_days")
    assert (retention.value, retention.is_default) == ("30", True)

    clock.advance(minutes=1)
    changed = core.settings.set(token, "backup_retention_days", "014")
    assert (changed.value, changed.is_default, changed.updated_at) == (
        "14", False, "2026-03-01T12:01:00Z")
    assert core.settings.value("backup_retention_days") == "14"
    core.settings.set(token, "backup_retention_days", "7")
    assert core.settings.get(token, "backup_retention_days").value == "7"

    unset = core.settings.set(token, "backup_retention_days", None)
    assert (unset.value, unset.is_default) == ("30", True)
    assert core.settings.get(token, "preview_domain").is_set is False
    results = [r["result"] for r in _audit_rows(core) if r["action"] == "settings.set"]
    assert results == ["ok", "ok", "ok"]


# -- jobs ---------------------------------------------------------------------------------


def test_jobs_get_by_unique_prefix(
    core: Pressluft, token: str, local_node: NodeRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = iter([
        "abcd1111-0000-4000-8000-000000000001",
        "abcd2222-0000-4000-8000-000000000002",
        "ffff0000-0000-4000-8000-000000000003",
    ])
    monkeypatch.setattr(jobs_service, "new_id", lambda: next(ids))
    for _ in range(3):
        jobs_service.enqueue(core.rt, "node_check", node_id=local_node.id, payload={})

    assert core.jobs.get(token, "abcd1").id.startswith("abcd1111")
    assert core.jobs.get(token, "abcd2222-0000").id.startswith("abcd2222")
    assert core.jobs.get(token, "ffff").id.startswith("ffff0000")
    full = "ffff0000-0000-4000-8000-000000000003"
    assert core.jobs.get(token, full).id == full
    with pytest.raises(ValidationError, match="several jobs") as ambiguous:
        core.jobs.get(token, "abcd")
    assert ambiguous.value.field == "job_id"
    for missing in ("abc", "0000", "zzzz", "ABCD1", "%", "abcd_", ""):
        with pytest.raises(NotFoundError):
            core.jobs.get(token, missing)


def test_jobs_list_filters(
    core: Pressluft, token: str, local_node: NodeRecord, clock: ManualClock
) -> None:
    first = core.sites.create(token, "One", "one")
    clock.advance(seconds=1)
    second = core.sites.create(token, "Two", "two")
    listed = core.jobs.list(token)
    assert [j.id for j in listed] == [second.id, first.id]  # newest first
    assert [j.id for j in core.jobs.list(token, site_id=first.site_id)] == [first.id]
    assert [j.id for j in core.jobs.list(token, status="queued")] == [second.id, first.id]
    assert core.jobs.list(token, status="succeeded") == []
    assert len(core.jobs.list(token, job_type="site_create", limit=1)) == 1
    assert all(json.loads(j.payload_json) == j.payload for j in listed)


def test_enqueue_enforces_scope(core: Pressluft, local_node: NodeRecord) -> None:
    with pytest.raises(ValidationError) as refused:
        jobs_service.enqueue(core.rt, "site_create", payload={}, node_id=local_node.id)
    assert refused.value.field == "site_id"
    with pytest.raises(ValidationError) as refused:
        jobs_service.enqueue(core.rt, "node_check", payload={})
    assert refused.value.field == "node_id"
    with pytest.raises(ValidationError) as refused:
        jobs_service.enqueue(core.rt, "rm -rf", payload={}, node_id=local_node.id)
    assert refused.value.field == "job_type"
    assert _counts(core)["jobs"] == 0


def test_read_services_need_a_session(core: Pressluft, token: str) -> None:
    calls = [
        lambda t: core.sites.list(t), lambda t: core.nodes.list(t),
        lambda t: core.environments.list(t), lambda t: core.jobs.list(t),
        lambda t: core.settings.list(t), lambda t: core.audit.list(t),
    ]
    for call, bad in itertools.product(calls, ["", "nope"]):
        with pytest.raises(Exception) as refused:
            call(bad)
        assert type(refused.value).__name__ == "AuthError"
    for call in calls:
        call(token)


def test_url_settings_refuse_embedded_credentials(core, token):
    with pytest.raises(ValidationError, match="must not carry credentials") as refused:
        core.settings.set(token, "s3_endpoint_url", "https://key:s3cret@s3.example.com")
    assert "s3cret" not in str(refused.value)
    assert core.settings.get(token, "s3_endpoint_url").is_set is False


def test_node_public_ip_update_is_versioned_validated_and_audited(core, token, clock):
    from pressluft_core.errors import ConflictError

    node = core.nodes.register(token, "web-1", "web1.example.com")
    updated = core.nodes.update(token, "web-1", public_ip="203.0.113.7")
    assert (updated.public_ip, updated.state_version) == ("203.0.113.7", node.state_version + 1)
    with pytest.raises(ConflictError, match="changed by someone else"):
        core.nodes.update(token, "web-1", public_ip="203.0.113.8",
                          expected_version=node.state_version)
    with pytest.raises(ValidationError, match="public_ip"):
        core.nodes.update(token, "web-1", public_ip="not-an-ip; rm -rf /")
    assert core.nodes.get(token, "web-1").public_ip == "203.0.113.7"
    results = [a.result.split(":")[0] for a in core.audit.list(token, action="node.update")]
    assert sorted(results) == ["ok", "refused", "refused"]


def test_check_deploy_source_is_deploys_checks_and_writes_nothing(
        core: Pressluft, token: str, tmp_path: Path) -> None:
    """The console asks this before production's confirmation: the same refusals as
    ``deploy`` (one source, a safe URL and ref, an archive that exists), nothing written."""
    before = _counts(core)
    archive = tmp_path / "theme.zip"
    archive.write_bytes(b"PK")
    for kwargs, field in (({}, "source"),
                          ({"git_url": "https://x.example/r.git", "archive": str(archive)},
                           "source"),
                          ({"git_url": "--upload-pack=touch /tmp/pwned"}, "git_url"),
                          ({"git_url": "https://x.example/r.git", "git_ref": "main;id"},
                           "git_ref"),
                          ({"archive": str(tmp_path / "missing.zip")}, "archive")):
        with pytest.raises(ValidationError) as refused:
            core.environments.check_deploy_source(token, **kwargs)
        assert refused.value.field == field
    core.environments.check_deploy_source(token, git_url="git@github.com:acme/theme.git")
    core.environments.check_deploy_source(token, archive=str(archive))
    assert _counts(core) == before
