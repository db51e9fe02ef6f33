"""``pressluft domain add|primary|remove|list|certificates|check-expiry|preview-cert``: the
same services the console calls (``--wait`` runs the job here, its log printed live)."""

from __future__ import annotations

import argparse
from datetime import datetime

from pressluft_core.cli import output
from pressluft_core.cli.environments import _queued, _wait
from pressluft_core.cli.handlers import _session
from pressluft_core.services.domains import EXPIRY_WARNING_DAYS, needs_attention


def domain_add(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.domains.add(token, args.site, args.env, args.hostname, primary=args.primary)
    return _queued(app, job, args, f"domain {args.hostname}")


def domain_primary(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.domains.make_primary(token, args.site, args.hostname)
    return _queued(app, job, args, f"primary domain {args.hostname}")


def domain_remove(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.domains.remove(token, args.site, args.hostname, confirm=args.confirm,
                             new_primary=args.new_primary)
    return _queued(app, job, args, f"removing domain {args.hostname}")


def domain_list(args: argparse.Namespace) -> int:
    app, token = _session(args)
    domains = app.domains.list(token, args.site, args.env)
    if args.json:
        output.emit_json(domains)
        return 0
    envs = {e.id: e for e in app.environments.list(token)}
    sites = {s.id: s.slug for s in app.sites.list(token)}
    primary = app.domains.primary_ids(token)
    now = app.rt.clock.now()

    def where(env_id: str) -> str:
        env = envs.get(env_id)
        return f"{sites.get(env.site_id, '?')}/{env.slug}" if env else env_id[:8]

    output.table(((d.hostname, where(d.environment_id), "yes" if d.id in primary else "",
                   d.tls_status, _expiry(d.expires_at, d.tls_status == "active", now),
                   d.tls_error or "") for d in domains),
                 ["domain", "environment", "primary", "tls", "expires", "problem"])
    for node in app.nodes.list(token):
        if node.preview_cert_name:
            print(f"preview certificate {node.preview_cert_name} on node {node.name}: "
                  f"expires {_expiry(node.preview_cert_expires_at, True, now)}")
    return 0


def domain_certificates(args: argparse.Namespace) -> int:
    """The console's certificates screen: every certificate, soonest expiry first; exit
    status 1 when one needs attention, so a cron line or monitoring check can use it."""
    app, token = _session(args)
    certificates = app.overview.certificates(token)
    if args.json:
        output.emit_json(certificates)
    else:
        now = app.rt.clock.now()
        output.table(((c.name, c.holder, c.node_name, c.tls_status,
                       _expiry(c.expires_at, c.tls_status == "active", now),
                       c.checked_at or "", c.error or "") for c in certificates),
                     ["certificate", "for", "node", "tls", "expires", "checked", "problem"])
    return 1 if any(c.flagged for c in certificates) else 0


def _expiry(expires_at: str | None, active: bool, now: datetime) -> str:
    """``(!)`` as the console's ``⚠``: within the warning window, or active and unknown."""
    if expires_at is None:
        return "unknown (!)" if active else "-"
    return expires_at + (" (!)" if needs_attention(expires_at, active, now) else "")


def domain_check_expiry(args: argparse.Namespace) -> int:
    app, token = _session(args)
    code = _queued(app, app.domains.check_expiry(token), args, "certificate expiry check")
    if args.wait and code == 0:  # the job queued one check per node: run those too
        for job in app.jobs.list(token, status="queued", job_type="cert_check"):
            code = max(code, _queued(app, job, args, f"certificates on node {job.node_id[:8]}"))
    return code


def domain_preview_cert(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.domains.preview_certificate(token, args.node)
    return _queued(app, job, args, f"wildcard preview certificate on {args.node}")


def add_commands(add, groups) -> None:  # type: ignore[no-untyped-def]
    domain = groups.add_parser("domain", help="custom domains and their certificates"
                               ).add_subparsers(dest="domain_command", required=True,
                                                metavar="ACTION")
    create = add(domain, "add", domain_add, "attach a domain: DNS check, certificate (ACME "
                 "HTTP-01), nginx; the first one (or --primary) becomes the URL WordPress "
                 "answers on", json_output=True)
    create.add_argument("site", help="site id or slug")
    create.add_argument("env", help="environment id or slug")
    create.add_argument("hostname", help="e.g. shop.example.com (its A record must point "
                        "at the node)")
    create.add_argument("--primary", action="store_true",
                        help="make it the primary domain (URLs rewritten to it)")
    _wait(create)
    primary = add(domain, "primary", domain_primary, "make a domain the primary one (URLs "
                  "rewritten to it, the others redirect to it)", json_output=True)
    primary.add_argument("site", help="site id or slug")
    primary.add_argument("hostname")
    _wait(primary)
    remove = add(domain, "remove", domain_remove, "detach a domain: server blocks and "
                 "certificate removed; a primary domain's URLs go back to the preview URL",
                 json_output=True)
    remove.add_argument("site", help="site id or slug")
    remove.add_argument("hostname")
    remove.add_argument("--confirm", required=True, metavar="HOSTNAME",
                        help="the domain, typed again")
    remove.add_argument("--new-primary", metavar="HOSTNAME",
                        help="another domain of the environment to move the URLs to "
                             "instead of the preview URL")
    _wait(remove)
    listing = add(domain, "list", domain_list, "list domains (!: certificate expires within "
                  f"{EXPIRY_WARNING_DAYS} days or its expiry is unknown)", json_output=True)
    listing.add_argument("site", nargs="?", help="site id or slug")
    listing.add_argument("env", nargs="?", help="environment id or slug")
    add(domain, "certificates", domain_certificates, "every certificate on every node "
        f"(domains and wildcard preview certificates), soonest expiry first; exit 1 when one "
        f"expires within {EXPIRY_WARNING_DAYS} days or its expiry is unknown",
        json_output=True)
    check = add(domain, "check-expiry", domain_check_expiry, "read every certificate's expiry "
                "date from its node now (also runs daily)", json_output=True)
    _wait(check)
    wildcard = add(domain, "preview-cert", domain_preview_cert, "get the wildcard "
                   "certificate *.<preview_domain> on a node through ACME DNS-01 "
                   "(dns01_provider, dns01_credentials_json)", json_output=True)
    wildcard.add_argument("node", help="node id or name")
    _wait(wildcard)
