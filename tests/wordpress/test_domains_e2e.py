"""Custom domains end to end on this machine's real stack, with pebble as the ACME server
and pebble-challtestsrv as the DNS both pebble and the DNS check ask (scripts/lib/acme.sh
starts them): a domain pointing elsewhere fails before any ACME request; ``shop.test`` gets
a certificate and becomes the URL WordPress answers on (serialized data rewritten); a second
domain redirects to it; a primary switch that fails its health check is rolled back; the
daily expiry check reads the dates; removing the primary goes back to the preview URL."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pressluft_core.jobs.handlers.envctl import env_inputs, node_names
from pressluft_core.models import Domain, Environment, Job, Release
from pressluft_core.node.bundle import command as node_command
from tests.wordpress.stack import Stack, http_get, mysql

RUN_DIR = Path(os.environ.get("PRESSLUFT_TEST_RUN_DIR", "/tmp/pressluft-test"))
PEBBLE_DIR_URL = os.environ.get("PRESSLUFT_TEST_PEBBLE_DIR_URL", "https://127.0.0.1:14000/dir")
PEBBLE_CA = os.environ.get("PRESSLUFT_TEST_PEBBLE_CA", str(RUN_DIR / "pebble" / "ca.pem"))
PEBBLE_MGMT = os.environ.get("PRESSLUFT_TEST_PEBBLE_MGMT_URL", "https://127.0.0.1:15000")
CHALLTESTSRV = os.environ.get("PRESSLUFT_TEST_CHALLTESTSRV_URL", "http://127.0.0.1:8055")
RESOLVER = os.environ.get("PRESSLUFT_TEST_DNS_RESOLVER", "127.0.0.1:8053")
HOSTS = ("shop.test", "www.shop.test", "elsewhere.test", "staging.shop.test",
         "wildcard.preview.test", "wildcard.unreachable.test")


def _pebble_root() -> str | None:
    """pebble's issuing root (made anew by every pebble start), or None when pebble or
    challtestsrv is not running."""
    try:
        context = ssl.create_default_context(cafile=PEBBLE_CA)
        with urllib.request.urlopen(f"{PEBBLE_MGMT}/roots/0", context=context,
                                    timeout=5) as answer:
            root = answer.read().decode()
    except (OSError, ssl.SSLError):
        return None
    try:
        urllib.request.urlopen(f"{CHALLTESTSRV}/", timeout=5).close()
    except urllib.error.HTTPError:
        pass  # it answers 404 on /: it runs
    except OSError:
        return None
    return root


def add_a(host: str, address: str) -> None:
    """``host``'s A record is ``address`` only. challtestsrv appends to what an earlier run
    added: cleared first, or the answer grows run after run until pebble's resolver
    refuses it ("dns: overflowing header size")."""
    for path, body in (("clear-a", {"host": host + "."}),
                       ("add-a", {"host": host + ".", "addresses": [address]})):
        request = urllib.request.Request(f"{CHALLTESTSRV}/{path}",
                                         data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200


def domainctl(command: str, data: dict) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*node_command("domainctl"), command], capture_output=True,
                          input=json.dumps(data).encode(), check=False)


def _clean_node() -> None:
    """What an interrupted run of this module may have left: server blocks and
    certificates of its host names (no other run holds them: see the lock)."""
    for conf in Path("/etc/nginx/sites-available").glob("pressluft-*-domains.conf"):
        text = conf.read_text()
        if any(f"server_name {host};" in text for host in HOSTS):
            Path("/etc/nginx/sites-enabled", conf.name).unlink(missing_ok=True)
            conf.unlink()
    for conf in Path("/etc/nginx/sites-available").glob("pressluft-*.conf"):
        if "live/wildcard.preview.test/" in conf.read_text():  # an https preview block
            Path("/etc/nginx/sites-enabled", conf.name).unlink(missing_ok=True)
            conf.unlink()
    subprocess.run(["nginx", "-s", "reload"], capture_output=True, check=False)
    for host in HOSTS:
        domainctl("remove-cert", {"hostname": host})


@pytest.fixture(scope="module")
def pebble_root(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = _pebble_root()
    if root is None:
        pytest.skip("pebble / pebble-challtestsrv not running (scripts/test starts them: "
                    "scripts/lib/acme.sh)")
    # One run at a time on this machine: the host names, their certificates and server
    # blocks are machine-wide.
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with open(RUN_DIR / "domains-e2e.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _clean_node()
        path = tmp_path_factory.mktemp("pebble") / "root.pem"
        path.write_text(root)
        for key, value in (("acme_directory_url", PEBBLE_DIR_URL), ("acme_email",
                           "e2e@example.com"), ("acme_ca_bundle", PEBBLE_CA),
                           ("dns_resolver", RESOLVER)):
            stack.core.settings.set(stack.token, key, value)
        try:
            yield str(path)
        finally:
            for env in Environment.select():
                domainctl("configure", {**env_inputs(env), "domains": [], "serve": [],
                                        "redirect_to": env.preview_url})
            _clean_node()


@pytest.fixture(scope="module")
def production(stack: Stack, pebble_root: str) -> Environment:
    job = stack.core.sites.create(stack.token, "Shop", "shop", node=stack.node_name)
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    env = stack.env("shop", "production")
    # A serialized option and a JSON-escaped one holding the preview URL, as plugins write.
    value = f"{env.preview_url}/wp-content/uploads/logo.png"
    serialized = f'a:1:{{s:4:"logo";s:{len(value)}:"{value}";}}'
    escaped = json.dumps({"link": env.preview_url + "/cart"}).replace("/", "\\/")
    mysql("INSERT INTO wp_options (option_name, option_value, autoload) VALUES "
          f"('e2e_serialized', '{serialized}', 'no'), "
          f"('e2e_json', '{escaped.replace(chr(92), chr(92) * 2)}', 'no')", node_names(env.id))
    return env


def curl(url: str, root: str, host_ip: str = "127.0.0.1") -> tuple[int, str, str]:
    """(status, Location, body) of an HTTPS/HTTP GET through nginx here, pebble's root
    trusted; status 0 when the TLS handshake or the connection failed."""
    host = url.split("://", 1)[1].split("/", 1)[0]
    port = 443 if url.startswith("https://") else 80
    proc = subprocess.run(["curl", "-sS", "--max-time", "30", "--cacert", root, "--resolve",
                           f"{host}:{port}:{host_ip}", "-D", "-", url], capture_output=True,
                          check=False)
    if proc.returncode != 0:
        return 0, "", proc.stderr.decode(errors="replace")
    head, _, body = proc.stdout.decode(errors="replace").partition("\r\n\r\n")
    status = int(head.split()[1])
    location = re.search(r"^location: (\S+)", head, re.M | re.I)
    return status, location.group(1) if location else "", body


def option(env: Environment, name: str) -> str:
    return mysql(f"SELECT option_value FROM wp_options WHERE option_name = '{name}'",
                 node_names(env.id)).strip()


def domain(host: str) -> Domain:
    return Domain.get(Domain.hostname == host)


def test_a_domain_pointing_elsewhere_fails_before_any_acme_request(
        stack: Stack, production: Environment) -> None:
    add_a("elsewhere.test", "192.0.2.10")
    job = stack.core.domains.add(stack.token, "shop", "production", "elsewhere.test")
    failed = stack.run(job.id)
    assert failed.status == "failed" and failed.error_code == "DNS_MISMATCH"
    assert "create the DNS record `elsewhere.test. A 127.0.0.1`" in failed.error_message
    assert "192.0.2.10" in failed.error_message
    row = domain("elsewhere.test")
    assert row.tls_status == "failed" and "elsewhere.test. A 127.0.0.1" in row.tls_error
    assert "requesting a certificate" not in stack.log(job.id)
    assert "step 2/3" not in stack.log(job.id)
    assert not Path("/etc/letsencrypt/renewal/elsewhere.test.conf").exists()
    env = stack.env("shop", "production")
    assert env.status == "active" and env.primary_domain_id is None
    assert http_get(env.preview_url)[0] == 200
    job = stack.core.domains.remove(stack.token, "shop", "elsewhere.test",
                                    confirm="elsewhere.test")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    assert Domain.get_or_none(Domain.hostname == "elsewhere.test") is None


def test_first_domain_gets_a_certificate_and_becomes_the_url_of_wordpress(
        stack: Stack, production: Environment, pebble_root: str) -> None:
    add_a("shop.test", "127.0.0.1")
    job = stack.core.domains.add(stack.token, "shop", "production", "shop.test")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    row = domain("shop.test")
    env = stack.env("shop", "production")
    assert row.tls_status == "active" and row.tls_error is None
    assert row.expires_at and row.expires_at > "2026"
    assert env.primary_domain_id == row.id and env.status == "active"
    status, _, body = curl("https://shop.test/", pebble_root)
    assert status == 200, body[:500]
    assert "<title>Shop" in body and "https://shop.test/" in body, \
        re.findall(r"<title>.*?</title>|https?://[a-z0-9.-]+", body)[:20]
    assert env.preview_url.split("://")[1] not in body
    assert option(env, "home") == "https://shop.test"
    assert option(env, "siteurl") == "https://shop.test"
    value = "https://shop.test/wp-content/uploads/logo.png"
    assert option(env, "e2e_serialized") == f'a:1:{{s:4:"logo";s:{len(value)}:"{value}";}}'
    assert "https:\\/\\/shop.test\\/cart" in option(env, "e2e_json")
    # http redirects to https; other names on 443 get no certificate at all.
    assert curl("http://shop.test/about/?x=1", pebble_root)[:2] == \
        (301, "https://shop.test/about/?x=1")
    assert curl("https://unknown.test/", pebble_root)[0] == 0
    # The issued certificate is pebble's, checked with its root (curl verified the chain).
    cert = subprocess.run(["openssl", "x509", "-noout", "-issuer", "-in",
                           "/etc/letsencrypt/live/shop.test/cert.pem"], capture_output=True,
                          check=True).stdout.decode()
    assert "Pebble" in cert
    # The releases' health check now runs against the domain.
    assert Release.get_by_id(env.current_release_id).health_status == "healthy"
    assert "healthy" in stack.log(job.id)


def test_a_second_domain_answers_301_to_the_primary(
        stack: Stack, production: Environment, pebble_root: str) -> None:
    add_a("www.shop.test", "127.0.0.1")
    job = stack.core.domains.add(stack.token, "shop", "production", "www.shop.test")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    assert domain("www.shop.test").tls_status == "active"
    assert stack.env("shop", "production").primary_domain_id == domain("shop.test").id
    assert curl("https://www.shop.test/shop/?p=2", pebble_root)[:2] == \
        (301, "https://shop.test/shop/?p=2")
    assert curl("http://www.shop.test/x", pebble_root)[:2] == (301, "https://shop.test/x")
    assert curl("https://shop.test/", pebble_root)[0] == 200


def test_a_primary_switch_that_fails_its_health_check_is_rolled_back(
        stack: Stack, production: Environment, pebble_root: str) -> None:
    env = stack.env("shop", "production")
    release = Path(Release.get_by_id(env.current_release_id).path)
    plugin = release / "wp-content" / "mu-plugins" / "e2e-broken-www.php"
    plugin.parent.mkdir(exist_ok=True)
    plugin.write_text("<?php if (($_SERVER['HTTP_HOST'] ?? '') === 'www.shop.test') "
                      "{ http_response_code(500); exit; }\n")
    try:
        job = stack.core.domains.make_primary(stack.token, "shop", "www.shop.test")
        failed = stack.run(job.id)
    finally:
        plugin.unlink()
    assert failed.status == "failed" and failed.error_code == "HEALTH_CHECK_FAILED"
    assert "moved back to https://shop.test" in failed.error_message
    env = stack.env("shop", "production")
    assert env.status == "active" and env.primary_domain_id == domain("shop.test").id
    assert option(env, "home") == "https://shop.test"
    assert curl("https://shop.test/", pebble_root)[0] == 200
    assert curl("https://www.shop.test/", pebble_root)[:2] == (301, "https://shop.test/")
    leftovers = mysql("SHOW DATABASES").split()
    assert not [d for d in leftovers if d.startswith(node_names(env.id) + "_")]


def test_expiry_dates_are_read_from_the_node(stack: Stack, production: Environment) -> None:
    Domain.update(expires_at=None).execute()
    job = stack.core.domains.check_expiry(stack.token)
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    checks = list(Job.select().where((Job.job_type == "cert_check")
                                     & (Job.status == "queued")))
    assert len(checks) == 1
    assert stack.run(checks[0].id).status == "succeeded", stack.log(checks[0].id)
    enddate = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in",
                              "/etc/letsencrypt/live/shop.test/cert.pem"],
                             capture_output=True, check=True).stdout.decode()
    year = enddate.split()[-2]
    for host in ("shop.test", "www.shop.test"):
        assert domain(host).expires_at.startswith(year) and domain(host).tls_checked_at
    assert stack.core.domains.expiring(stack.token) == []
    assert {d.hostname for d in stack.core.domains.expiring(stack.token, within_days=3650)} \
        == {"shop.test", "www.shop.test"}


def test_removing_the_primary_goes_back_to_the_preview_url(
        stack: Stack, production: Environment, pebble_root: str) -> None:
    job = stack.core.domains.remove(stack.token, "shop", "shop.test", confirm="shop.test")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    env = stack.env("shop", "production")
    assert env.primary_domain_id is None and env.status == "active"
    assert Domain.get_or_none(Domain.hostname == "shop.test") is None
    assert option(env, "home") == env.preview_url
    value = f"{env.preview_url}/wp-content/uploads/logo.png"
    assert option(env, "e2e_serialized") == f'a:1:{{s:4:"logo";s:{len(value)}:"{value}";}}'
    status, body = http_get(env.preview_url)
    assert status == 200 and env.preview_url.split("://")[1].encode() in body
    assert b"shop.test" not in body
    assert not Path("/etc/letsencrypt/live/shop.test").exists()
    assert curl("https://shop.test/", pebble_root)[0] == 0
    # The remaining domain now redirects to the preview URL.
    assert curl("https://www.shop.test/a", pebble_root)[:2] == (301, env.preview_url + "/a")
    job = stack.core.domains.remove(stack.token, "shop", "www.shop.test",
                                    confirm="www.shop.test")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    assert not Path("/etc/nginx/sites-enabled/pressluft-"
                    f"{node_names(env.id)}-domains.conf").exists()
    assert http_get(env.preview_url)[0] == 200


WILDCARD_SETTINGS = {
    "preview_domain": "preview.test", "dns01_provider": "webhook",
    "dns01_credentials_json": json.dumps({"set_url": f"{CHALLTESTSRV}/set-txt",
                                          "clear_url": f"{CHALLTESTSRV}/clear-txt"})}


@contextlib.contextmanager
def wildcard_settings(stack: Stack) -> Iterator[None]:
    """``preview_domain`` and the DNS-01 settings for the block, unset afterwards."""
    for key, value in WILDCARD_SETTINGS.items():
        stack.core.settings.set(stack.token, key, value)
    try:
        yield
    finally:
        for key in WILDCARD_SETTINGS:
            stack.core.settings.set(stack.token, key, None)


def test_a_wildcard_preview_certificate_is_issued_through_dns01(stack: Stack) -> None:
    with wildcard_settings(stack):
        job = stack.core.domains.preview_certificate(stack.token, stack.node_name)
        assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    cert = "/etc/letsencrypt/live/wildcard.preview.test/cert.pem"
    text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-issuer",
                           "-in", cert], capture_output=True, check=True).stdout.decode()
    assert "DNS:*.preview.test" in text and "Pebble" in text
    assert "DNS-01 via webhook" in stack.log(job.id)
    assert f"{CHALLTESTSRV}/set-txt" not in stack.log(job.id)  # credentials stay out of logs


def test_an_https_preview_url_is_served_with_the_wildcard_certificate(
        stack: Stack, production: Environment, pebble_root: str) -> None:
    before = stack.env("shop", "production")
    assert before.preview_url.startswith("http://") and before.primary_domain_id is None
    with wildcard_settings(stack):
        job = stack.core.environments.regenerate_preview_url(stack.token, "shop", "production")
        assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    env = stack.env("shop", "production")
    host = f"{env.id[:8]}.preview.test"
    assert env.preview_url == f"https://{host}" and env.status == "active"
    # The certificate the previous test got is used as it is: no second ACME order.
    assert "nothing to do" in stack.log(job.id)
    node = stack.core.nodes.get(stack.token, stack.node_name)
    assert node.preview_cert_name == "wildcard.preview.test" and node.preview_cert_expires_at
    # WordPress moved with it, serialized data included; served over https with the
    # wildcard certificate (pebble's root trusted), port 80 redirects there.
    assert option(env, "home") == env.preview_url
    value = f"{env.preview_url}/wp-content/uploads/logo.png"
    assert option(env, "e2e_serialized") == f'a:1:{{s:4:"logo";s:{len(value)}:"{value}";}}'
    status, _, body = curl(f"https://{host}/", pebble_root)
    assert status == 200 and host in body and before.preview_url not in body
    assert curl(f"http://{host}/a?b=1", pebble_root)[:2] == (301, f"https://{host}/a?b=1")
    health = stack.core.environments.health(stack.token, "shop", "production")
    assert stack.run(health.id).status == "succeeded", stack.log(health.id)

    # preview_domain unset: back to the sslip.io URL over http, the https block gone.
    job = stack.core.environments.regenerate_preview_url(stack.token, "shop", "production")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    env = stack.env("shop", "production")
    assert env.preview_url == before.preview_url and option(env, "home") == before.preview_url
    assert http_get(env.preview_url)[0] == 200
    assert curl(f"https://{host}/", pebble_root)[0] == 0
    conf = Path(f"/etc/nginx/sites-available/pressluft-{node_names(env.id)}.conf").read_text()
    assert "ssl_certificate" not in conf and host not in conf


def test_deleting_an_environment_takes_its_domains_with_it(
        stack: Stack, production: Environment, pebble_root: str) -> None:
    job = stack.core.environments.clone(stack.token, "shop", "production", "Staging",
                                        "staging")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    add_a("staging.shop.test", "127.0.0.1")
    job = stack.core.domains.add(stack.token, "shop", "staging", "staging.shop.test")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    env = stack.env("shop", "staging")
    assert curl("https://staging.shop.test/", pebble_root)[0] == 200
    domains_file = Path(f"/etc/nginx/sites-enabled/pressluft-{node_names(env.id)}-domains.conf")
    assert domains_file.exists()
    job = stack.core.environments.delete(stack.token, "shop", "staging", confirm="staging",
                                         without_backup=True)
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    assert "domains removed: staging.shop.test" in stack.log(job.id)
    assert Domain.get_or_none(Domain.hostname == "staging.shop.test") is None
    assert not domains_file.exists()
    assert not Path("/etc/letsencrypt/live/staging.shop.test").exists()
    assert curl("https://staging.shop.test/", pebble_root)[0] == 0
    assert Environment.get_by_id(env.id).deleted_at is not None


def test_a_new_site_gets_an_https_preview_url(stack: Stack, pebble_root: str) -> None:
    with wildcard_settings(stack):
        job = stack.core.sites.create(stack.token, "Preview Shop", "preview-shop",
                                      node=stack.node_name)
        assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    env = stack.env("preview-shop", "production")
    host = f"{env.id[:8]}.preview.test"
    assert env.preview_url == f"https://{host}" and option(env, "home") == env.preview_url
    status, _, body = curl(f"https://{host}/", pebble_root)
    assert status == 200 and "Preview Shop" in body


def test_a_dns_provider_that_does_not_answer_fails_the_site_before_the_node_changes(
        stack: Stack, pebble_root: str) -> None:
    """The wildcard certificate is got before anything else: a dead DNS API fails the job
    with the ACME server's answer, the site stays failed (not active) and nothing of it is
    on the node."""
    settings = {"preview_domain": "unreachable.test", "dns01_provider": "webhook",
                "dns01_credentials_json": json.dumps({"set_url": "http://127.0.0.1:9/set",
                                                      "clear_url": "http://127.0.0.1:9/clear"})}
    for key, value in settings.items():
        stack.core.settings.set(stack.token, key, value)
    try:
        job = stack.core.sites.create(stack.token, "Dead DNS", "dead-dns",
                                      node=stack.node_name)
        failed = stack.run(job.id)
    finally:
        for key in settings:
            stack.core.settings.set(stack.token, key, None)
    assert failed.status == "failed", stack.log(job.id)
    assert failed.error_code == "ACME_FAILED", failed.error_message
    assert "*.unreachable.test" in failed.error_message
    env = stack.env("dead-dns", "production")
    assert env.status == "failed"
    assert not Path(f"/etc/nginx/sites-available/pressluft-{node_names(env.id)}.conf").exists()
    assert not Path("/etc/letsencrypt/live/wildcard.unreachable.test").exists()
