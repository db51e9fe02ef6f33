"""The environment's domains nginx file (a server block per domain, tested and reloaded,
put back when nginx refuses it), the TLS default server and the PHP-FPM reload.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from .._common import (
    ACME_SNIPPET,
    Failed,
    Placement,
    Refused,
    listens,
    reload_nginx,
    run,
    say,
    systemd,
    tested_php_fpm,
    wordpress_locations,
    write_if_changed,
)
from .names import (
    SITES_AVAILABLE,
    SITES_ENABLED,
    TLS_DEFAULT,
    URL_RE,
    cert_dir,
    has_cert,
    hostnames,
)

# -- nginx ----------------------------------------------------------------------------------


def cmd_reload_php(data: dict) -> dict:
    """A graceful PHP-FPM reload after ``wp-config.php`` changed: its path stays the same,
    so opcache would serve the old WP_HOME until it revalidates (2 s by default, never
    with ``opcache.validate_timestamps=0``). Provisioning sets ``process_control_timeout``
    so requests in flight finish first."""
    _, version = tested_php_fpm()
    if systemd():
        run(["systemctl", "reload", f"php{version}-fpm"])
    else:
        pid = int(Path(f"/run/php/php{version}-fpm.pid").read_text().strip())
        os.kill(pid, signal.SIGUSR2)
    say(f"php-fpm{version} reloaded (opcache reads wp-config.php again)")
    return {}


def tls_default_server() -> str:
    """Unknown names on 443 get no certificate at all (not some site's one, which would
    name that site to anyone who asks)."""
    return ("# Managed by Pressluft (domainctl): unknown host names on 443 get no "
            "certificate.\nserver {\n" + listens(443, " ssl default_server")
            + "    server_name _;\n    ssl_reject_handshake on;\n}\n")


def write_tls_default_server() -> bool:
    """:func:`tls_default_server` written and enabled; True if that changed anything."""
    tls_file = SITES_AVAILABLE / TLS_DEFAULT
    changed = write_if_changed(tls_file, tls_default_server())
    if not (SITES_ENABLED / TLS_DEFAULT).is_symlink():
        (SITES_ENABLED / TLS_DEFAULT).symlink_to(tls_file)
        changed = True
    return changed


def ensure_tls_default_server() -> None:
    """Before https preview URLs are served: nginx reloaded if the TLS default server was
    missing (taken out again if nginx does not accept it)."""
    if write_tls_default_server():
        try:
            reload_nginx()
        except Failed:
            (SITES_ENABLED / TLS_DEFAULT).unlink(missing_ok=True)
            raise


class Target(Placement):
    """The environment the domains belong to (names checked as envctl checks them)."""

    def __init__(self, data: dict) -> None:
        super().__init__(data)
        # Sorts before envctl's pressluft-<user>.conf ('-' < '.').
        self.file = SITES_AVAILABLE / f"{self.pool_name}-domains.conf"
        self.link = SITES_ENABLED / self.file.name


def domains_config(target: Target, domains: list[str], serve: set[str],
                   redirect_to: str, noindex: bool = False) -> str:
    parts = [f"# Managed by Pressluft (domainctl): the domains of environment "
             f"{target.env_id}.\n# Rewritten by every domain job; edits are lost.\n"]
    for host in domains:
        tls = has_cert(host)
        http_target = f"https://{host}" if tls and host in serve else redirect_to
        parts.append(f"server {{\n{listens(80)}    server_name {host};\n"
                     f"    include {ACME_SNIPPET};\n"
                     f"    location / {{ return 301 {http_target}$request_uri; }}\n}}\n")
        if not tls:
            continue
        robots = '    add_header X-Robots-Tag "noindex, nofollow" always;\n' if noindex else ""
        body = robots + wordpress_locations(str(target.current), target.socket,
                                            target.pool_name) if host in serve \
            else f"    location / {{ return 301 {redirect_to}$request_uri; }}\n"
        live = cert_dir(host)
        parts.append(f"server {{\n{listens(443, ' ssl http2')}    server_name {host};\n"
                     f"    ssl_certificate {live}/fullchain.pem;\n"
                     f"    ssl_certificate_key {live}/privkey.pem;\n{body}}}\n")
    return "\n".join(parts)


def wait_until_served(hosts: list[str], seconds: float = 5.0) -> None:
    """An nginx reload takes effect asynchronously (docs/stack-notes.md, pitfall 3)."""
    deadline = time.monotonic() + seconds
    for host in hosts:
        while time.monotonic() < deadline:
            proc = run(["curl", "-s", "-k", "-o", "/dev/null", "-w", "%{http_code}",
                        "--max-time", "2", "--resolve", f"{host}:443:127.0.0.1",
                        f"https://{host}/.well-known/acme-challenge/pressluft-probe"],
                       check=False)
            if proc.stdout.decode().strip() not in ("", "000"):
                break
            time.sleep(0.05)


def cmd_configure(data: dict) -> dict:
    target = Target(data)
    domains = hostnames(data.get("domains", []), "domains")
    serve = set(hostnames(data.get("serve", []), "serve"))
    redirect_to = data.get("redirect_to")
    if not isinstance(redirect_to, str) or not URL_RE.fullmatch(redirect_to):
        raise Refused(f"redirect_to {redirect_to!r} is not valid")
    missing = sorted(h for h in serve if h not in domains or not has_cert(h))
    if missing:
        raise Failed(f"no certificate on this node for {', '.join(missing)}: it cannot "
                     "serve over https")
    changed = write_tls_default_server()
    old = target.file.read_text() if target.file.is_file() else None
    if domains:
        config = domains_config(target, domains, serve, redirect_to,
                                bool(data.get("noindex")))
        if write_if_changed(target.file, config):
            changed = True
        if not target.link.is_symlink():
            target.link.symlink_to(target.file)
            changed = True
    elif old is not None or target.link.is_symlink():
        target.link.unlink(missing_ok=True)
        target.file.unlink(missing_ok=True)
        changed = True
    if changed:
        try:
            reload_nginx()
        except Failed:
            if old is None:
                target.link.unlink(missing_ok=True)
                target.file.unlink(missing_ok=True)
            else:
                target.file.write_text(old)
                if not target.link.is_symlink():
                    target.link.symlink_to(target.file)
            raise
        wait_until_served([h for h in domains if has_cert(h)])
    tls = [h for h in domains if has_cert(h)]
    for host in domains:
        role = "serves WordPress" if host in serve else f"redirects to {redirect_to}"
        say(f"{host}: {role}" + ("" if host in tls else " (http only: no certificate yet)"))
    say("nginx reloaded" if changed else "nginx: no changes")
    return {"changed": changed, "tls": tls}
