"""Node-side work on custom domains and their certificates (DESIGN.md §7), run as root.

    python3 domainctl.py <command>   < input.json

Copied to nodes and run by their ``python3`` (>= 3.9): one file, standard library only,
the same conventions as ``envctl.py``: inputs as JSON on stdin, reaching commands only as
argv lists; human lines on stdout; the last line is ``result: {json}``; every command is
idempotent. Exit status: 0 done, 1 failed (the reason on stderr), 2 bad input.

Commands:

- ``check-dns``: the A records of a host name, from a given resolver (``host:port``, a
  small DNS client here: nodes have no ``dig``) or the system's.
- ``issue``: a certificate from an ACME server through certbot, HTTP-01 ``--webroot`` in
  the ACME root every server block (and the 444 default server) serves challenges from.
- ``configure``: one nginx file per environment with a server block per domain: port 80
  answers challenges and redirects to https; port 443 (only once a certificate exists)
  serves WordPress for the domains named in ``serve`` and redirects every other one to
  ``redirect_to``. Tested with ``nginx -t`` and reloaded (never restarted); the previous
  file is put back when the test fails.
- ``remove-cert``: the certificate of a host name, through ``certbot delete``.
- ``expiry``: the ``notAfter`` date of each named host's certificate (``openssl x509``).
- ``stage-url-rewrite``: the environment's database with one URL rewritten to another, in
  the scratch database ``envctl.py restore-swap`` swaps in (``restore-undo`` swaps back).
- ``inspect-config``: table prefix, quarantine and WP-Cron of the environment's
  ``wp-config.php``, so rewriting it for a new URL changes nothing else.
- ``reload-php``: a graceful PHP-FPM reload, so opcache forgets the old ``wp-config.php``.
- ``issue-wildcard``: ``*.<preview domain>`` through DNS-01 (a webhook or a certbot DNS
  plugin); ``dns01-hook set|clear CONFIG`` is the webhook's certbot hook.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ID_RE = re.compile(r"[0-9a-f-]{36}")
NAME_RE = re.compile(r"[a-z][a-z0-9_]{2,31}")
LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOSTNAME_RE = re.compile(rf"(?=.{{1,253}}$){LABEL}(?:\.{LABEL})+")
URL_RE = re.compile(rf"https?://{LABEL}(?:\.{LABEL})*(?::[0-9]{{1,5}})?")
ACME_ROOT = "/var/www/acme-challenge"
ACME_SNIPPET = "/etc/nginx/snippets/pressluft-acme.conf"
LETSENCRYPT = Path("/etc/letsencrypt")
RENEW_HOOK = LETSENCRYPT / "renewal-hooks" / "deploy" / "pressluft-reload-nginx"
SITES_AVAILABLE = Path("/etc/nginx/sites-available")
SITES_ENABLED = Path("/etc/nginx/sites-enabled")
TLS_DEFAULT = "pressluft-default-tls.conf"


class Refused(Exception):
    """Bad input: exit 2 with the reason."""


class Failed(Exception):
    """The work could not be done: exit 1 with the reason."""


def say(line: str) -> None:
    print(line, flush=True)


def run(argv: list[str], *, check: bool = True, timeout: float | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(argv, capture_output=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip() or proc.stdout.decode(
            errors="replace").strip()
        raise Failed(f"{argv[0]} exited {proc.returncode}: {err[-2000:]}")
    return proc


def hostname(value: object, key: str = "hostname") -> str:
    if not isinstance(value, str) or not HOSTNAME_RE.fullmatch(value):
        raise Refused(f"{key} {value!r} is not a valid host name")
    return value


def hostnames(value: object, key: str) -> list[str]:
    if not isinstance(value, list):
        raise Refused(f"{key} must be a list of host names")
    return [hostname(v, key) for v in value]


def cert_dir(host: str) -> Path:
    return LETSENCRYPT / "live" / host


def has_cert(host: str) -> bool:
    return (cert_dir(host) / "fullchain.pem").is_file() and \
        (cert_dir(host) / "privkey.pem").is_file()


# -- DNS ------------------------------------------------------------------------------------

def parse_resolver(value: object) -> tuple[str, int] | None:
    """``None``/empty: the system resolver; else ``ip``, ``ip:port`` or ``[ipv6]:port``."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise Refused(f"resolver {value!r} is not host:port")
    match = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::([0-9]{1,5}))?|([0-9.]+)(?::([0-9]{1,5}))?"
                         r"|([0-9a-fA-F:]+)", value)
    if not match:
        raise Refused(f"resolver {value!r} is not an IP address with an optional :port")
    host = match.group(1) or match.group(3) or match.group(5)
    port = int(match.group(2) or match.group(4) or 53)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise Refused(f"resolver {value!r} is not an IP address with an optional :port"
                      ) from None
    if not 0 < port < 65536:
        raise Refused(f"resolver port {port} is not a port number")
    return host, port


# socket.timeout is TimeoutError only from Python 3.10 on; nodes may run 3.9.
SOCKET_TIMEOUTS = (TimeoutError, getattr(socket, "timeout", TimeoutError))
RCODES = {1: "FORMERR", 2: "SERVFAIL", 4: "NOTIMP", 5: "REFUSED"}


def dns_query(name: str, server: tuple[str, int], qtype: int = 1,
              timeout: float = 3.0) -> tuple[int, list[tuple[str, int, bytes]]]:
    """One recursive query; (rcode, answer records as (owner, type, rdata or name))."""
    ident = random.randrange(1 << 16)
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) \
        + b"\0" + struct.pack(">HH", qtype, 1)
    packet = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    reply = b""
    for attempt in range(3):
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.sendto(packet, server)
                while True:
                    reply, _ = sock.recvfrom(65535)
                    if len(reply) >= 12 and struct.unpack(">H", reply[:2])[0] == ident:
                        break
                break
            except SOCKET_TIMEOUTS:
                if attempt == 2:
                    raise Failed(f"the DNS resolver {server[0]}:{server[1]} did not answer "
                                 f"within {timeout:g} s (3 tries)") from None
            except OSError as exc:
                raise Failed(f"the DNS resolver {server[0]}:{server[1]} cannot be asked: "
                             f"{exc}") from None
    if struct.unpack(">H", reply[2:4])[0] & 0x0200:  # truncated: ask again over TCP
        with socket.create_connection(server, timeout=timeout) as conn:
            conn.sendall(struct.pack(">H", len(packet)) + packet)
            size = struct.unpack(">H", _recv_exactly(conn, 2))[0]
            reply = _recv_exactly(conn, size)
    return _parse_reply(reply)


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise Failed("the DNS resolver closed the TCP connection early")
        data += chunk
    return data


def _read_name(reply: bytes, offset: int) -> tuple[str, int]:
    labels, end, jumps = [], None, 0
    while True:
        length = reply[offset]
        if length & 0xC0 == 0xC0:  # compression pointer
            if end is None:
                end = offset + 2
            offset = struct.unpack(">H", reply[offset:offset + 2])[0] & 0x3FFF
            jumps += 1
            if jumps > 64:
                raise Failed("malformed DNS reply (pointer loop)")
            continue
        offset += 1
        if length == 0:
            break
        labels.append(reply[offset:offset + length].decode("ascii", "replace").lower())
        offset += length
    return ".".join(labels), (end if end is not None else offset)


def _parse_reply(reply: bytes) -> tuple[int, list[tuple[str, int, bytes]]]:
    try:
        flags, qdcount, ancount = struct.unpack(">HHH", reply[2:8])
        offset = 12
        for _ in range(qdcount):
            _, offset = _read_name(reply, offset)
            offset += 4
        answers = []
        for _ in range(ancount):
            owner, offset = _read_name(reply, offset)
            rtype, _, _, length = struct.unpack(">HHIH", reply[offset:offset + 10])
            offset += 10
            rdata = reply[offset:offset + length]
            if rtype == 5:  # CNAME: keep the target name
                rdata = _read_name(reply, offset)[0].encode()
            answers.append((owner, rtype, rdata))
            offset += length
    except (struct.error, IndexError) as exc:
        raise Failed(f"malformed DNS reply: {exc}") from None
    return flags & 0x000F, answers


def resolve_a(name: str, server: tuple[str, int] | None) -> list[str]:
    """IPv4 addresses of ``name`` (CNAMEs followed); [] when it has none (NXDOMAIN too)."""
    if server is None:
        try:
            infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        except socket.gaierror:
            return []
        return sorted({str(info[4][0]) for info in infos})
    target, seen = name, set()
    for _ in range(8):
        rcode, answers = dns_query(target, server)
        if rcode == 3:
            return []
        if rcode:
            raise Failed(f"the DNS resolver {server[0]}:{server[1]} answered "
                         f"{RCODES.get(rcode, rcode)} for {target}")
        chain = {target}
        changed = True
        while changed:  # the owners reachable from the name through CNAMEs in this answer
            changed = False
            for owner, rtype, rdata in answers:
                if rtype == 5 and owner in chain and rdata.decode() not in chain:
                    chain.add(rdata.decode())
                    changed = True
        found = sorted({socket.inet_ntoa(rdata) for owner, rtype, rdata in answers
                        if rtype == 1 and owner in chain and len(rdata) == 4})
        if found:
            return found
        cnames = [rdata.decode() for owner, rtype, rdata in answers
                  if rtype == 5 and owner in chain and rdata.decode() not in seen]
        if not cnames:
            return []
        seen |= chain
        target = cnames[-1]
    raise Failed(f"{name}: more than 8 CNAMEs in a row")


def cmd_check_dns(data: dict) -> dict:
    host = hostname(data.get("hostname"))
    server = parse_resolver(data.get("resolver"))
    addresses = resolve_a(host, server)
    where = f"{server[0]}:{server[1]}" if server else "the system resolver"
    say(f"{host} A {', '.join(addresses) or '(none)'} (asked {where})")
    return {"addresses": addresses, "resolver": where}


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


def cmd_issue(data: dict) -> dict:
    host = hostname(data.get("hostname"))
    argv, env, url = certbot_base(data, host)
    Path(ACME_ROOT, ".well-known", "acme-challenge").mkdir(parents=True, exist_ok=True)
    argv += ["--webroot", "-w", ACME_ROOT, "-d", host]
    before = not_after(host) if has_cert(host) else None
    say(f"requesting a certificate for {host} from {url} (HTTP-01, webroot {ACME_ROOT})")
    try:
        proc = run(argv, check=False, timeout=600, env=env)
    except subprocess.TimeoutExpired:
        raise Failed(f"certbot did not finish within 600 s for {host}") from None
    output = (proc.stdout + proc.stderr).decode(errors="replace")
    if proc.returncode != 0 or not has_cert(host):
        raise Failed(f"certbot could not get a certificate for {host} from {url}: "
                     f"{certbot_problem(output)}")
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
            hook = f"{shlex.quote(sys.executable)} {shlex.quote(os.path.abspath(__file__))} " \
                   "dns01-hook"
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
        try:
            proc = run(argv, check=False, timeout=900, env=env)
        except subprocess.TimeoutExpired:
            raise Failed(f"certbot did not finish within 900 s for *.{domain}") from None
    output = (proc.stdout + proc.stderr).decode(errors="replace")
    if proc.returncode != 0 or not has_cert(name):
        raise Failed(f"certbot could not get a certificate for *.{domain} from {url}: "
                     f"{certbot_problem(output)}")
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


# -- nginx ----------------------------------------------------------------------------------

def systemd() -> bool:
    return Path("/run/systemd/system").is_dir()


def reload_nginx() -> None:
    test = run(["nginx", "-t", "-q"], check=False)
    if test.returncode != 0:
        raise Failed("nginx configuration test failed: "
                     + test.stderr.decode(errors="replace")[-1000:])
    if systemd():
        run(["systemctl", "reload-or-restart", "nginx"])
    elif Path("/run/nginx.pid").exists():
        run(["nginx", "-s", "reload"])
    else:
        run(["setsid", "nginx"])


def cmd_reload_php(data: dict) -> dict:
    """A graceful PHP-FPM reload after ``wp-config.php`` changed: its path stays the same,
    so opcache would serve the old WP_HOME until it revalidates (2 s by default, never
    with ``opcache.validate_timestamps=0``). Provisioning sets ``process_control_timeout``
    so requests in flight finish first."""
    binaries = sorted(Path("/usr/sbin").glob("php-fpm[0-9]*"))
    if not binaries:
        raise Failed("php-fpm is not installed: run node provision first")
    binary, version = str(binaries[0]), binaries[0].name[len("php-fpm"):]
    test = run([binary, "-t"], check=False)
    if test.returncode != 0:
        raise Failed("php-fpm configuration test failed: "
                     + test.stderr.decode(errors="replace")[-1000:])
    if systemd():
        run(["systemctl", "reload", f"php{version}-fpm"])
    else:
        pid = int(Path(f"/run/php/php{version}-fpm.pid").read_text().strip())
        os.kill(pid, signal.SIGUSR2)
    say(f"php-fpm{version} reloaded (opcache reads wp-config.php again)")
    return {}


def write_if_changed(path: Path, content: str) -> bool:
    if path.is_file() and path.read_text() == content:
        return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return True


def listens(port: int, extra: str = "") -> str:
    lines = f"    listen {port}{extra};\n"
    if Path("/proc/net/if_inet6").exists():
        lines += f"    listen [::]:{port}{extra};\n"
    return lines


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


def wordpress_locations(root: str, socket_path: str, log_name: str) -> str:
    return f"""    root {root};
    index index.php;
    client_max_body_size 64m;
    access_log /var/log/nginx/{log_name}.access.log;
    error_log /var/log/nginx/{log_name}.error.log;

    location = /wp-config.php {{ deny all; }}
    location ~ /\\.(?!well-known/) {{ deny all; }}
    # Uploads are data: nothing under them ever runs as PHP.
    location ~* ^/wp-content/uploads/.*\\.(php[0-9]?|phtml|phar|pht)(/|$) {{ deny all; }}

    location / {{
        try_files $uri $uri/ /index.php?$args;
    }}
    location ~ \\.php$ {{
        try_files $uri =404;
        include fastcgi_params;
        fastcgi_param SCRIPT_FILENAME $realpath_root$fastcgi_script_name;
        fastcgi_param DOCUMENT_ROOT $realpath_root;
        fastcgi_pass unix:{socket_path};
    }}
"""


class Target:
    """The environment the domains belong to (names checked like envctl.py does)."""

    def __init__(self, data: dict) -> None:
        def need(key: str, pattern: re.Pattern[str]) -> str:
            value = data.get(key)
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise Refused(f"{key} {value!r} is not valid")
            return value

        root = data.get("sites_root")
        if not isinstance(root, str) or not re.fullmatch(r"/[A-Za-z0-9/._-]*", root) \
                or ".." in root.split("/") or root.rstrip("/") == "":
            raise Refused(f"sites_root {root!r} is not valid")
        self.site_id = need("site_id", ID_RE)
        self.env_id = need("environment_id", ID_RE)
        self.user = need("user", NAME_RE)
        self.current = Path(root.rstrip("/")) / self.site_id / self.env_id / "current"
        self.pool_name = f"pressluft-{self.user}"
        self.socket = f"/run/php/{self.pool_name}.sock"
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


# -- WordPress's URLs --------------------------------------------------------------------

def mysql(sql: str) -> str:
    proc = subprocess.run(["mariadb", "--batch", "--skip-column-names"], input=sql.encode(),
                          capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise Failed("mariadb: " + proc.stderr.decode(errors="replace")[-1000:])
    return proc.stdout.decode()


def cmd_stage_url_rewrite(data: dict) -> dict:
    """The environment's database with ``old_url`` rewritten to ``new_url`` (serialized-safe,
    streaming: ``mysqldump | search_replace.py | mariadb``) into the scratch database that
    ``envctl.py restore-swap`` swaps in with one ``RENAME TABLE`` (and ``restore-undo``
    swaps back). The live database is only read."""
    db = data.get("db_name")
    if not isinstance(db, str) or not NAME_RE.fullmatch(db):
        raise Refused(f"db_name {db!r} is not valid")
    rid = data.get("restore_id")
    if not isinstance(rid, str) or not re.fullmatch(r"[0-9a-f]{8}", rid):
        raise Refused(f"restore_id {rid!r} is not valid")
    old, new = data.get("old_url"), data.get("new_url")
    for key, url in (("old_url", old), ("new_url", new)):
        if not isinstance(url, str) or not URL_RE.fullmatch(url):
            raise Refused(f"{key} {url!r} is not valid")
    replacer = data.get("replacer")
    if not isinstance(replacer, str) or not os.path.isfile(replacer):
        raise Refused(f"replacer {replacer!r} is not a file")
    scratch = f"{db}_r{rid}"
    mysql(f"DROP DATABASE IF EXISTS `{scratch}`; CREATE DATABASE `{scratch}` "
          "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;")
    dump = subprocess.Popen(
        ["mysqldump", "--single-transaction", "--quick", "--skip-lock-tables",
         "--no-tablespaces", "--default-character-set=utf8mb4", db],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rewrite = subprocess.Popen(["python3", replacer, "--stats", old, new],
                               stdin=dump.stdout, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert dump.stdout is not None and rewrite.stdout is not None
    dump.stdout.close()
    load = subprocess.Popen(["mariadb", "--default-character-set=utf8mb4", scratch],
                            stdin=rewrite.stdout, stderr=subprocess.PIPE)
    rewrite.stdout.close()
    load_err = load.communicate()[1]
    rewrite_err = rewrite.communicate()[1]
    dump_err = dump.communicate()[1]
    for name, proc, err in (("mysqldump", dump, dump_err), ("replacer", rewrite, rewrite_err),
                            ("mariadb import", load, load_err)):
        if proc.returncode != 0:
            mysql(f"DROP DATABASE IF EXISTS `{scratch}`;")
            raise Failed(f"{name} exited {proc.returncode}: "
                         f"{err.decode(errors='replace')[-2000:]}")
    for line in rewrite_err.decode(errors="replace").splitlines():
        say(line)
    tables = len(mysql("SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                       f"TABLE_SCHEMA = '{scratch}'").split())
    say(f"database {db} copied to {scratch} with {old} rewritten to {new} ({tables} tables)")
    return {"scratch_db": scratch, "tables": tables}


def cmd_inspect_config(data: dict) -> dict:
    """What the environment's ``wp-config.php`` was written with (``envctl.py prepare``):
    rewriting it for a new URL must keep the table prefix, quarantine and WP-Cron."""
    target = Target(data)
    config = target.current.parent / "shared" / "wp-config.php"
    if not config.is_file():
        raise Failed(f"{config} does not exist: the environment is not prepared")
    text = config.read_text(errors="replace")
    prefix = re.search(r"^\$table_prefix = '([A-Za-z0-9_]+)';", text, re.M)
    home = re.search(r"^define\('WP_HOME', '([^']*)'\);", text, re.M)
    if not prefix:
        raise Failed(f"no $table_prefix in {config}")
    return {"table_prefix": prefix.group(1), "url": home.group(1) if home else None,
            "quarantine": "pressluft_capture_mail" in text,
            "cron": "define('DISABLE_WP_CRON', true);" not in text}


COMMANDS = {
    "check-dns": cmd_check_dns, "issue": cmd_issue, "configure": cmd_configure,
    "remove-cert": cmd_remove_cert, "expiry": cmd_expiry,
    "stage-url-rewrite": cmd_stage_url_rewrite, "inspect-config": cmd_inspect_config,
    "reload-php": cmd_reload_php, "issue-wildcard": cmd_issue_wildcard,
}


def main(argv: list[str]) -> int:
    os.environ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    os.umask(0o022)
    if len(argv) == 4 and argv[1] == "dns01-hook" and argv[2] in ("set", "clear"):
        try:
            return dns01_hook(argv[2], argv[3])
        except (OSError, ValueError, KeyError) as exc:
            print(f"domainctl dns01-hook: {exc}", file=sys.stderr)
            return 1
    if len(argv) != 2 or argv[1] not in COMMANDS:
        print(f"usage: domainctl.py {{{'|'.join(COMMANDS)}}} < input.json", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("domainctl: must run as root", file=sys.stderr)
        return 2
    try:
        data = json.loads(sys.stdin.read() or "{}")
        if not isinstance(data, dict):
            raise Refused("input must be a JSON object")
        result = COMMANDS[argv[1]](data)
    except Refused as exc:
        print(f"domainctl: {exc}", file=sys.stderr)
        return 2
    except (Failed, OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        print(f"domainctl: {exc}", file=sys.stderr)
        return 1
    print("result: " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
