"""Certificates through certbot: HTTP-01 for a domain, DNS-01 (webhook or plugin) for the
preview wildcard, removal and expiry dates.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .._common import Failed, Refused, node_archive, run, say
from .names import ACME_ROOT, LETSENCRYPT, RENEW_HOOK, cert_dir, has_cert, hostname, hostnames
from .nginx import ensure_tls_default_server

# -- certificates ---------------------------------------------------------------------------

def renew_hook() -> None:
    """Renewals (certbot's timer or cron job) are served only after nginx reloads."""
    RENEW_HOOK.parent.mkdir(parents=True, exist_ok=True)
    content = ("#!/bin/sh\n# Managed by Pressluft (domainctl): serve renewed certificates.\n"
               "nginx -t -q || exit 1\n"
               "if [ -d /run/systemd/system ]; then exec systemctl reload nginx; fi\n"
               "exec nginx -s reload\n")
    if not RENEW_HOOK.is_file() or RENEW_HOOK.read_text() != content:
        RENEW_HOOK.write_text(content)
    os.chmod(RENEW_HOOK, 0o755)


def renewal_server(host: str) -> str | None:
    conf = LETSENCRYPT / "renewal" / f"{host}.conf"
    if not conf.is_file():
        return None
    match = re.search(r"^server\s*=\s*(\S+)", conf.read_text(errors="replace"), re.M)
    return match.group(1) if match else None


def certbot_problem(output: str) -> str:
    """The lines of certbot's output that say what went wrong."""
    wanted = [line.strip() for line in output.splitlines()
              if re.match(r"\s*(Domain|Type|Detail|Error|An unexpected error|urn:|"
                          r"Hint|Could not|Unable|Challenge failed)", line)]
    text = "; ".join(dict.fromkeys(wanted)) or output.strip()[-800:]
    return text[:1500]


def not_after(host: str) -> str | None:
    """The certificate's expiry as ISO-8601 UTC, from ``openssl x509 -enddate``."""
    cert = cert_dir(host) / "cert.pem"
    if not cert.is_file():
        return None
    text = ""
    if shutil.which("openssl"):
        text = run(["openssl", "x509", "-enddate", "-noout", "-in", str(cert)]).stdout.decode()
        text = text.strip().split("=", 1)[-1]
    else:  # python's own decoder, for nodes without the openssl tool
        import ssl
        text = ssl._ssl._test_decode_cert(str(cert))["notAfter"]  # type: ignore[attr-defined]
    stamp = time.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y %Z")
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", stamp)


def certbot_base(data: dict, name: str) -> tuple[list[str], dict[str, str], str]:
    """``certbot certonly`` for the certificate ``name`` from the ACME server in ``data``
    (``directory_url``, ``email``, ``ca_bundle``): (argv so far, environment, URL)."""
    url = data.get("directory_url")
    if not isinstance(url, str) or not re.fullmatch(r"https?://[A-Za-z0-9.:\[\]-]+(/[\w./~%-]*)?",
                                                    url):
        raise Refused(f"directory_url {url!r} is not valid")
    email = data.get("email")
    if email is not None and (not isinstance(email, str) or not re.fullmatch(
            r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}", email)):
        raise Refused(f"email {email!r} is not valid")
    bundle = data.get("ca_bundle")
    if bundle is not None and (not isinstance(bundle, str) or not os.path.isfile(bundle)):
        raise Failed(f"the ACME CA bundle {bundle!r} is not a file on this node")
    if shutil.which("certbot") is None:
        raise Failed("certbot is not installed: run node provision first")
    renew_hook()
    argv = ["certbot", "certonly", "--cert-name", name, "--server", url, "--agree-tos",
            "--non-interactive", "--keep-until-expiring"]
    argv += ["--email", email, "--no-eff-email"] if email else \
        ["--register-unsafely-without-email"]
    previous = renewal_server(name)
    if previous is not None and previous != url:
        say(f"the certificate {name} came from {previous}: requesting a new one")
        argv.append("--force-renewal")
    env = dict(os.environ)
    if bundle:
        env["REQUESTS_CA_BUNDLE"] = bundle
    return argv, env, url


def certbot(argv: list[str], env: dict[str, str], seconds: int, what: str, name: str,
            url: str) -> None:
    """Run certbot for ``what``; Failed with its own reason unless certificate ``name``
    is there afterwards."""
    try:
        proc = run(argv, check=False, timeout=seconds, env=env)
    except subprocess.TimeoutExpired:
        raise Failed(f"certbot did not finish within {seconds} s for {what}") from None
    output = (proc.stdout + proc.stderr).decode(errors="replace")
    if proc.returncode != 0 or not has_cert(name):
        raise Failed(f"certbot could not get a certificate for {what} from {url}: "
                     f"{certbot_problem(output)}")


def cmd_issue(data: dict) -> dict:
    host = hostname(data.get("hostname"))
    argv, env, url = certbot_base(data, host)
    Path(ACME_ROOT, ".well-known", "acme-challenge").mkdir(parents=True, exist_ok=True)
    argv += ["--webroot", "-w", ACME_ROOT, "-d", host]
    before = not_after(host) if has_cert(host) else None
    say(f"requesting a certificate for {host} from {url} (HTTP-01, webroot {ACME_ROOT})")
    certbot(argv, env, 600, host, host, url)
    expires = not_after(host)
    issued = before is None or expires != before or "--force-renewal" in argv
    say(f"certificate for {host} {'issued' if issued else 'already valid'}, expires {expires}")
    return {"not_after": expires, "issued": issued}


def cmd_issue_wildcard(data: dict) -> dict:
    """``*.<domain>`` through DNS-01: provider ``webhook`` (POST ``{"host", "value"}`` to
    ``set_url`` and ``{"host"}`` to ``clear_url``, as pebble-challtestsrv's API takes them)
    or a certbot DNS plugin (``python3-certbot-dns-<provider>``) whose credentials file
    is made from the JSON keys (``{"api_token": …}`` → ``dns_cloudflare_api_token = …``).
    Credentials live in a root-only temporary directory for the run only."""
    domain = hostname(data.get("domain"), "domain")
    name = f"wildcard.{domain}"
    provider = data.get("provider")
    if not isinstance(provider, str) or not re.fullmatch(r"[a-z0-9]{2,30}", provider):
        raise Refused(f"provider {provider!r} is not valid")
    credentials = data.get("credentials") or {}
    if not isinstance(credentials, dict) or not all(
            isinstance(k, str) and re.fullmatch(r"[a-z0-9_]{1,60}", k) and isinstance(v, str)
            and "\n" not in v and "\r" not in v for k, v in credentials.items()):
        raise Refused("credentials must be a JSON object of lower-case keys and one-line "
                      "string values")
    if provider == "webhook":
        for key in ("set_url", "clear_url"):
            if not re.fullmatch(r"https?://\S+", credentials.get(key, "")):
                raise Refused(f"the webhook provider needs {key} (an http(s) URL)")
    ensure_tls_default_server()
    url = data.get("directory_url")
    expires = not_after(name) if has_cert(name) else None
    if not data.get("renew") and expires is not None and renewal_server(name) == url and \
            expires > time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30 * 86400)):
        say(f"certificate {name} for *.{domain} is valid until {expires}: nothing to do")
        return {"cert_name": name, "not_after": expires, "issued": False,
                "fullchain": str(cert_dir(name) / "fullchain.pem")}
    argv, env, url = certbot_base(data, name)
    argv += ["-d", f"*.{domain}", "--preferred-challenges", "dns"]
    with tempfile.TemporaryDirectory(prefix="pressluft-dns01-") as work:
        os.chmod(work, 0o700)
        if provider == "webhook":
            config = Path(work, "webhook.json")
            config.write_text(json.dumps(credentials))
            hook = f"{shlex.quote(sys.executable)} {shlex.quote(node_archive())} " \
                   "domainctl dns01-hook"
            argv += ["--manual", "--manual-auth-hook", f"{hook} set {shlex.quote(str(config))}",
                     "--manual-cleanup-hook", f"{hook} clear {shlex.quote(str(config))}"]
        else:
            module = f"certbot_dns_{provider}"
            if run(["python3", "-c", f"import {module}"], check=False).returncode != 0:
                raise Failed(f"no certbot plugin for dns01_provider {provider} on this node: "
                             f"install python3-certbot-dns-{provider} (or use webhook)")
            ini = Path(work, "credentials.ini")
            ini.write_text("".join(f"dns_{provider}_{k} = {v}\n"
                                   for k, v in credentials.items()))
            os.chmod(ini, 0o600)
            argv += [f"--dns-{provider}", f"--dns-{provider}-credentials", str(ini)]
        say(f"requesting a certificate for *.{domain} from {url} (DNS-01 via {provider})")
        certbot(argv, env, 900, f"*.{domain}", name, url)
    expires = not_after(name)
    say(f"certificate {name} for *.{domain}: expires {expires}")
    return {"cert_name": name, "not_after": expires, "issued": True,
            "fullchain": str(cert_dir(name) / "fullchain.pem")}


def dns01_hook(action: str, config_path: str) -> int:
    """certbot's manual hook for the webhook provider (certbot sets CERTBOT_DOMAIN, without
    the ``*.``, and CERTBOT_VALIDATION)."""
    import urllib.request

    config = json.loads(Path(config_path).read_text())
    host = f"_acme-challenge.{os.environ['CERTBOT_DOMAIN']}."
    body = {"host": host}
    if action == "set":
        body["value"] = os.environ["CERTBOT_VALIDATION"]
    headers = {"Content-Type": "application/json"}
    if config.get("authorization"):
        headers["Authorization"] = config["authorization"]
    request = urllib.request.Request(config[f"{action}_url"], data=json.dumps(body).encode(),
                                     headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        print(f"dns01 {action} {host}: HTTP {answer.status}", flush=True)
    if action == "set" and config.get("propagation_seconds"):
        time.sleep(float(config["propagation_seconds"]))
    return 0


def cmd_remove_cert(data: dict) -> dict:
    host = hostname(data.get("hostname"))
    if not (LETSENCRYPT / "renewal" / f"{host}.conf").exists() and not cert_dir(host).exists():
        say(f"no certificate for {host}")
        return {"removed": False}
    run(["certbot", "delete", "--cert-name", host, "--non-interactive"], timeout=120)
    say(f"certificate for {host} deleted")
    return {"removed": True}


def cmd_expiry(data: dict) -> dict:
    found: dict[str, str | None] = {}
    for host in hostnames(data.get("hostnames", []), "hostnames"):
        found[host] = not_after(host)
        say(f"{host}: {'expires ' + found[host] if found[host] else 'no certificate'}")
    return {"certificates": found}
