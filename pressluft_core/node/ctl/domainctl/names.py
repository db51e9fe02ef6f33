"""Host names and URLs as domainctl accepts them, and where certbot keeps a host's
certificate.
"""

from __future__ import annotations

import re
from pathlib import Path

from .._common import Refused

LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOSTNAME_RE = re.compile(rf"(?=.{{1,253}}$){LABEL}(?:\.{LABEL})+")
URL_RE = re.compile(rf"https?://{LABEL}(?:\.{LABEL})*(?::[0-9]{{1,5}})?")
ACME_ROOT = "/var/www/acme-challenge"
LETSENCRYPT = Path("/etc/letsencrypt")
RENEW_HOOK = LETSENCRYPT / "renewal-hooks" / "deploy" / "pressluft-reload-nginx"
SITES_AVAILABLE = Path("/etc/nginx/sites-available")
SITES_ENABLED = Path("/etc/nginx/sites-enabled")
TLS_DEFAULT = "pressluft-default-tls.conf"


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
