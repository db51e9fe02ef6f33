"""Domains without a node: the service's checks and rows, the expiry watch with an injected
clock, and the pure parts of the node-side ``domainctl`` (DNS client against a local UDP
server, resolver syntax, the nginx file it writes, certbot's error lines). End to end with
certbot, pebble and nginx: tests/wordpress/test_domains_e2e.py."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pressluft_core.clock import new_id
from pressluft_core.errors import NotFoundError, StateError, ValidationError
from pressluft_core.jobs.handlers.domains import dns_problem
from pressluft_core.jobs.handlers.envctl import canonical_url
from pressluft_core.models import AuditLog, Domain, Environment, Job, Node, Release, Site
from pressluft_core.node.ctl import _common
from pressluft_core.node.ctl.domainctl import certs, cli, names, nginx, urls
from pressluft_core.node.ctl.domainctl import dns as dnsclient
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.jobs.test_remote_jobs import run_job

# -- service ----------------------------------------------------------------------------------

@pytest.fixture(name="env")
def env_fixture(core, token, local_node) -> Environment:  # type: ignore[no-untyped-def]
    """An active production environment with a release (as after ``site_create``)."""
    core.sites.create(token, "Shop", "shop")
    env = Environment.get(Environment.site_id == Site.get(Site.slug == "shop").id)
    release = new_id()
    Release.insert(id=release, environment_id=env.id, source_type="upload", source_ref="t",
                   path="/srv/x", health_status="healthy", created_at=core.rt.now()).execute()
    Environment.update(status="active", current_release_id=release).where(
        Environment.id == env.id).execute()
    Job.update(status="succeeded").execute()
    return Environment.get_by_id(env.id)


def test_add_writes_a_pending_domain_and_queues_its_job(core, token, env) -> None:  # type: ignore[no-untyped-def]
    job = core.domains.add(token, "shop", "production", "Shop.Example.COM.", primary=True)
    domain = Domain.get(Domain.hostname == "shop.example.com")
    assert domain.tls_status == "pending" and domain.tls_issuer == "letsencrypt"
    assert domain.environment_id == env.id
    assert job.job_type == "domain_add" and job.environment_id == env.id
    assert job.payload == {"domain_id": domain.id, "hostname": "shop.example.com",
                           "primary": True}
    audit = AuditLog.get(AuditLog.action == "domain.add")
    assert audit.resource_id == "shop.example.com" and audit.result == "ok"
    assert [d.hostname for d in core.domains.list(token, "shop")] == ["shop.example.com"]
    assert core.domains.list(token, "shop", "production")[0].id == domain.id
    # A second job for the environment waits until this one is done.
    with pytest.raises(StateError, match="queued or running"):
        core.domains.add(token, "shop", "production", "www.example.com")


@pytest.mark.parametrize(("hostname", "why"), [
    ("192.0.2.1", "IP address"),
    ("localhost", "fully qualified"),
    ("*.example.com", "RFC 1123"),
    ("shop example.com", "RFC 1123"),
    ("a;b.example.com", "RFC 1123"),
    ("x" * 64 + ".example.com", "RFC 1123"),
    ("abc.preview.example", "preview domain"),
])
def test_hostnames_that_cannot_be_a_custom_domain_are_refused(
        core, token, env, hostname, why) -> None:  # type: ignore[no-untyped-def]
    core.settings.set(token, "preview_domain", "preview.example")
    with pytest.raises(ValidationError, match=why) as refused:
        core.domains.add(token, "shop", "production", hostname)
    assert refused.value.field == "hostname"
    assert not Domain.select().exists() and not Job.select().where(
        Job.job_type == "domain_add").exists()
    assert AuditLog.get(AuditLog.action == "domain.add").result.startswith("refused")


def test_a_domain_of_another_environment_and_an_inactive_one_are_refused(
        core, token, env) -> None:  # type: ignore[no-untyped-def]
    core.domains.add(token, "shop", "production", "shop.example.com")
    Job.update(status="succeeded").execute()
    other = new_id()
    Environment.insert(id=other, site_id=env.site_id, name="Staging", slug="staging",
                       environment_type="staging", status="active", node_id=env.node_id,
                       promotion_preset="content-protect", preview_url="http://x.example",
                       drift_status="unknown", created_at=core.rt.now(),
                       updated_at=core.rt.now(), current_release_id=env.current_release_id
                       ).execute()
    with pytest.raises(ValidationError, match="already a domain of shop/production"):
        core.domains.add(token, "shop", "staging", "shop.example.com")
    Environment.update(status="deploying").where(Environment.id == other).execute()
    with pytest.raises(StateError, match="deploying"):
        core.domains.add(token, "shop", "staging", "staging.example.com")


def test_a_node_without_public_ip_has_nothing_to_point_at(core, token, env) -> None:  # type: ignore[no-untyped-def]
    Node.update(public_ip=None).execute()
    with pytest.raises(ValidationError) as refused:
        core.domains.add(token, "shop", "production", "shop.example.com")
    assert refused.value.field == "node.public_ip"


def test_adding_again_retries_a_failed_domain(core, token, env) -> None:  # type: ignore[no-untyped-def]
    core.domains.add(token, "shop", "production", "shop.example.com")
    Job.update(status="failed").execute()
    Domain.update(tls_status="failed", tls_error="no A record").execute()
    job = core.domains.add(token, "shop", "production", "shop.example.com")
    domain = Domain.get(Domain.hostname == "shop.example.com")
    assert domain.tls_status == "pending" and domain.tls_error is None
    assert domain.state_version == 2 and job.payload["domain_id"] == domain.id


def test_remove_needs_the_hostname_typed_again(core, token, env) -> None:  # type: ignore[no-untyped-def]
    core.domains.add(token, "shop", "production", "shop.example.com")
    Job.update(status="succeeded").execute()
    with pytest.raises(ValidationError) as refused:
        core.domains.remove(token, "shop", "shop.example.com", confirm="shop")
    assert refused.value.field == "confirm"
    with pytest.raises(NotFoundError):
        core.domains.remove(token, "shop", "nope.example.com", confirm="nope.example.com")
    job = core.domains.remove(token, "shop", "shop.example.com", confirm="shop.example.com")
    assert job.job_type == "domain_remove"
    assert job.payload == {"domain_id": Domain.get().id, "hostname": "shop.example.com"}


def test_a_domain_of_a_deleted_environment_can_still_be_removed(core, token, env) -> None:  # type: ignore[no-untyped-def]
    now = core.rt.now()
    domain_id = new_id()
    Domain.insert(id=domain_id, environment_id=env.id, hostname="shop.example.com",
                  tls_status="active", tls_issuer="letsencrypt", created_at=now,
                  updated_at=now).execute()
    Environment.update(primary_domain_id=domain_id, deleted_at=now, status="active").execute()
    with pytest.raises(StateError, match="deleted environment"):
        core.domains.make_primary(token, "shop", "shop.example.com")
    job = core.domains.remove(token, "shop", "shop.example.com", confirm="shop.example.com")
    assert job.job_type == "domain_remove" and job.environment_id == env.id


def test_remove_to_a_new_primary_needs_an_active_domain_of_the_same_environment(
        core, token, env) -> None:  # type: ignore[no-untyped-def]
    now = core.rt.now()
    ids = {}
    for host, status in (("shop.example.com", "active"), ("www.example.com", "failed")):
        ids[host] = new_id()
        Domain.insert(id=ids[host], environment_id=env.id, hostname=host, tls_status=status,
                      tls_issuer="letsencrypt", created_at=now, updated_at=now).execute()
    Environment.update(primary_domain_id=ids["shop.example.com"]).execute()
    with pytest.raises(StateError, match="no active certificate"):
        core.domains.remove(token, "shop", "shop.example.com", confirm="shop.example.com",
                            new_primary="www.example.com")
    with pytest.raises(ValidationError, match="not the primary"):
        core.domains.remove(token, "shop", "www.example.com", confirm="www.example.com",
                            new_primary="shop.example.com")
    Domain.update(tls_status="active").execute()
    job = core.domains.remove(token, "shop", "shop.example.com", confirm="shop.example.com",
                              new_primary="www.example.com")
    assert job.payload["new_primary_domain_id"] == ids["www.example.com"]
    with pytest.raises(StateError, match="queued or running"):
        core.domains.make_primary(token, "shop", "www.example.com")


def test_canonical_url_is_the_primary_domain_once_its_certificate_is_active(
        core, token, env) -> None:  # type: ignore[no-untyped-def]
    now = core.rt.now()
    domain_id = new_id()
    Domain.insert(id=domain_id, environment_id=env.id, hostname="shop.example.com",
                  tls_status="pending", tls_issuer="letsencrypt", created_at=now,
                  updated_at=now).execute()
    Environment.update(primary_domain_id=domain_id).execute()
    assert canonical_url(Environment.get_by_id(env.id)) == env.preview_url
    Domain.update(tls_status="active").execute()
    assert canonical_url(Environment.get_by_id(env.id)) == "https://shop.example.com"
    assert core.domains.primary_ids(token) == {domain_id}
    with pytest.raises(StateError, match="already the primary"):
        core.domains.make_primary(token, "shop", "shop.example.com")


def test_expiring_certificates_with_an_injected_clock(core, token, env, clock) -> None:  # type: ignore[no-untyped-def]
    now = core.rt.now()
    for host, status, expires in (("soon.example.com", "active", "2026-03-15T00:00:00Z"),
                                  ("later.example.com", "active", "2026-06-01T00:00:00Z"),
                                  ("unknown.example.com", "active", None),
                                  ("failed.example.com", "failed", None)):
        Domain.insert(id=new_id(), environment_id=env.id, hostname=host, tls_status=status,
                      tls_issuer="letsencrypt", created_at=now, updated_at=now,
                      expires_at=expires).execute()
    assert [d.hostname for d in core.domains.expiring(token)] == \
        ["unknown.example.com", "soon.example.com"]
    clock.advance(days=75)
    token, _ = core.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)  # the old session expired
    assert [d.hostname for d in core.domains.expiring(token)] == \
        ["unknown.example.com", "soon.example.com", "later.example.com"]


def test_every_certificate_in_one_list_soonest_expiry_first(core, token, env) -> None:  # type: ignore[no-untyped-def]
    """The console's certificates screen: active ones by expiry (unknown first), the node's
    wildcard among them, those not issued yet last; a deleted environment's domain says so."""
    now = core.rt.now()
    for host, status, expires in (("later.example.com", "active", "2026-06-01T00:00:00Z"),
                                  ("unknown.example.com", "active", None),
                                  ("failed.example.com", "failed", None),
                                  ("soon.example.com", "active", "2026-03-15T00:00:00Z")):
        Domain.insert(id=new_id(), environment_id=env.id, hostname=host, tls_status=status,
                      tls_issuer="letsencrypt", created_at=now, updated_at=now,
                      expires_at=expires, tls_error="DNS" if status == "failed" else None
                      ).execute()
    Node.update(preview_cert_name="wildcard.preview.example",
                preview_cert_expires_at="2026-04-01T00:00:00Z").where(
        Node.id == env.node_id).execute()
    certificates = core.overview.certificates(token)
    assert [(c.name, c.kind, c.tls_status) for c in certificates] == [
        ("unknown.example.com", "domain", "active"), ("soon.example.com", "domain", "active"),
        ("wildcard.preview.example", "preview", "active"),
        ("later.example.com", "domain", "active"), ("failed.example.com", "domain", "failed")]
    node = Node.get_by_id(env.node_id)
    assert {(c.holder, c.node_name) for c in certificates if c.kind == "domain"} == {
        ("shop/production", node.name)}
    assert certificates[-1].error == "DNS"
    Environment.update(deleted_at=now).where(Environment.id == env.id).execute()
    deleted = core.overview.certificates(token)[0]
    assert (deleted.holder, deleted.environment_id) == ("shop/production (deleted)", None)


def test_the_daily_expiry_job_queues_one_check_per_node_with_certificates(
        core, token, env) -> None:  # type: ignore[no-untyped-def]
    now = core.rt.now()
    Domain.insert(id=new_id(), environment_id=env.id, hostname="shop.example.com",
                  tls_status="active", tls_issuer="letsencrypt", created_at=now,
                  updated_at=now).execute()
    job = core.domains.check_expiry(token)
    assert job.job_type == "cert_expiry" and job.node_id is None
    assert run_job(core, job.id).status == "succeeded"
    (check,) = Job.select().where(Job.job_type == "cert_check")
    assert check.node_id == env.node_id and check.status == "queued"
    # Not twice while one is pending.
    again = core.domains.check_expiry(token)
    assert run_job(core, again.id).status == "succeeded"
    assert Job.select().where(Job.job_type == "cert_check").count() == 1


def test_the_expiry_job_is_registered_daily() -> None:
    from pressluft_core.jobs.registry import load_handlers
    from pressluft_core.jobs.scheduler import PERIODIC

    load_handlers()
    (job,) = [p for p in PERIODIC if p.job_type == "cert_expiry"]
    from datetime import UTC, datetime

    assert job.period(datetime(2026, 3, 1, 23, tzinfo=UTC)) == "2026-03-01"


def test_a_wildcard_preview_certificate_needs_its_settings(core, token, local_node) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as refused:
        core.domains.preview_certificate(token, "local")
    assert refused.value.field == "preview_domain"
    core.settings.set(token, "preview_domain", "preview.example")
    with pytest.raises(ValidationError) as refused:
        core.domains.preview_certificate(token, "local")
    assert refused.value.field == "dns01_provider"
    core.settings.set(token, "dns01_provider", "webhook")
    job = core.domains.preview_certificate(token, "local")
    assert job.job_type == "preview_cert" and job.node_id == local_node.id
    assert job.site_id is None and job.payload == {}
    with pytest.raises(NotFoundError):
        core.domains.preview_certificate(token, "nope")


def test_wildcard_credentials_are_checked_before_certbot_runs() -> None:
    base = {"domain": "preview.example", "directory_url": "https://acme.example/dir"}
    for provider, credentials, why in (
            ("webhook", {"set_url": "http://x.example/set"}, "clear_url"),
            ("webhook", {"set_url": "x", "clear_url": "y"}, "set_url"),
            ("Cloud flare", {}, "provider"),
            ("cloudflare", {"api_token": "a\nb"}, "one-line"),
            ("cloudflare", {"API-Token": "x"}, "lower-case")):
        with pytest.raises(_common.Refused, match=why):
            certs.cmd_issue_wildcard({**base, "provider": provider,
                                          "credentials": credentials})


def test_the_dns_error_names_the_a_record_to_create() -> None:
    text = dns_problem("shop.example.com", "203.0.113.5", [], "web-1", "the system resolver")
    assert "create the DNS record `shop.example.com. A 203.0.113.5`" in text
    assert "no A record" in text and "No certificate was requested" in text
    text = dns_problem("shop.example.com", "203.0.113.5", ["192.0.2.1"], "web-1", "x")
    assert "points at 192.0.2.1" in text
    text = dns_problem("shop.example.com", "203.0.113.5", ["192.0.2.1", "203.0.113.5"],
                       "web-1", "x")
    assert "also points at 192.0.2.1: remove those A records" in text


@pytest.mark.parametrize(("value", "ok"), [
    ("192.0.2.53", True), ("192.0.2.53:5353", True), ("[2001:db8::53]:53", True),
    ("2001:db8::53", True), ("dns.example.com", False), ("192.0.2.53:99999", False),
    ("192.0.2.53:53; rm", False),
])
def test_the_dns_resolver_setting(core, token, value, ok) -> None:  # type: ignore[no-untyped-def]
    if ok:
        assert core.settings.set(token, "dns_resolver", value).value == value
    else:
        with pytest.raises(ValidationError) as refused:
            core.settings.set(token, "dns_resolver", value)
        assert refused.value.field == "dns_resolver"


# -- domainctl: DNS ------------------------------------------------------------------------

def _name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


class FakeDNS:
    """A UDP (and TCP) DNS server on loopback answering from a table: name -> list of
    ("A", "1.2.3.4") / ("CNAME", "target"); names not in it get NXDOMAIN; a name mapped to
    an int gets that rcode. Answers use compression pointers to the question name."""

    def __init__(self, records: dict[str, object], truncate: bool = False) -> None:
        self.records = records
        self.truncate = truncate
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen()
        self.queries: list[str] = []
        for target in (self._serve_udp, self._serve_tcp):
            threading.Thread(target=target, daemon=True).start()

    def answer(self, query: bytes, over_tcp: bool) -> bytes:
        ident = query[:2]
        offset, labels = 12, []
        while query[offset]:
            labels.append(query[offset + 1:offset + 1 + query[offset]].decode())
            offset += query[offset] + 1
        question = query[12:offset + 5]
        name = ".".join(labels)
        self.queries.append(name)
        entry = self.records.get(name)
        if isinstance(entry, int) or entry is None:
            rcode = 3 if entry is None else entry
            return ident + struct.pack(">HHHHH", 0x8180 | rcode, 1, 0, 0, 0) + question
        if self.truncate and not over_tcp:
            return ident + struct.pack(">HHHHH", 0x8380, 1, 0, 0, 0) + question
        answers = b""
        owner = b"\xc0\x0c"  # pointer to the question name
        for kind, value in entry:  # type: ignore[union-attr]
            if kind == "A":
                answers += owner + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(value)
            else:
                target = _name(value)
                answers += owner + struct.pack(">HHIH", 5, 1, 60, len(target)) + target
                owner = _name(value)
        return ident + struct.pack(">HHHHH", 0x8180, 1, len(entry), 0, 0) + question + answers

    def _serve_udp(self) -> None:
        try:
            while True:
                data, peer = self.udp.recvfrom(4096)
                if not data:  # shut down
                    return
                self.udp.sendto(self.answer(data, False), peer)
        except OSError:  # closed by stop()
            return

    def _serve_tcp(self) -> None:
        try:
            while True:
                conn, _ = self.tcp.accept()
                with conn:
                    size = struct.unpack(">H", conn.recv(2))[0]
                    reply = self.answer(conn.recv(size), True)
                    conn.sendall(struct.pack(">H", len(reply)) + reply)
        except OSError:  # closed by stop()
            return

    def stop(self) -> None:
        for sock in (self.udp, self.tcp):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture
def dns() -> Iterator[FakeDNS]:
    server = FakeDNS({
        "shop.example.com": [("A", "203.0.113.5")],
        "two.example.com": [("A", "203.0.113.5"), ("A", "192.0.2.1")],
        "www.example.com": [("CNAME", "shop.example.com"), ("A", "203.0.113.5")],
        "alias.example.com": [("CNAME", "edge.example.net")],
        "edge.example.net": [("A", "198.51.100.7")],
        "broken.example.com": 2,
    })
    yield server
    server.stop()


def test_dns_client_reads_a_records_cnames_and_rcodes(dns: FakeDNS) -> None:
    server = ("127.0.0.1", dns.port)
    assert dnsclient.resolve_a("shop.example.com", server) == ["203.0.113.5"]
    assert dnsclient.resolve_a("two.example.com", server) == ["192.0.2.1", "203.0.113.5"]
    assert dnsclient.resolve_a("www.example.com", server) == ["203.0.113.5"]
    # A CNAME whose target the resolver did not resolve: asked for in a second query.
    assert dnsclient.resolve_a("alias.example.com", server) == ["198.51.100.7"]
    assert dns.queries[-2:] == ["alias.example.com", "edge.example.net"]
    assert dnsclient.resolve_a("nothing.example.com", server) == []
    with pytest.raises(_common.Failed, match="SERVFAIL"):
        dnsclient.resolve_a("broken.example.com", server)


def test_a_truncated_answer_is_asked_again_over_tcp() -> None:
    server = FakeDNS({"big.example.com": [("A", "203.0.113.9")]}, truncate=True)
    try:
        assert dnsclient.resolve_a("big.example.com", ("127.0.0.1", server.port)) == \
            ["203.0.113.9"]
    finally:
        server.stop()


def test_a_silent_resolver_fails_with_a_sentence() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        with pytest.raises(_common.Failed, match="did not answer"):
            dnsclient.dns_query("x.example.com", silent.getsockname(), timeout=0.05)


@pytest.mark.parametrize(("value", "parsed"), [
    (None, None), ("", None), ("192.0.2.53", ("192.0.2.53", 53)),
    ("127.0.0.1:8053", ("127.0.0.1", 8053)), ("[2001:db8::1]:5353", ("2001:db8::1", 5353)),
    ("2001:db8::1", ("2001:db8::1", 53)),
])
def test_resolver_syntax(value, parsed) -> None:  # type: ignore[no-untyped-def]
    assert dnsclient.parse_resolver(value) == parsed


@pytest.mark.parametrize("value", ["dns.example.com", "1.2.3.4:x", "1.2.3.4:53 -x", 53])
def test_bad_resolvers_are_refused(value) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(_common.Refused):
        dnsclient.parse_resolver(value)


# -- domainctl: nginx, certbot --------------------------------------------------------------

@pytest.mark.parametrize("value", ["shop.example.com;", "shop", "../etc.example", "a b.com",
                                   "Shop.example.com", "-x.example.com", "x.example.com\n",
                                   "x.example.com}", ""])
def test_domainctl_refuses_host_names_that_could_escape_their_place(value) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(_common.Refused):
        names.hostname(value)


TARGET = {"sites_root": "/var/www/sites", "site_id": "11111111-1111-4111-8111-111111111111",
          "environment_id": "22222222-2222-4222-8222-222222222222", "user": "wp222222222222"}


def test_nginx_file_serves_the_primary_and_redirects_the_others(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(nginx, "has_cert", lambda host: host != "new.example.com")
    target = nginx.Target(TARGET)
    text = nginx.domains_config(
        target, ["shop.example.com", "www.example.com", "new.example.com"],
        {"shop.example.com"}, "https://shop.example.com", noindex=True)
    blocks = text.split("server {")[1:]
    assert len(blocks) == 5  # 80 + 443 for the two with certificates, 80 for the new one
    shop80, shop443, www80, www443, new80 = blocks
    assert "return 301 https://shop.example.com$request_uri" in shop80
    assert "pressluft-acme.conf" in shop80
    assert "listen 443 ssl" in shop443 and "/etc/letsencrypt/live/shop.example.com/" in shop443
    assert f"root /var/www/sites/{TARGET['site_id']}/{TARGET['environment_id']}/current;" \
        in shop443
    assert "fastcgi_pass unix:/run/php/pressluft-wp222222222222.sock;" in shop443
    assert 'X-Robots-Tag "noindex, nofollow"' in shop443
    assert "uploads/.*\\.(php" in shop443
    assert "return 301 https://shop.example.com$request_uri" in www80
    assert "return 301 https://shop.example.com$request_uri" in www443
    assert "fastcgi_pass" not in www443
    assert "443" not in new80 and "pressluft-acme.conf" in new80
    assert target.file.name == "pressluft-wp222222222222-domains.conf"


def test_configure_refuses_to_serve_a_domain_without_a_certificate(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(nginx, "has_cert", lambda host: False)
    with pytest.raises(_common.Failed, match="no certificate on this node for shop"):
        nginx.cmd_configure({**TARGET, "domains": ["shop.example.com"],
                                 "serve": ["shop.example.com"],
                                 "redirect_to": "https://shop.example.com"})
    with pytest.raises(_common.Refused, match="redirect_to"):
        nginx.cmd_configure({**TARGET, "domains": [], "serve": [],
                                 "redirect_to": "https://x.example.com/$host"})


def test_certbot_problem_keeps_the_lines_that_say_what_went_wrong() -> None:
    output = """Saving debug log to /var/log/letsencrypt/letsencrypt.log
Requesting a certificate for shop.example.com

Certbot failed to authenticate some domains (authenticator: webroot). The Certificate \
Authority reported these problems:
  Domain: shop.example.com
  Type:   unauthorized
  Detail: 203.0.113.5: Invalid response from http://shop.example.com/.well-known/acme-\
challenge/abc: 404

Hint: The Certificate Authority failed to download the temporary challenge files.
Some challenges have failed.
Ask for help or search for solutions at https://community.letsencrypt.org."""
    problem = certs.certbot_problem(output)
    assert problem.startswith("Domain: shop.example.com; Type:   unauthorized; Detail:")
    assert "404" in problem and "Hint:" in problem and "Saving debug" not in problem


def test_the_wp_config_flags_are_read_back(tmp_path: Path) -> None:
    target = {**TARGET, "sites_root": str(tmp_path)}
    shared = tmp_path / TARGET["site_id"] / TARGET["environment_id"] / "shared"
    shared.mkdir(parents=True)
    (shared / "wp-config.php").write_text(
        "<?php\ndefine('WP_HOME', 'http://abc.example');\n$table_prefix = 'xy_';\n"
        "define('DISABLE_WP_CRON', true);\nfunction pressluft_capture_mail($a, $b) {}\n")
    assert urls.cmd_inspect_config(target) == {
        "table_prefix": "xy_", "url": "http://abc.example", "quarantine": True, "cron": False}


def test_domainctl_exit_codes_and_result_line(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cli.os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli.sys, "stdin", _Stdin('{"hostname": "x;y"}'))
    assert cli.main(["domainctl", "check-dns"]) == 2
    assert "domainctl: hostname 'x;y' is not a valid host name" in capsys.readouterr().err
    assert cli.main(["domainctl", "nope"]) == 2
    monkeypatch.setattr(cli.sys, "stdin", _Stdin(json.dumps({"hostnames": []})))
    assert cli.main(["domainctl", "expiry"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == 'result: {"certificates": {}}'


class _Stdin:
    def __init__(self, text: str) -> None:
        self.text = text

    def read(self) -> str:
        return self.text


# -- CLI ----------------------------------------------------------------------------------------

def test_cli_domain_add_list_and_refusals(tmp_path: Path) -> None:
    from pressluft_core.app import Pressluft
    from tests.test_cli import EMAIL, PASSWORD, _json, _one_line_error, _runner

    cli_home = tmp_path / "home"
    logged_in = _runner(cli_home)
    logged_in("init")
    logged_in("admin", "create", "--email", EMAIL, "--name", "Ops", "--password-stdin",
              stdin=PASSWORD + "\n")
    logged_in("login", "--email", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")

    logged_in("node", "add", "local", "--hostname", "localhost", "--local", "--no-check",
              "--public-ip", "127.0.0.1")
    logged_in("site", "create", "Shop", "--slug", "shop")
    app = Pressluft.open(cli_home)
    try:
        release = new_id()
        env = Environment.get(Environment.slug == "production")
        Release.insert(id=release, environment_id=env.id, source_type="upload",
                       source_ref="t", path="/srv/x", health_status="healthy",
                       created_at=app.rt.now()).execute()
        Environment.update(status="active", current_release_id=release).execute()
        Job.update(status="succeeded").execute()
    finally:
        app.close()
    job = _json(logged_in("domain", "add", "shop", "production", "shop.example.com",
                          "--primary", "--json"))
    assert job["job_type"] == "domain_add" and json.loads(job["payload_json"])["primary"]
    listing = logged_in("domain", "list", "shop").stdout
    assert "shop.example.com" in listing and "shop/production" in listing
    assert "pending" in listing
    (row,) = _json(logged_in("domain", "list", "--json"))
    assert row["hostname"] == "shop.example.com" and row["tls_status"] == "pending"
    (cert,) = _json(logged_in("domain", "certificates", "--json"))  # pending: exit 0
    assert (cert["name"], cert["holder"], cert["flagged"]) == ("shop.example.com",
                                                              "shop/production", False)
    app = Pressluft.open(cli_home)
    try:  # issued, but its expiry could not be read: needs attention, exit 1
        Domain.update(tls_status="active").execute()
    finally:
        app.close()
    flagged = logged_in("domain", "certificates", expect=1).stdout
    assert "shop.example.com" in flagged and "unknown (!)" in flagged
    _one_line_error(logged_in("domain", "add", "shop", "production", "192.0.2.1", expect=2),
                    "hostname", "IP address")
    _one_line_error(logged_in("domain", "remove", "shop", "shop.example.com", "--confirm",
                              "shop", expect=2), "confirm", "shop.example.com")


# -- preview URLs -----------------------------------------------------------------------------

def test_regenerate_preview_url_moves_to_what_the_settings_give(core, token, env) -> None:  # type: ignore[no-untyped-def]
    old = env.preview_url
    assert old.startswith("http://") and ".sslip.io" in old
    with pytest.raises(StateError, match="already has the preview URL"):
        core.environments.regenerate_preview_url(token, "shop", "production")
    core.settings.set(token, "preview_domain", "preview.example")
    with pytest.raises(ValidationError) as refused:
        core.environments.regenerate_preview_url(token, "shop", "production")
    assert refused.value.field == "dns01_provider"
    core.settings.set(token, "dns01_provider", "webhook")
    new = f"https://{env.id[:8]}.preview.example"
    assert core.environments.next_preview_url(token, "shop", "production") == new
    job = core.environments.regenerate_preview_url(token, "shop", "production")
    assert job.job_type == "env_preview_url" and job.environment_id == env.id
    assert job.payload == {"preview_url": new, "previous": old}
    assert Environment.get_by_id(env.id).preview_url == old  # the job changes it, when done
    results = [a.result for a in AuditLog.select().where(AuditLog.action == "env.preview_url")
               .order_by(AuditLog.created_at)]
    assert results[0].startswith("refused: environment production already has")
    assert results[-1] == "ok"


def test_preview_tls_certificate_names() -> None:
    from pressluft_core.jobs.handlers.envctl import preview_tls_cert

    assert preview_tls_cert("https://abcd1234.preview.example") == "wildcard.preview.example"
    assert preview_tls_cert("http://abcd1234.203-0-113-5.sslip.io") is None


def test_wildcard_certificates_are_in_the_expiry_watch(core, token, env) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from pressluft_core.clock import to_iso

    node = Node.get_by_id(env.node_id)
    assert core.domains.expiring_preview_certificates(token) == []
    soon = to_iso(core.rt.clock.now() + timedelta(days=5))
    later = to_iso(core.rt.clock.now() + timedelta(days=80))
    Node.update(preview_cert_name="wildcard.preview.example", preview_cert_expires_at=later
                ).where(Node.id == node.id).execute()
    assert core.domains.expiring_preview_certificates(token) == []
    Node.update(preview_cert_expires_at=soon).where(Node.id == node.id).execute()
    (flagged,) = core.domains.expiring_preview_certificates(token)
    assert flagged.name == node.name and flagged.preview_cert_expires_at == soon
    Node.update(preview_cert_expires_at=None).where(Node.id == node.id).execute()
    assert [n.id for n in core.domains.expiring_preview_certificates(token)] == [node.id]
    # The daily job checks that node although none of its domains has a certificate.
    job = core.domains.check_expiry(token)
    run_job(core, job.id)
    assert Job.select().where((Job.job_type == "cert_check") & (Job.node_id == node.id)
                              ).exists()
