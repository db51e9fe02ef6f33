"""Operator settings: the seed's known keys plus the storage, retention and ACME keys.

Each key has one spec: how its value is checked, its default, and whether it is a secret.
A secret's value goes to the secrets store; the ``settings`` row then holds only a
reference (``secret:<name>``) so the database never carries the value.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from pressluft_core import validation
from pressluft_core.errors import ValidationError
from pressluft_core.models import Setting
from pressluft_core.services.base import Runtime, Service, mutation

SECRET_REF_PREFIX = "secret:"
MASK = "********"


def _url(key: str, value: str) -> str:
    parsed = urlparse(value)
    if "@" in parsed.netloc:  # checked first: such a value must not be echoed anywhere
        raise ValidationError(key, "must not carry credentials; set s3_access_key_id and "
                                   "s3_secret_access_key instead")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValidationError(key, f"{value!r} is not an http(s) URL")
    validation.hostname(key, parsed.hostname)
    return value


def _bucket(key: str, value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value):
        raise ValidationError(key, f"{value!r} is not a valid S3 bucket name")
    return value


def _prefix(key: str, value: str) -> str:
    value = value.strip("/")
    if not re.fullmatch(r"[A-Za-z0-9._/-]{0,200}", value) or ".." in value.split("/"):
        raise ValidationError(key, "use letters, digits, '.', '_', '-' and '/' only")
    return value


def _region(key: str, value: str) -> str:
    if not re.fullmatch(r"[a-z0-9-]{1,40}", value):
        raise ValidationError(key, f"{value!r} is not a valid region name")
    return value


def _days(key: str, value: str) -> str:
    if not value.isdigit() or not 1 <= int(value) <= 3650:
        raise ValidationError(key, "must be a whole number of days from 1 to 3650")
    return str(int(value))


def _json_object(key: str, value: str) -> str:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValidationError(key, f"is not valid JSON ({exc.msg})") from None
    if not isinstance(parsed, dict):
        raise ValidationError(key, "must be a JSON object")
    return value


def _token(key: str, value: str) -> str:
    if not value or len(value) > 256 or any(ord(c) < 33 for c in value):
        raise ValidationError(key, "must be non-empty, without spaces or control characters")
    return value


def _provider(key: str, value: str) -> str:
    return validation.slug(key, value)


def _hour(key: str, value: str) -> str:
    if not value.isdigit() or not 0 <= int(value) <= 23:
        raise ValidationError(key, f"{value!r} is not an hour from 0 to 23")
    return str(int(value))


def _weekday(key: str, value: str) -> str:
    if not value.isdigit() or not 0 <= int(value) <= 6:
        raise ValidationError(key, f"{value!r} is not a weekday from 0 (Monday) to 6")
    return value


def _resolver(key: str, value: str) -> str:
    """``IP``, ``IP:port`` or ``[IPv6]:port``; a name would need a resolver itself."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?|([0-9.]+)(?::(\d{1,5}))?"
                         r"|([0-9A-Fa-f:]+)", value)
    host = match and (match.group(1) or match.group(3) or match.group(5))
    port = match and (match.group(2) or match.group(4))
    try:
        ipaddress.ip_address(host or "")
    except ValueError:
        raise ValidationError(key, f"{value!r} is not an IP address with an optional :port "
                                   "(e.g. 192.0.2.53:53 or [2001:db8::53]:53)") from None
    if port is not None and not 0 < int(port) < 65536:
        raise ValidationError(key, f"{port} is not a port number (1-65535)")
    return value


def _wordpress_source(key: str, value: str) -> str:
    """A release tarball URL, or a tarball or directory path on each node."""
    if value.startswith(("http://", "https://")):
        return _url(key, value)
    return validation.absolute_path(key, value)


def _seconds(key: str, value: str) -> str:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0.1 <= seconds <= 120:
        raise ValidationError(key, f"{value!r} is not a number of seconds from 0.1 to 120")
    return f"{seconds:g}"


@dataclass(frozen=True)
class SettingSpec:
    key: str
    description: str
    check: Callable[[str, str], str]
    default: str | None = None
    secret: bool = False


SPECS: dict[str, SettingSpec] = {spec.key: spec for spec in [
    SettingSpec("control_plane_domain", "domain of the Pressluft dashboard (unset: IP:port)",
                validation.hostname),
    SettingSpec("preview_domain", "base domain for https preview URLs (needs dns01_provider; "
                "unset: sslip.io over http)",
                validation.hostname),
    SettingSpec("dns01_provider", "DNS provider for the wildcard preview certificate",
                _provider),
    SettingSpec("dns01_credentials_json", "DNS provider API credentials (JSON)",
                _json_object, secret=True),
    SettingSpec("health_max_response_seconds", "slowest front page a health check accepts "
                "(seconds)", _seconds, default="5"),
    SettingSpec("s3_endpoint_url", "S3-compatible endpoint URL (unset: AWS)", _url),
    SettingSpec("s3_bucket", "bucket for backups", _bucket),
    SettingSpec("s3_region", "S3 region", _region, default="us-east-1"),
    SettingSpec("s3_prefix", "key prefix for backups", _prefix, default="pressluft"),
    SettingSpec("s3_access_key_id", "S3 access key id", _token, secret=True),
    SettingSpec("s3_secret_access_key", "S3 secret access key", _token, secret=True),
    SettingSpec("backup_retention_days", "days a backup is kept", _days, default="30"),
    SettingSpec("acme_directory_url", "ACME directory for certificates", _url,
                default="https://acme-v02.api.letsencrypt.org/directory"),
    SettingSpec("acme_email", "account email for the ACME server", validation.email),
    SettingSpec("acme_ca_bundle", "CA bundle on the nodes for a private ACME server's "
                "HTTPS (unset: the system's)", validation.absolute_path),
    SettingSpec("dns_resolver", "DNS resolver (IP[:port]) that checks custom domains "
                "(unset: the node's own)", _resolver),
    SettingSpec("backup_hour", "UTC hour of scheduled backups (0-23)", _hour, default="3"),
    SettingSpec("backup_verify_weekday", "weekday of restore drills (0 = Monday)", _weekday,
                default="6"),
    SettingSpec("wordpress_source", "WordPress core for new sites: tarball URL, or a "
                "tarball/directory path on the node", _wordpress_source,
                default="https://wordpress.org/latest.tar.gz"),
]}


@dataclass(frozen=True)
class SettingValue:
    key: str
    value: str | None  # masked for secrets
    is_set: bool
    is_default: bool
    secret: bool
    description: str
    updated_at: str | None


def _spec(key: str) -> SettingSpec:
    spec = SPECS.get(key)
    if spec is None:
        raise ValidationError("key", f"{key!r} is not a known setting; known: "
                                     + ", ".join(SPECS))
    return spec


def effective_value(rt: Runtime, key: str) -> str | None:
    """A setting's value for internal use (jobs, other services): the default when unset,
    secrets decrypted. Never shown to an operator as is."""
    spec = _spec(key)
    row = Setting.get_or_none(Setting.key == key)
    if row is None:
        return spec.default
    if spec.secret:
        return rt.secrets.get_or_none(f"setting.{key}")
    return row.value


class SettingsService(Service):
    def list(self, token: str) -> list[SettingValue]:
        self.auth.require(token)
        rows = {row.key: row for row in Setting.select()}
        return [self._view(spec, rows.get(spec.key)) for spec in SPECS.values()]

    def get(self, token: str, key: str) -> SettingValue:
        self.auth.require(token)
        spec = _spec(key)
        return self._view(spec, Setting.get_or_none(Setting.key == key))

    def value(self, key: str) -> str | None:
        return effective_value(self.rt, key)

    @mutation("settings.set", "setting", resource_id=lambda r: r.key, target="key")
    def set(self, actor: object, key: str, value: str | None) -> SettingValue:
        """Set ``key``; ``None`` or an empty string unsets it (back to its default)."""
        spec = _spec(key)
        if value is None or value == "":
            Setting.delete().where(Setting.key == key).execute()
            if spec.secret:
                self.rt.secrets.delete(f"setting.{key}")
            return self._view(spec, None)
        if not isinstance(value, str):
            raise ValidationError(key, "must be text")
        value = spec.check(key, value.strip() if not spec.secret else value)
        stored = value
        if spec.secret:
            self.rt.secrets.put(f"setting.{key}", value)
            stored = SECRET_REF_PREFIX + f"setting.{key}"
        now = self.rt.now()
        (Setting.insert(key=key, value=stored, updated_at=now)
         .on_conflict(conflict_target=[Setting.key],
                      update={Setting.value: stored, Setting.updated_at: now})
         .execute())
        return self._view(spec, Setting.get_by_id(key))

    @staticmethod
    def _view(spec: SettingSpec, row: Setting | None) -> SettingValue:
        if row is None:
            return SettingValue(spec.key, spec.default, spec.default is not None, True,
                                spec.secret, spec.description, None)
        shown = MASK if spec.secret else row.value
        return SettingValue(spec.key, shown, True, False, spec.secret, spec.description,
                            row.updated_at)
